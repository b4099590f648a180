"""
The service API (L{xmppframe.service}): one L{Service} run in process (as a
module, routed without sockets: L{xmppframe.inprocess}) and as an external
XEP-0114 component over in-memory connections
(L{xmppframe.streams.componentclient}).
"""

from lxml import etree

from zope.interface.verify import verifyObject

from twisted.internet.task import Clock
from twisted.test import iosim
from twisted.trial import unittest

from xmppframe.config import parseConfig
from xmppframe.errors import StanzaError
from xmppframe.inprocess import InProcessSession
from xmppframe.interfaces import ISession
from xmppframe.server import Server
from xmppframe.service import Service, iqHandler
from xmppframe.streams.component import ComponentStream
from xmppframe.streams.componentclient import ComponentClientFactory, HandshakeRefused
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement, makeStanza

from examples.echo_component import EchoModule, EchoService
from tests.test_component import FakeSession

TIME = "urn:xmpp:time"


class TimeService(Service):
    name = "clock"
    features = ("urn:example:extra",)

    @iqHandler("get", TIME)
    def getTime(self, iq):
        return makeElement(TIME, "time")

    @iqHandler("set", TIME)
    def setTime(self, iq):
        raise StanzaError("forbidden")

    @iqHandler("get", "urn:example:broken")
    def broken(self, iq):
        raise RuntimeError("boom")


def makeServer(testCase, clock, components=None, modules=None):
    table = {"storage": {"driver": "memory"}}
    if components:
        table["components"] = {"secrets": components}
    if modules:
        table["hosts"] = {"localhost": {"modules": ["disco"] + modules}}
    return Server(parseConfig(table, testCase.mktemp()), clock)


class ServiceUnitTests(unittest.TestCase):
    """
    The base class alone, with a list as its runner.
    """

    def setUp(self):
        self.clock = Clock()
        self.sent = []
        self.service = TimeService("clock.localhost", self.clock)
        self.service.attach(self.sent.append)

    def iq(self, type, namespace, local="query", id="1"):
        iq = makeStanza("iq", to="clock.localhost", from_="a@localhost/r", type=type, id=id)
        iq.append(makeElement(namespace, local))
        return iq

    def test_handler(self):
        self.service.receive(self.iq("get", TIME, "time"))
        [reply] = self.sent
        self.assertEqual((reply.get("type"), reply.get("to"), reply.get("from")),
                         ("result", "a@localhost/r", "clock.localhost"))
        self.assertEqual(reply[0].tag, "{urn:xmpp:time}time")

    def test_stanzaError(self):
        self.service.receive(self.iq("set", TIME, "time"))
        self.assertIsNotNone(self.sent[0].find(".//" + NS.qname(NS.STANZA_ERRORS, "forbidden")))

    def test_internalError(self):
        self.service.receive(self.iq("get", "urn:example:broken"))
        self.assertIsNotNone(self.sent[0].find(
            ".//" + NS.qname(NS.STANZA_ERRORS, "internal-server-error")))
        self.flushLoggedErrors(RuntimeError)

    def test_unhandled(self):
        """
        RFC 6120 §8.4: an iq nobody handles gets service-unavailable.
        """
        self.service.receive(self.iq("get", "urn:example:none"))
        self.assertIsNotNone(self.sent[0].find(
            ".//" + NS.qname(NS.STANZA_ERRORS, "service-unavailable")))

    def test_discoInfo(self):
        """
        XEP-0030 §3.1: the identity and every feature, handlers included.
        """
        self.service.receive(self.iq("get", NS.DISCO_INFO))
        query = self.sent[0][0]
        identity = query.find(NS.qname(NS.DISCO_INFO, "identity"))
        self.assertEqual((identity.get("category"), identity.get("name")), ("component", "clock"))
        features = [f.get("var") for f in query.iter(NS.qname(NS.DISCO_INFO, "feature"))]
        for feature in (NS.DISCO_INFO, NS.DISCO_ITEMS, TIME, "urn:example:extra"):
            self.assertIn(feature, features)

    def test_requestResult(self):
        iq = makeStanza("iq", to="a@localhost/r", type="get")
        iq.append(makeElement(TIME, "time"))
        d = self.service.request(iq)
        [sent] = self.sent
        self.assertEqual(sent.get("from"), "clock.localhost")
        answer = makeStanza("iq", to="clock.localhost", from_="a@localhost/r", type="result",
                            id=sent.get("id"))
        self.service.receive(answer)
        self.assertIs(self.successResultOf(d), answer)

    def test_requestAnswerFromElsewhereIgnored(self):
        d = self.service.request(makeStanza("iq", to="a@localhost/r", type="get", id="x"))
        self.service.receive(makeStanza("iq", from_="evil@localhost/r", type="result", id="x"))
        self.assertNoResult(d)

    def test_requestError(self):
        d = self.service.request(makeStanza("iq", to="a@localhost/r", type="get", id="x"))
        error = makeStanza("iq", from_="a@localhost/r", type="error", id="x")
        etree.SubElement(etree.SubElement(error, "{jabber:client}error", type="cancel"),
                         NS.qname(NS.STANZA_ERRORS, "item-not-found"))
        self.service.receive(error)
        self.assertEqual(self.failureResultOf(d, StanzaError).value.condition, "item-not-found")

    def test_requestTimeout(self):
        d = self.service.request(makeStanza("iq", to="a@localhost/r", type="get"), timeout=5)
        self.clock.advance(5)
        self.failureResultOf(d, TimeoutError)

    def test_requestDisconnected(self):
        d = self.service.request(makeStanza("iq", to="a@localhost/r", type="get"))
        self.service.detach()
        self.failureResultOf(d, ConnectionError)
        self.assertFalse(self.clock.getDelayedCalls())


class EntryPointTests(unittest.TestCase):

    def test_runnerNamedFromService(self):
        """
        A service's author names the base and the in-process runner from
        L{xmppframe.service}; they are the runner module's own objects.
        """
        from xmppframe import inprocess, service
        self.assertIs(service.serviceModule, inprocess.serviceModule)
        self.assertIs(service.InProcessSession, inprocess.InProcessSession)


class InProcessTests(unittest.TestCase):
    """
    L{serviceModule}: the service as a module of a host, no sockets.
    """

    def setUp(self):
        self.clock = Clock()
        self.server = makeServer(self, self.clock, modules=["echo"])
        self.server.extraModules["echo"] = EchoModule
        self.host = self.server.hosts["localhost"]
        from twisted.internet import defer
        self.successResultOf(defer.ensureDeferred(self.server.loadModules()))
        self.client = FakeSession(self.server.router.jids.parse("a@localhost/r"), self.host)
        self.server.sessions.bind(self.client, "r")

    def test_echo(self):
        message = makeStanza("message", to="echo.localhost", from_="a@localhost/r", type="chat")
        etree.SubElement(message, "{jabber:client}body").text = "hello"
        self.server.router.route(message)
        self.clock.advance(0)
        [reply] = self.client.sent
        self.assertEqual((reply.get("from"), reply.findtext("{jabber:client}body")),
                         ("echo.localhost", "hello"))

    def test_interface(self):
        """
        What the router delivers an in-process service's domain to is a
        session like any other.
        """
        self.assertTrue(verifyObject(ISession, self.server.router.routeFor("echo.localhost")))

    def test_listedInDisco(self):
        self.assertIn(("echo.localhost", None, "echo"), self.host.discoItems())

    def test_domainOption(self):
        server = Server(parseConfig({"storage": {"driver": "memory"}, "hosts": {"localhost": {
            "modules": ["echo"], "options": {"echo": {"domain": "Other.Localhost"}}}}},
            self.mktemp()), self.clock)
        server.extraModules["echo"] = EchoModule
        from twisted.internet import defer
        self.successResultOf(defer.ensureDeferred(server.loadModules()))
        self.assertIsInstance(server.router.routeFor("other.localhost"), InProcessSession)

    def test_unload(self):
        from twisted.internet import defer
        self.successResultOf(defer.ensureDeferred(self.server.unloadModules()))
        self.assertIsNone(self.server.router.routeFor("echo.localhost"))
        self.assertEqual(self.host.discoItems(), [])

    def test_fromElsewhereRefused(self):
        module = self.host.modules["echo"]
        self.assertRaises(ValueError, module.service.send,
                          makeStanza("message", to="a@localhost", from_="x@localhost"))


class ExternalTests(unittest.TestCase):
    """
    L{ComponentClientFactory} against the server's component stream over
    an in-memory connection (XEP-0114 §3).
    """

    def setUp(self):
        self.clock = Clock()
        self.server = makeServer(self, self.clock, components={"echo.localhost": "s3cret"})
        self.host = self.server.hosts["localhost"]

    def connect(self, secret="s3cret", domain="echo.localhost"):
        factory = ComponentClientFactory(EchoService(domain, self.clock), secret)
        client = factory.buildProtocol(None)
        serverProtocol = ComponentStream(self.server.context)
        pump = iosim.connect(serverProtocol, iosim.makeFakeServer(serverProtocol),
                             client, iosim.makeFakeClient(client), greet=False)
        pump.flush()
        return factory, pump

    def test_echo(self):
        factory, pump = self.connect()
        self.successResultOf(factory.whenReady)
        self.assertTrue(factory.service.connected)
        client = FakeSession(self.server.router.jids.parse("a@localhost/r"), self.host)
        self.server.sessions.bind(client, "r")
        message = makeStanza("message", to="bot@echo.localhost", from_="a@localhost/r")
        etree.SubElement(message, "{jabber:client}body").text = "hi"
        self.server.router.route(message)
        pump.flush()
        [reply] = client.sent
        self.assertEqual((reply.get("from"), reply.findtext("{jabber:client}body")),
                         ("bot@echo.localhost", "hi"))

    def test_wrongSecret(self):
        factory, pump = self.connect(secret="nope")
        self.assertEqual(self.failureResultOf(factory.whenReady, HandshakeRefused).value.condition,
                         "not-authorized")
        self.assertFalse(factory.continueTrying)

    def test_unknownDomain(self):
        factory, pump = self.connect(domain="other.localhost")
        self.assertEqual(self.failureResultOf(factory.whenReady, HandshakeRefused).value.condition,
                         "host-unknown")
