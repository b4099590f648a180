"""
The IRC gateway example (examples/irc_gateway.py) over real sockets:
Debian's ngircd on a free loopback port with a private config, the gateway
as an external XEP-0114 component and in process, a slixmpp user joining
#test as a MUC room (XEP-0045 §7.2), and a raw IRC client (an asyncio
socket speaking RFC 2812) in the same channel.
"""

import asyncio
import io
import sys
from xml.etree import ElementTree

from twisted.internet import reactor
from twisted.trial import unittest

from examples.irc_gateway import IRCGatewayService, connectGateway, parseArguments
from tests.e2e import asDeferred, requireAsyncioReactor, waitFor
from tests.ircpeers import IRCPeer, startNgircd
from tests.test_e2e_component import EXAMPLES_PLUGINS, startServer, usePluginDirectory
from tests.xmppclient import TestClient

MUC = "http://jabber.org/protocol/muc"
DOMAIN = "irc.localhost"


class MUCClient(TestClient):
    """
    A L{TestClient} that also queues every presence it gets.
    """

    def __init__(self, *args, **kwargs):
        TestClient.__init__(self, *args, **kwargs)
        self.presences = asyncio.Queue()
        self.subjects = asyncio.Queue()
        self.register_plugin("xep_0045")
        self.add_event_handler("presence", self.presences.put_nowait)
        self.add_event_handler("groupchat_subject", self.subjects.put_nowait)

    def joinRoom(self, occupant):
        presence = self.make_presence(pto=occupant)
        presence.append(ElementTree.Element("{%s}x" % (MUC,)))
        presence.send()

    async def presenceFrom(self, jid, timeout=10):
        """
        The next presence from C{jid}, skipping others.
        """
        while True:
            presence = await asyncio.wait_for(self.presences.get(), timeout)
            if str(presence["from"]) == jid:
                return presence


def statusCodes(presence):
    x = presence.xml.find("{http://jabber.org/protocol/muc#user}x")
    if x is None:
        return set()
    return {s.get("code") for s in x.findall("{http://jabber.org/protocol/muc#user}status")}


class ArgumentTests(unittest.TestCase):

    def test_defaults(self):
        arguments = parseArguments(["--domain", DOMAIN, "--secret", "s"])
        self.assertEqual((arguments.irc_port, arguments.allow_server, arguments.port),
                         (6667, [], 5347))

    def test_badPort(self):
        self.patch(sys, "stderr", io.StringIO())
        with self.assertRaises(SystemExit):
            parseArguments(["--domain", DOMAIN, "--secret", "s", "--irc-port", "0"])


class UnitTests(unittest.TestCase):
    """
    The gateway with a list as its runner: what it refuses before any IRC.
    """

    def setUp(self):
        from xmppframe.xml.stanza import makeStanza
        self.makeStanza = makeStanza
        self.service = IRCGatewayService(DOMAIN, reactor, {"servers": ["127.0.0.1"]})
        self.sent = []
        self.service.attach(self.sent.append)

    def errorOf(self, stanza):
        self.service.receive(stanza)
        self.assertEqual(len(self.sent), 1)
        error = self.sent[0].find("{jabber:client}error")
        return error[0].tag.rpartition("}")[2]

    def test_notEscaped(self):
        presence = self.makeStanza("presence", to="#test@" + DOMAIN + "/me",
                                   from_="a@localhost/r")
        self.assertEqual(self.errorOf(presence), "jid-malformed")

    def test_serverNotAllowed(self):
        presence = self.makeStanza("presence", to="#test%irc.example.org@" + DOMAIN + "/me",
                                   from_="a@localhost/r")
        self.assertEqual(self.errorOf(presence), "not-allowed")

    def test_groupchatWithoutJoining(self):
        from lxml import etree
        message = self.makeStanza("message", to="#test%127.0.0.1@" + DOMAIN,
                                  from_="a@localhost/r", type="groupchat")
        etree.SubElement(message, "{jabber:client}body").text = "hi"
        self.assertEqual(self.errorOf(message), "not-acceptable")


class RecordingSession:

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name,) + args)


class IRCConnectionTests(unittest.TestCase):
    """
    IRC replies become calls on the user's session.
    """

    def setUp(self):
        from examples.irc_gateway import IRCConnection
        self.session = RecordingSession()
        self.connection = IRCConnection()
        self.connection.factory = type("Factory", (), {"session": self.session})()

    def test_banned(self):
        self.connection.lineReceived(":irc.test 474 alice #test :Cannot join channel (+b)")
        self.assertEqual(self.session.calls, [
            ("joinRefused", "#test", "forbidden", "Cannot join channel (+b)")])

    def test_nickInUse(self):
        self.connection.lineReceived(":irc.test 433 * bob :Nickname already in use")
        self.assertEqual(self.session.calls, [("ircNickRefused", "conflict",
                                               "Nickname already in use")])


class GatewayE2ETests(unittest.TestCase):

    timeout = 60

    def setUp(self):
        requireAsyncioReactor()

    def test_external(self):
        return asDeferred(self._external())

    async def _external(self):
        ircPort = await startNgircd(self)
        server = await startServer(self, {"components": {
            "listen": ["tcp:0:interface=127.0.0.1"], "secrets": {DOMAIN: "s3cret"}}})
        factory = connectGateway(reactor, DOMAIN, "s3cret", "127.0.0.1",
                                 server.service.port("component"), ircPort, ["127.0.0.1"])
        self.addCleanup(factory.stop)
        await waitFor(factory.whenReady)
        await self.scenario(server, ircPort)

    def test_inProcess(self):
        return asDeferred(self._inProcess())

    async def _inProcess(self):
        ircPort = await startNgircd(self)
        usePluginDirectory(self, EXAMPLES_PLUGINS)
        from xmppframe.config import DEFAULT_MODULES
        server = await startServer(self, {"hosts": {"localhost": {
            "modules": list(DEFAULT_MODULES) + ["irc"],
            "options": {"irc": {"domain": DOMAIN, "irc_port": ircPort,
                                "servers": ["127.0.0.1"]}}}}})
        await self.scenario(server, ircPort)

    async def login(self, server, jid, password):
        await server.addUser(jid.partition("/")[0], password)
        client = MUCClient(jid, password, server)
        self.addCleanup(lambda: asDeferred(client.close()))
        await client.login()
        return client

    async def scenario(self, server, ircPort):
        bob = await IRCPeer.connect(self, "127.0.0.1", ircPort, "bob")
        await bob.join("#test")
        alice = await self.login(server, "alice@localhost/phone", "secret-pw")
        room = "#test%127.0.0.1@" + DOMAIN

        info = await alice.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=10)
        identities = {(c, t) for c, t, _, _ in info["disco_info"]["identities"]}
        self.assertEqual(identities, {("gateway", "irc"), ("conference", "irc")})

        # Join: bob's occupant presence, then alice's own (status 110), then
        # the subject (XEP-0045 §7.2.3); bob sees the JOIN.
        alice.joinRoom(room + "/alice")
        occupant = await alice.presenceFrom(room + "/bob")
        self.assertEqual(occupant["type"], "available")
        own = await alice.presenceFrom(room + "/alice")
        self.assertIn("110", statusCodes(own))
        subject = await asyncio.wait_for(alice.subjects.get(), 10)
        self.assertEqual((str(subject["from"]), subject["type"]), (room, "groupchat"))
        await bob.expect(lambda m: m.command == "JOIN" and m.nick == "alice")

        # Groupchat both ways, with the reflection of alice's own message.
        alice.send_message(room, "hello IRC", mtype="groupchat")
        line = await bob.expect(lambda m: m.command == "PRIVMSG")
        self.assertEqual((line.nick, line.params), ("alice", ["#test", "hello IRC"]))
        echo = await alice.nextMessage()
        self.assertEqual((str(echo["from"]), echo["body"]), (room + "/alice", "hello IRC"))
        bob.send("PRIVMSG #test :hello XMPP")
        message = await alice.nextMessage()
        self.assertEqual((str(message["from"]), message["type"], message["body"]),
                         (room + "/bob", "groupchat", "hello XMPP"))

        # Private messages both ways.
        alice.send_message("bob%127.0.0.1@" + DOMAIN, "psst", mtype="chat")
        line = await bob.expect(lambda m: m.command == "PRIVMSG")
        self.assertEqual((line.nick, line.params), ("alice", ["bob", "psst"]))
        bob.send("PRIVMSG alice :psst yourself")
        message = await alice.nextMessage()
        self.assertEqual((str(message["from"]), message["type"], message["body"]),
                         ("bob%127.0.0.1@" + DOMAIN, "chat", "psst yourself"))

        # A nick already in use is a MUC conflict (XEP-0045 §7.2.8).
        carol = await self.login(server, "carol@localhost/pc", "secret-pw")
        carol.joinRoom(room + "/bob")
        refused = await carol.presenceFrom(room + "/bob")
        self.assertEqual((refused["type"], refused["error"]["condition"]), ("error", "conflict"))

        # Leaving the room parts the channel.
        alice.send_presence(pto=room + "/alice", ptype="unavailable")
        gone = await alice.presenceFrom(room + "/alice")
        self.assertEqual(gone["type"], "unavailable")
        self.assertIn("110", statusCodes(gone))
        await bob.expect(lambda m: m.command == "PART" and m.nick == "alice")
