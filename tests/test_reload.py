"""
SIGHUP reloads the configuration of C{twistd -n xmppframe} (issue 14): the
log file is reopened, the log level, module options and hosts are applied
and each change logged, a bad new file is refused in one line, and the
connected clients stay connected.  The server runs as an operator runs it,
in a subprocess; a real client (slixmpp) stays logged in throughout.
"""

import asyncio
import os
import signal

from twisted.trial import unittest

from tests.e2e import asDeferred, requireAsyncioReactor
from tests.test_acceptance import TwistdServer, freePort
from tests.xmppclient import TestClient

CONFIG = """\
data_dir = "data"
log_level = "%(level)s"
[c2s]
listen = ["tcp:%(port)d:interface=127.0.0.1"]
listen_tls = []
[s2s]
listen = ["tcp:%(s2s)d:interface=127.0.0.1"]
[hosts."localhost"]
[hosts."localhost".options.register]
min_password_length = %(minimum)d
%(extra)s"""


async def streamHeaderTo(port, domain):
    """
    Open a client stream to C{domain}; the server's answer up to its
    features (or its stream error).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' to='%s' "
                  "version='1.0'>" % (domain,)).encode())
    received = b""
    try:
        while b"</stream:features>" not in received and b"</stream:stream>" not in received:
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                break
            received += data
    finally:
        writer.close()
    return received.decode("utf-8")


class ReloadTests(unittest.TestCase):

    timeout = 120

    def setUp(self):
        requireAsyncioReactor()
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.server = TwistdServer(self.directory)
        self.s2sPort = freePort()
        self.writeConfig()
        self.addCleanup(self.server.stop)

    def writeConfig(self, level="info", minimum=8, extra=""):
        with open(self.server.config, "w") as f:
            f.write(CONFIG % {"level": level, "port": self.server.port, "s2s": self.s2sPort,
                              "minimum": minimum, "extra": extra})

    async def waitForLog(self, text, timeout=20):
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if text in self.server.logText():
                return self.server.logText()
            if self.server.process.poll() is not None:
                raise AssertionError("twistd exited: " + self.server.logText())
            await asyncio.sleep(0.1)
        raise AssertionError("%r not logged; the log:\n%s" % (text, self.server.logText()))

    def hangUp(self):
        self.server.process.send_signal(signal.SIGHUP)

    def test_reload(self):
        async def scenario():
            self.server.start()
            await self.server.waitUntilListening()
            result = self.server.admin("user", "add", "alice@localhost", stdin="wonderland\n")
            self.assertEqual(result.returncode, 0, result.stderr)
            alice = TestClient("alice@localhost/desk", "wonderland", self.server)
            await alice.login()
            self.addCleanup(lambda: asDeferred(alice.close()))
            self.assertIn("host-unknown", await streamHeaderTo(self.server.port, "example.net"))

            # A log rotation tool moves the log away, the operator edits
            # the configuration, then signals the server.
            moved = self.server.log + ".1"
            os.rename(self.server.log, moved)
            self.writeConfig(level="debug", minimum=12, extra='[hosts."example.net"]\n')
            self.hangUp()
            log = await self.waitForLog("Configuration reloaded")
            self.assertIn("Reopened the log file", log)
            self.assertIn("Reload: log_level info -> debug", log)
            self.assertIn("Reload: host example.net added", log)
            self.assertIn("Reload: module register reloaded on localhost", log)
            # Only the module whose options changed, and nothing that
            # needs no reload.
            self.assertNotIn("module roster", log)
            self.assertIn("xmppframe serving localhost", open(moved).read())
            self.assertNotIn("Configuration reloaded", open(moved).read())

            # The client is still connected, and the new host answers.
            await alice.roundTrip()
            answer = await streamHeaderTo(self.server.port, "example.net")
            self.assertIn("from='example.net'", answer)
            self.assertIn("<stream:features>", answer)
            self.assertNotIn("host-unknown", answer)

            # A broken file is refused in one line; the running
            # configuration stays.
            with open(self.server.config, "w") as f:
                f.write("[c2s\nlisten = 5\n")
            self.hangUp()
            log = await self.waitForLog("Configuration not reloaded")
            [line] = [line for line in log.splitlines() if "Configuration not reloaded" in line]
            self.assertIn("keeping the running one", line)
            await alice.roundTrip()
            self.assertIn("<stream:features>",
                          await streamHeaderTo(self.server.port, "example.net"))
            self.assertIsNone(self.server.process.poll())
        return asDeferred(scenario())
