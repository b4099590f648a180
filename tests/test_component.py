"""
External components, server side (XEP-0114): the handshake, routing to
and from a component, and its errors, over in-memory transports.
"""

from lxml import etree
from zope.interface.verify import verifyObject

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from xmppframe.config import ConfigError, parseConfig
from xmppframe.interfaces import ISession
from xmppframe.server import Server
from xmppframe.streams.component import ComponentStream, convertNamespace, handshakeDigest
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeStanza, serialize

from tests.fakes import CountingTransport

HEADER = (b"<stream:stream xmlns='jabber:component:accept' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='%s'>")


class FakeSession:
    """
    A bound client session that records what it is sent.
    """

    kind = "c2s"
    available = True
    priority = 0

    def __init__(self, jid, host):
        self.jid = jid
        self.host = host
        self.sent = []

    def send(self, stanza):
        self.sent.append(stanza)

    def close(self, condition=None, text=None):
        pass


def streamID(data):
    return data.split(b"id='")[1].split(b"'")[0].decode()


class HandshakeDigestTests(unittest.TestCase):

    def test_example(self):
        """
        XEP-0114 §3: SHA1(concat(sid, password)), lowercase hex.
        """
        import hashlib
        self.assertEqual(handshakeDigest("3BF96D32", "secret"),
                         hashlib.sha1(b"3BF96D32secret").hexdigest())
        self.assertEqual(len(handshakeDigest("a", "b")), 40)


class ConvertNamespaceTests(unittest.TestCase):

    def test_topLevelAndDescendants(self):
        message = makeStanza("message", NS.COMPONENT_ACCEPT, to="a@b", from_="c.d")
        etree.SubElement(message, "{%s}body" % (NS.COMPONENT_ACCEPT,)).text = "hi"
        etree.SubElement(message, "{urn:x}payload", nsmap={None: "urn:x"})
        converted = convertNamespace(message, NS.COMPONENT_ACCEPT, NS.CLIENT)
        self.assertEqual(converted.tag, "{jabber:client}message")
        self.assertEqual(converted[0].tag, "{jabber:client}body")
        self.assertEqual(converted[0].text, "hi")
        self.assertEqual(converted[1].tag, "{urn:x}payload")
        self.assertEqual(
            serialize(converted),
            b'<message xmlns="jabber:client" to="a@b" from="c.d"><body>hi</body>'
            b'<payload xmlns="urn:x"/></message>')
        # The original is untouched.
        self.assertEqual(message.tag, "{jabber:component:accept}message")


class ConfigTests(unittest.TestCase):

    def test_componentDomainIsAHost(self):
        self.assertRaises(ConfigError, parseConfig,
                          {"components": {"secrets": {"localhost": "x"}}}, ".")

    def test_emptySecret(self):
        e = self.assertRaises(ConfigError, parseConfig,
                              {"components": {"secrets": {"echo.localhost": ""}}}, ".")
        self.assertIn('components.secrets."echo.localhost"', str(e))


class ComponentStreamTests(unittest.TestCase):

    def setUp(self):
        self.clock = Clock()
        config = parseConfig({
            "storage": {"driver": "memory"},
            "components": {"secrets": {"echo.localhost": "s3cret"}},
        }, self.mktemp())
        self.server = Server(config, self.clock)
        self.host = self.server.hosts["localhost"]

    def connect(self, domain=b"echo.localhost"):
        stream = ComponentStream(self.server.context)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER % (domain,))
        return stream, transport

    def authenticate(self, secret="s3cret"):
        stream, transport = self.connect()
        sid = streamID(transport.value())
        transport.clear()
        stream.dataReceived(b"<handshake>%s</handshake>" % (
            handshakeDigest(sid, secret).encode(),))
        return stream, transport

    def test_interface(self):
        stream, _ = self.connect()
        self.assertTrue(verifyObject(ISession, stream))

    def test_header(self):
        _, transport = self.connect()
        data = transport.value()
        self.assertIn(b"xmlns='jabber:component:accept'", data)
        self.assertIn(b"from=\"echo.localhost\"", data)
        self.assertTrue(streamID(data))

    def test_handshake(self):
        stream, transport = self.authenticate()
        self.assertEqual(transport.value(), b'<handshake xmlns="jabber:component:accept"/>')
        self.assertIs(self.server.components.connected("echo.localhost"), stream)
        self.assertIn(("echo.localhost", None, None), self.host.discoItems())

    def test_wrongSecret(self):
        stream, transport = self.authenticate("wrong")
        self.assertIn(b"<not-authorized", transport.value())
        self.assertTrue(transport.disconnecting)
        self.assertIsNone(self.server.components.connected("echo.localhost"))

    def test_unknownDomain(self):
        _, transport = self.connect(b"nope.localhost")
        self.assertIn(b"<host-unknown", transport.value())
        self.assertTrue(transport.disconnecting)

    def test_conflict(self):
        """
        A second component for a connected domain is refused; the first
        stays connected.
        """
        first, _ = self.authenticate()
        _, transport = self.connect()
        self.assertIn(b"<conflict", transport.value())
        self.assertIs(self.server.components.connected("echo.localhost"), first)

    def test_stanzaBeforeHandshake(self):
        stream, transport = self.connect()
        stream.dataReceived(b"<message from='echo.localhost' to='a@localhost'/>")
        self.assertIn(b"<not-authorized", transport.value())

    def test_handshakeTimeout(self):
        _, transport = self.connect()
        self.clock.advance(31)
        self.assertIn(b"<connection-timeout", transport.value())

    def test_toComponent(self):
        """
        A stanza to the component's domain, or a JID at it, goes to the
        component in jabber:component:accept.
        """
        stream, transport = self.authenticate()
        transport.clear()
        message = makeStanza("message", to="user@echo.localhost", from_="a@localhost/r")
        etree.SubElement(message, "{jabber:client}body").text = "hi"
        self.server.router.route(message)
        self.assertEqual(
            transport.value(),
            b'<message xmlns="jabber:component:accept" to="user@echo.localhost" '
            b'from="a@localhost/r"><body>hi</body></message>')

    def test_stanzasOfOneTurnInOneWrite(self):
        """
        Stanzas for the component routed in one reactor turn go out in one
        write after it (L{xmppframe.streams.xmlstream.XMLStream}).
        """
        stream, _ = self.authenticate()
        counting = CountingTransport()
        stream.transport = counting
        # As connectionMade decides for a TCP or TLS transport.
        stream._coalesce = True
        for n in range(3):
            self.server.router.route(makeStanza(
                "message", to="user@echo.localhost", from_="a@localhost/r", id="m%d" % (n,)))
        self.assertEqual(counting.value(), b"")
        self.clock.advance(0)
        self.assertEqual(counting.writes, 1)
        self.assertEqual(counting.value().count(b'<message xmlns="jabber:component:accept"'), 3)

    def test_fromComponent(self):
        stream, transport = self.authenticate()
        session = FakeSession(self.server.router.jids.parse("a@localhost/r"), self.host)
        self.server.sessions.bind(session, "r")
        stream.dataReceived(
            b"<message from='bot@echo.localhost' to='a@localhost/r'><body>yo</body></message>")
        [received] = session.sent
        self.assertEqual(received.tag, "{jabber:client}message")
        self.assertEqual(received[0].tag, "{jabber:client}body")
        self.assertEqual(received.get("from"), "bot@echo.localhost")

    def test_invalidFrom(self):
        stream, transport = self.authenticate()
        stream.dataReceived(b"<message from='a@localhost' to='b@localhost'/>")
        self.assertIn(b"<invalid-from", transport.value())

    def test_missingTo(self):
        stream, transport = self.authenticate()
        transport.clear()
        stream.dataReceived(b"<iq type='get' id='1' from='echo.localhost'><q xmlns='x'/></iq>")
        self.assertIn(b"<bad-request", transport.value())
        self.assertIn(b'xmlns="jabber:component:accept"', transport.value())

    def test_disconnectedBounces(self):
        """
        After the component leaves, its route stays reserved and a stanza
        for it is answered with service-unavailable; disco#items forgets it.
        """
        stream, transport = self.authenticate()
        stream.connectionLost(None)
        self.assertNotIn(("echo.localhost", None, None), self.host.discoItems())
        session = FakeSession(self.server.router.jids.parse("a@localhost/r"), self.host)
        self.server.sessions.bind(session, "r")
        self.server.router.route(makeStanza("message", to="echo.localhost",
                                            from_="a@localhost/r", id="m1"))
        [error] = session.sent
        self.assertEqual(error.get("type"), "error")
        self.assertIsNotNone(error.find(".//{%s}service-unavailable" % (NS.STANZA_ERRORS,)))
