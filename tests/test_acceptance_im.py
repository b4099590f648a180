"""
Instant messaging tried as a new user would (issue 3): the server started
by twistd, accounts made with the C{xmppframe} admin command, and two real
clients, Debian's profanity (a terminal client, driven through tmux) and a
slixmpp bot, that add each other (RFC 6121 §3), see each other online
(§4), chat (§5) and, when profanity logs off, keep the message sent
meanwhile for its return (XEP-0160).
"""

import asyncio
import os
import shlex
import shutil
import subprocess
import tempfile

from OpenSSL import crypto

from twisted.trial import unittest

from tests.e2e import asDeferred, needProgram, requireAsyncioReactor
from tests.test_acceptance import TwistdServer
from tests.xmppclient import TestClient

#: How long one step (a login, a stanza and its effect on screen) may take.
STEP = 15


class Terminal:
    """
    A program in a detached tmux session on a private tmux server: keys go
    in with C{send-keys}, the screen comes out with C{capture-pane}.
    """

    def __init__(self, tmux, name):
        self.tmux = tmux
        # A server of its own, on a socket in a short private directory
        # (socket paths are limited to about 100 bytes), keeps the test
        # off the user's tmux and leaves nothing behind.
        self._socketDirectory = tempfile.mkdtemp(prefix="xmppframe-tmux-")
        self.socket = os.path.join(self._socketDirectory, "socket")
        self.name = name

    def _run(self, *args, check=True):
        return subprocess.run([self.tmux, "-S", self.socket] + list(args), capture_output=True,
                              text=True, timeout=10, check=check, stdin=subprocess.DEVNULL)

    def start(self, argv, env):
        command = " ".join(["exec", "env"] + ["%s=%s" % (k, shlex.quote(v)) for k, v in env.items()]
                           + [shlex.quote(a) for a in argv])
        self._run("new-session", "-d", "-s", self.name, "-x", "200", "-y", "50", command)

    def running(self):
        return self._run("has-session", "-t", self.name, check=False).returncode == 0

    def type(self, line):
        self._run("send-keys", "-t", self.name, "-l", line)
        self._run("send-keys", "-t", self.name, "Enter")

    def screen(self):
        result = self._run("capture-pane", "-p", "-t", self.name, check=False)
        return result.stdout if result.returncode == 0 else ""

    async def waitFor(self, text, timeout=STEP):
        """
        Wait until C{text} is on the screen; fail showing the screen.
        """
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if loop.time() > deadline:
                raise AssertionError("%r not on the screen within %ss:\n%s"
                                     % (text, timeout, screen))
            await asyncio.sleep(0.2)

    async def waitUntilEnded(self, timeout=STEP):
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while self.running():
            if loop.time() > deadline:
                raise AssertionError("the program did not end:\n" + self.screen())
            await asyncio.sleep(0.2)

    def stop(self):
        if os.path.exists(self.socket):
            self._run("kill-server", check=False)
        shutil.rmtree(self._socketDirectory, ignore_errors=True)


class Profanity:
    """
    Debian's profanity with a home of its own: an account file (the format
    C{/account set} writes to C{$XDG_DATA_HOME/profanity/accounts}) for
    one account on the test server, and the server's self-signed
    certificate as the only trusted CA (C{tls.certpath}, a directory in
    OpenSSL's hashed layout) so that TLS is verified, not skipped.
    """

    def __init__(self, program, tmux, directory, server, account, password):
        self.program = program
        self.home = os.path.join(directory, "profanity-home")
        self.env = {
            "HOME": self.home,
            "XDG_CONFIG_HOME": os.path.join(self.home, "config"),
            "XDG_DATA_HOME": os.path.join(self.home, "data"),
            "TERM": "xterm", "LANG": "C.UTF-8",
        }
        self.terminal = Terminal(tmux, "profanity")
        self.account = account
        self._configure(server, account, password)

    def _configure(self, server, account, password):
        config = os.path.join(self.env["XDG_CONFIG_HOME"], "profanity")
        data = os.path.join(self.env["XDG_DATA_HOME"], "profanity")
        certs = os.path.join(self.home, "trusted")
        for directory in (config, data, certs):
            os.makedirs(directory)
        with open(server.certificatePath(), "rb") as f:
            pem = f.read()
        subjectHash = crypto.load_certificate(crypto.FILETYPE_PEM, pem).subject_name_hash()
        with open(os.path.join(certs, "%08x.0" % (subjectHash,)), "wb") as f:
            f.write(pem)
        with open(os.path.join(config, "profrc"), "w") as f:
            f.write("[ui]\nsplash=false\nvercheck=false\n"
                    "[connection]\nautoping=0\nreconnect=0\ntls.certpath=%s\n" % (certs,))
        with open(os.path.join(data, "accounts"), "w") as f:
            f.write("[%s]\nenabled=true\njid=%s\nserver=127.0.0.1\nport=%d\npassword=%s\n"
                    "resource=profanity\ntls.policy=force\n"
                    % (account, account, server.port, password))

    async def start(self):
        self.terminal.start([self.program, "-a", self.account], self.env)
        await self.terminal.waitFor(self.account + "/profanity logged in successfully")

    async def quit(self):
        self.terminal.type("/quit")
        await self.terminal.waitUntilEnded()


class ProfanityAndBotTests(unittest.TestCase):

    timeout = 60

    def setUp(self):
        requireAsyncioReactor()
        self.profanity = needProgram("profanity")
        self.tmux = needProgram("tmux")
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.server = TwistdServer(self.directory)
        self.addCleanup(self.server.stop)

    def test_addEachOtherChatAndOfflineMessage(self):
        """
        Alice (profanity) asks Bob (a slixmpp bot that approves requests and
        asks back, RFC 6121 §3.1) for his presence; she approves his
        request; each sees the other online (§4.2, §4.3); they chat both
        ways (§5); she quits, Bob writes, and she gets it on return
        (XEP-0160 §3).
        """
        async def scenario():
            self.server.start()
            await self.server.waitUntilListening()
            for jid, password in (("alice@localhost", "wonderland"),
                                  ("bob@localhost", "rabbithole")):
                result = self.server.admin("user", "add", jid, stdin=password + "\n")
                self.assertEqual(result.returncode, 0, result.stderr)

            bot = TestClient("bob@localhost/bot", "rabbithole", self.server)
            bot.roster.auto_authorize = True
            bot.roster.auto_subscribe = True
            online = asyncio.Queue()
            offline = asyncio.Queue()
            bot.add_event_handler("presence_available", lambda p: online.put_nowait(p["from"]))
            bot.add_event_handler("presence_unavailable", lambda p: offline.put_nowait(p["from"]))
            await bot.login()
            # A client that asked for its roster gets roster pushes (RFC 6121 §2.2).
            await bot.get_roster()
            alice = Profanity(self.profanity, self.tmux, self.directory, self.server,
                              "alice@localhost", "wonderland")
            self.addCleanup(alice.terminal.stop)
            try:
                await alice.start()
                screen = alice.terminal.waitFor

                # Subscriptions both ways (RFC 6121 §3.1).
                alice.terminal.type("/sub request bob@localhost")
                await screen("Received authorization request from bob@localhost")
                alice.terminal.type("/sub allow bob@localhost")
                await screen("Accepted subscription for bob@localhost")
                # Each sees the other online (§4.2.2, §4.3).
                await screen("bob@localhost (bot) is online")
                while True:
                    who = await asyncio.wait_for(online.get(), STEP)
                    if who == "alice@localhost/profanity":
                        break
                # The roster pushes of §3.1.5 and §3.1.6 reach the bot.
                await bot.roundTrip()
                self.assertEqual(
                    bot.client_roster["alice@localhost"]["subscription"], "both")

                # Chat both ways (§5).
                alice.terminal.type("/msg bob@localhost Hello, Bob")
                message = await bot.nextMessage(timeout=STEP)
                self.assertEqual(message["body"], "Hello, Bob")
                self.assertEqual(str(message["from"]), "alice@localhost/profanity")
                bot.send_message(mto="alice@localhost/profanity", mbody="Hello, Alice",
                                 mtype="chat")
                await screen("Hello, Alice")

                # Alice logs off; Bob sees it and writes meanwhile.
                await alice.quit()
                while True:
                    who = await asyncio.wait_for(offline.get(), STEP)
                    if who == "alice@localhost/profanity":
                        break
                bot.send_message(mto="alice@localhost", mbody="Written while you were away",
                                 mtype="chat")
                await bot.roundTrip()

                # On her return the server delivers it (XEP-0160 §3).
                await alice.start()
                alice.terminal.type("/msg bob@localhost")
                await screen("Written while you were away")
                await alice.quit()
            finally:
                await bot.close()
            log = self.server.logText()
            self.assertNotIn("Traceback", log)
            self.assertNotIn("wonderland", log)

        return asDeferred(scenario())
