"""
Start-up tried as an operator would: the real C{twistd -n xmppframe} in a
subprocess.  A server that cannot start exits at once with status 1 and
one line saying why; C{xmppframe config check} says the same line; the
default kind of listener takes IPv4 and IPv6 clients; with federation off
a message to another domain bounces at once.
"""

import asyncio
import os
import socket
import subprocess
import sys

from twisted.trial import unittest

from tests.e2e import ClientTestCase, RunningServer, asDeferred, requireAsyncioReactor
from tests.test_acceptance import ROOT, TWISTD, freePort
from tests.test_preflight import ProblemCases, _streamHeader


def twistd(directory, config, timeout=60):
    """
    Run C{twistd -n xmppframe --config CONFIG} to its end.

    @return: C{(status, stderr, log)}.
    """
    log = os.path.join(directory, "twistd.log")
    result = subprocess.run(
        [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile", log,
         "xmppframe", "--config", config],
        cwd=directory, env=dict(os.environ, PYTHONPATH=ROOT), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout)
    try:
        with open(log) as f:
            logText = f.read()
    except OSError:
        logText = ""
    return result.returncode, result.stderr, logText


def configCheck(directory, config):
    result = subprocess.run(
        [sys.executable, "-m", "xmppframe.cli", "--config", config, "config", "check"],
        cwd=directory, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
        timeout=60)
    return result.returncode, result.stdout, result.stderr


class BrokenConfigTests(ProblemCases, unittest.TestCase):
    """
    Each broken configuration of issue 14: C{serve} exits with 1 and the
    one line, before it logs anything; C{config check} gives the same line.
    """

    timeout = 300

    def test_everyCase(self):
        for name, (text, expected) in sorted(self.cases().items()):
            config = os.path.join(self.directory, name + ".toml")
            with open(config, "w") as f:
                f.write(text)
            status, stderr, log = twistd(self.directory, config)
            self.assertEqual(status, 1, (name, stderr, log))
            self.assertEqual(stderr.count("\n"), 1, (name, stderr))
            self.assertTrue(stderr.startswith(expected), (name, stderr))
            self.assertNotIn("Usage:", stderr)
            self.assertEqual(log, "", name)
            self.assertEqual(configCheck(self.directory, config), (1, "", stderr), name)


class ListenerTests(unittest.TestCase):
    """
    A port that cannot be opened ends the server with status 1, the first
    listener or the federation one, unless marked optional.
    """

    timeout = 120

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.taken = socket.socket()
        self.taken.bind(("127.0.0.1", 0))
        self.taken.listen()
        self.addCleanup(self.taken.close)
        self.takenPort = self.taken.getsockname()[1]

    def write(self, c2sPort, s2sPort, extra=""):
        config = os.path.join(self.directory, "xmppframe.toml")
        with open(config, "w") as f:
            f.write('[storage]\ndriver = "memory"\n'
                    '[c2s]\nlisten = ["tcp:%d:interface=127.0.0.1"]\nlisten_tls = []\n'
                    '[s2s]\nlisten = ["tcp:%d:interface=127.0.0.1"]\n%s'
                    % (c2sPort, s2sPort, extra))
        return config

    def assertRefused(self, key):
        status, stderr, log = twistd(self.directory, self.write(
            *((self.takenPort, freePort()) if key == "c2s.listen[0]"
              else (freePort(), self.takenPort))))
        line = ("xmppframe could not start: %s: cannot listen on "
                "\"tcp:%d:interface=127.0.0.1\": port %d is already in use (by another "
                "program, or another server)" % (key, self.takenPort, self.takenPort))
        self.assertEqual((status, stderr), (1, line + "\n"), log)
        self.assertEqual([l for l in log.splitlines() if "could not start" in l or "Traceback" in l],
                         [l for l in log.splitlines() if l.endswith(line)])
        self.assertEqual(len([l for l in log.splitlines() if l.endswith(line)]), 1, log)

    def test_c2sPortInUse(self):
        self.assertRefused("c2s.listen[0]")

    def test_s2sPortInUse(self):
        self.assertRefused("s2s.listen[0]")

    def test_s2sOptional(self):
        """
        With C{listen_optional}, the server serves clients without it.
        """
        port = freePort()
        config = self.write(port, self.takenPort, "listen_optional = true\n")
        log = os.path.join(self.directory, "twistd.log")
        process = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile", log,
             "xmppframe", "--config", config],
            cwd=self.directory, env=dict(os.environ, PYTHONPATH=ROOT),
            stdin=subprocess.DEVNULL)
        try:
            self.assertTrue(_waitForPort("127.0.0.1", port, process), log)
            with open(log) as f:
                self.assertIn("skipped: listen_optional is true", f.read())
        finally:
            process.terminate()
            process.wait(30)


def _waitForPort(host, port, process, timeout=30):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


class IPv6Tests(unittest.TestCase):
    """
    A listener on C{::}, as the defaults have, takes IPv4 and IPv6 clients
    under twistd.
    """

    timeout = 120

    def test_bothFamilies(self):
        if not socket.has_ipv6:
            raise unittest.SkipTest("no IPv6 here")
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        port = freePort()
        config = os.path.join(directory, "xmppframe.toml")
        with open(config, "w") as f:
            f.write('[storage]\ndriver = "memory"\n'
                    "[c2s]\nlisten = ['tcp6:%d:interface=\\:\\:']\nlisten_tls = []\n"
                    "[s2s]\nenabled = false\n" % (port,))
        process = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile",
             os.path.join(directory, "twistd.log"), "xmppframe", "--config", config],
            cwd=directory, env=dict(os.environ, PYTHONPATH=ROOT), stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: (process.terminate(), process.wait(30)))
        self.assertTrue(_waitForPort("127.0.0.1", port, process))

        def both(_):
            d = _streamHeader(socket.AF_INET, "127.0.0.1", port)
            d.addCallback(lambda banner: self.assertIn(b"<stream:stream", banner))
            d.addCallback(lambda _: _streamHeader(socket.AF_INET6, "::1", port))
            d.addCallback(lambda banner: self.assertIn(b"<stream:stream", banner))
            return d
        return both(None)


class FederationOffTests(ClientTestCase):
    """
    C{[s2s] enabled = false}: a message to another domain comes back at
    once with remote-server-not-found and words.
    """

    async def setUpServer(self):
        self.server = await RunningServer.start(self, s2s={"enabled": False, "listen": []})
        for jid, password in self.accounts:
            await self.server.addUser(jid, password)

    def test_bounce(self):
        async def scenario():
            alice = self.client("alice@localhost", "wonderland")
            await alice.login()
            started = asyncio.get_event_loop().time()
            alice.send_message(mto="someone@conference.example", mbody="hi", mtype="chat")
            error = await alice.nextError(timeout=5)
            self.assertLess(asyncio.get_event_loop().time() - started, 2)
            self.assertEqual(error["error"]["condition"], "remote-server-not-found")
            self.assertIn("conference.example", error["error"]["text"])
            self.assertNotIn("rrno", error["error"]["text"])
            self.assertNotIn("s2s", self.server.service.ports)
        return asDeferred(scenario())
