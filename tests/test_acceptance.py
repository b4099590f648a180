"""
Tried as a new user would: the server started by twistd as in the README,
accounts made with the C{xmppframe} admin command, Debian's go-sendxmpp
logging in over STARTTLS and sending a message that a second, logged-in
client (slixmpp) receives.
"""

import asyncio
import os
import socket
import subprocess
import sys

from twisted.trial import unittest

from tests.e2e import asDeferred, needProgram, requireAsyncioReactor
from tests.xmppclient import TestClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWISTD = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TwistdServer:
    """
    C{twistd -n xmppframe --config FILE} in a subprocess, as an operator
    runs it.
    """

    def __init__(self, directory):
        self.directory = directory
        self.port = freePort()
        self.tlsPort = freePort()
        self.config = os.path.join(directory, "xmppframe.toml")
        with open(self.config, "w") as f:
            f.write(
                'data_dir = "data"\n'
                "[c2s]\n"
                'listen = ["tcp:%d:interface=127.0.0.1"]\n'
                'listen_tls = ["tcp:%d:interface=127.0.0.1"]\n'
                # No federation listener: port 5269 may be taken, and that is fatal.
                "[s2s]\n"
                "listen = []\n"
                '[hosts."localhost"]\n' % (self.port, self.tlsPort))
        self.log = os.path.join(directory, "twistd.log")
        self.process = None

    def start(self):
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.process = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile", self.log,
             "xmppframe", "--config", self.config],
            cwd=self.directory, env=env, stdin=subprocess.DEVNULL)

    async def waitUntilListening(self, timeout=30):
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("twistd exited: " + self.logText())
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.2)
        raise AssertionError("twistd did not listen: " + self.logText())

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def logText(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def admin(self, *args, stdin=""):
        """
        Run the admin command as the README shows.
        """
        return subprocess.run(
            [sys.executable, "-m", "xmppframe.cli", "--config", self.config] + list(args),
            input=stdin, capture_output=True, text=True, cwd=self.directory,
            env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)

    def certificatePath(self):
        return os.path.join(self.directory, "data", "certs", "localhost.crt")

    def clientContext(self, host="localhost"):
        import ssl
        context = ssl.create_default_context(cafile=self.certificatePath())
        context.check_hostname = True
        return context


class TwistdTestCase(unittest.TestCase):
    """
    A test with a L{TwistdServer} in a directory of its own, stopped after
    the test.
    """

    timeout = 120

    def setUp(self):
        requireAsyncioReactor()
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.server = TwistdServer(self.directory)
        self.addCleanup(self.server.stop)


class NewUserTests(TwistdTestCase):

    def test_goSendxmppToSlixmpp(self):
        sendxmpp = needProgram("go-sendxmpp")

        async def scenario():
            self.server.start()
            await self.server.waitUntilListening()
            for jid, password in (("alice@localhost", "wonderland"), ("bob@localhost", "rabbithole")):
                result = self.server.admin("user", "add", jid, stdin=password + "\n")
                self.assertEqual(result.returncode, 0, result.stderr)
            listed = self.server.admin("user", "list")
            self.assertEqual(listed.stdout.split(), ["alice@localhost", "bob@localhost"])

            bob = TestClient("bob@localhost/desk", "rabbithole", self.server)
            await bob.login()
            try:
                process = await asyncio.create_subprocess_exec(
                    sendxmpp, "-u", "alice@localhost", "-p", "wonderland",
                    "-j", "127.0.0.1:%d" % (self.server.port,), "-n", "bob@localhost",
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    env=dict(os.environ, HOME=self.directory))
                output, _ = await asyncio.wait_for(process.communicate(b"Hello, Bob\n"), 60)
                self.assertEqual(process.returncode, 0, output.decode("utf-8", "replace"))
                message = await bob.nextMessage(timeout=20)
                self.assertEqual(message["body"].strip(), "Hello, Bob")
                self.assertEqual(message["from"].bare, "alice@localhost")
            finally:
                await bob.close()
            log = self.server.logText()
            self.assertIn("self-signed certificate", log)
            self.assertNotIn("Traceback", log)
            self.assertNotIn("wonderland", log)
            # log_level defaults to info: each login's lines, no debug ones.
            self.assertIn("bound bob@localhost/desk (authenticated with SCRAM-SHA-", log)
            self.assertNotIn("#debug]", log)

        return asDeferred(scenario())
