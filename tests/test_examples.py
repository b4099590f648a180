"""
The examples run: the embedded server (examples/embedded_server.py) with a
real slixmpp client talking to the echo service inside it.  (The echo and
Jabber-RPC examples are exercised in tests.test_e2e_component and
tests.test_service.)
"""

import os

from twisted.internet import reactor
from twisted.trial import unittest

from examples import embedded_server
from tests.e2e import LOOPBACK, RunningServer, asDeferred, requireAsyncioReactor, waitFor
from tests.xmppclient import TestClient


class EmbeddedServerTests(unittest.TestCase):

    timeout = 60

    def setUp(self):
        requireAsyncioReactor()

    def test_embedded(self):
        return asDeferred(self._embedded())

    async def _embedded(self):
        dataDir = os.path.abspath(self.mktemp())
        os.makedirs(dataDir)
        application, serverService = await waitFor(defer_(embedded_server.start(
            reactor, dataDir, LOOPBACK, ("demo", "demo-password"))))
        self.addCleanup(application.stopService)
        client = TestClient("demo@localhost/test", "demo-password",
                            RunningServer(serverService, dataDir))
        await client.login()
        self.addCleanup(lambda: asDeferred(client.close()))
        client.send_message("echo.localhost", "embedded", mtype="chat")
        reply = await client.nextMessage()
        self.assertEqual(reply["body"], "embedded")


def defer_(coroutine):
    from twisted.internet import defer
    return defer.ensureDeferred(coroutine)
