"""
End-to-end: the echo service in process (loaded by name from the config
through a third party's module plugin) and as an external XEP-0114
component over a real socket, with a real slixmpp client; Jabber-RPC
(XEP-0009) with slixmpp's xep_0009 plugin.
"""

import os
import sys

from slixmpp.exceptions import IqError

from twisted.internet import reactor
from twisted.trial import unittest

import twisted.plugins

from examples.echo_component import connectEcho
from tests.e2e import LOOPBACK, RunningServer, asDeferred, requireAsyncioReactor, waitFor
from tests.xmppclient import TestClient
from xmppframe.config import parseConfig
from xmppframe.server import Server, ServerService
from xmppframe.streams.componentclient import HandshakeRefused

EXAMPLES_PLUGINS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "twisted", "plugins")


def usePluginDirectory(testCase, path):
    """
    Make the module plugins in C{path} installed for this test, as a third
    party's package on C{sys.path} would.
    """
    twisted.plugins.__path__.append(path)
    testCase.addCleanup(twisted.plugins.__path__.remove, path)


async def startServer(testCase, table):
    dataDir = os.path.abspath(testCase.mktemp())
    os.makedirs(dataDir)
    base = {"data_dir": dataDir, "storage": {"driver": "memory"}, "auth": {"failure_delay": 0.0},
            "c2s": {"listen": [LOOPBACK], "listen_tls": [LOOPBACK]},
            # No federation listener: port 5269 may be taken, and that is fatal.
            "s2s": {"listen": []}}
    base.update(table)
    service = ServerService(Server(parseConfig(base, dataDir), reactor))
    service.startService()
    testCase.addCleanup(service.stopService)
    await waitFor(service.ready)
    return RunningServer(service, dataDir)


class ComponentE2ETests(unittest.TestCase):

    timeout = 60

    def setUp(self):
        requireAsyncioReactor()

    async def login(self, server):
        await server.addUser("alice@localhost", "secret-pw")
        client = TestClient("alice@localhost/phone", "secret-pw", server)
        await client.login()
        self.addCleanup(lambda: asDeferred(client.close()))
        return client

    def test_inProcess(self):
        return asDeferred(self._inProcess())

    async def _inProcess(self):
        usePluginDirectory(self, EXAMPLES_PLUGINS)
        from xmppframe.config import DEFAULT_MODULES
        server = await startServer(self, {"hosts": {"localhost": {
            "modules": list(DEFAULT_MODULES) + ["echo", "rpc"],
            "options": {"echo": {"domain": "echo.localhost"}}}}})
        client = await self.login(server)
        client.send_message("echo.localhost", "hello in process", mtype="chat")
        reply = await client.nextMessage()
        self.assertEqual((str(reply["from"]), reply["body"]), ("echo.localhost", "hello in process"))
        items = await client.plugin["xep_0030"].get_items(jid="localhost", timeout=10)
        jids = [item[0] for item in items["disco_items"]["items"]]
        self.assertIn("echo.localhost", jids)
        self.assertIn("rpc.localhost", jids)
        info = await client.plugin["xep_0030"].get_info(jid="echo.localhost", timeout=10)
        self.assertIn("http://jabber.org/protocol/disco#info", info["disco_info"]["features"])
        await self._rpc(client)

    async def _rpc(self, client):
        client.register_plugin("xep_0009")
        from slixmpp.plugins.xep_0009.binding import py2xml, xml2py
        iq = client.plugin["xep_0009"].make_iq_method_call(
            "rpc.localhost", "example.add", py2xml(2, 40))
        result = await iq.send(timeout=10)
        self.assertEqual(xml2py(result["rpc_query"]["method_response"]["params"]), [42])
        iq = client.plugin["xep_0009"].make_iq_method_call(
            "rpc.localhost", "example.upper", py2xml("jabber"))
        result = await iq.send(timeout=10)
        self.assertEqual(xml2py(result["rpc_query"]["method_response"]["params"]), ["JABBER"])

    def test_external(self):
        return asDeferred(self._external())

    async def _external(self):
        server = await startServer(self, {"components": {
            "listen": [LOOPBACK], "secrets": {"echo.localhost": "s3cret"}}})
        port = server.service.port("component")
        factory = connectEcho(reactor, "echo.localhost", "s3cret", "127.0.0.1", port)
        self.addCleanup(factory.stop)
        await waitFor(factory.whenReady)
        client = await self.login(server)
        client.send_message("bot@echo.localhost", "hello over XEP-0114", mtype="chat")
        reply = await client.nextMessage()
        self.assertEqual((str(reply["from"]), reply["body"]),
                         ("bot@echo.localhost", "hello over XEP-0114"))
        items = await client.plugin["xep_0030"].get_items(jid="localhost", timeout=10)
        self.assertIn("echo.localhost", [item[0] for item in items["disco_items"]["items"]])
        # A second component for the same domain is refused with conflict.
        second = connectEcho(reactor, "echo.localhost", "s3cret", "127.0.0.1", port)
        error = await waitFor(self.assertFailure(second.whenReady, HandshakeRefused))
        self.assertEqual(error.condition, "conflict")
        # Gone: stanzas to it bounce with service-unavailable.
        factory.stop()
        while server.server.components.connected("echo.localhost") is not None:
            import asyncio
            await asyncio.sleep(0.02)
        with self.assertRaises(IqError) as caught:
            await client.plugin["xep_0030"].get_info(jid="echo.localhost", timeout=10)
        self.assertEqual(caught.exception.condition, "service-unavailable")

    def test_wrongSecret(self):
        return asDeferred(self._wrongSecret())

    async def _wrongSecret(self):
        server = await startServer(self, {"components": {
            "listen": [LOOPBACK], "secrets": {"echo.localhost": "s3cret"}}})
        factory = connectEcho(reactor, "echo.localhost", "guess", "127.0.0.1",
                              server.service.port("component"))
        self.addCleanup(factory.stop)
        error = await waitFor(self.assertFailure(factory.whenReady, HandshakeRefused))
        self.assertEqual(error.condition, "not-authorized")
