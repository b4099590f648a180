"""
In-band registration (XEP-0077): the pre-authentication stream half over an
in-memory transport, and the logged-in half through the module API.
"""

from lxml import etree

from twisted.internet import defer

from tests.test_c2s import HEADER, StreamTestCase, makeServer
from xmppframe.config import parseConfig
from xmppframe.xml import namespaces as NS

STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def registerIQ(username, password, id="r1"):
    return ("<iq type='set' id='%s'><query xmlns='jabber:iq:register'>"
            "<username>%s</username><password>%s</password></query></iq>"
            % (id, username, password)).encode()


class RegistrationStreamTests(StreamTestCase):
    """
    XEP-0077 §3.1 over an (unencrypted, test-only) client stream.
    """

    options = {"open": True, "min_interval": 0.0}

    def setUp(self):
        self.server, self.clock = makeServer(self, modules=["ping", "register"],
                                             options={"register": self.options})
        d = self.server.storage.open()
        d.addCallback(lambda _: defer.ensureDeferred(self.server.loadModules()))
        return d

    def negotiate(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        return stream, transport, self.output(transport)

    def error(self, data):
        reply = etree.fromstring(data)
        self.assertEqual(reply.get("type"), "error")
        return reply.find("{jabber:client}error")[0].tag.split("}")[1]

    def test_featureOffered(self):
        stream, transport, features = self.negotiate()
        self.assertIn(('<register xmlns="%s"/>' % NS.REGISTER_FEATURE).encode(), features)

    def test_fields(self):
        stream, transport, _ = self.negotiate()
        stream.dataReceived(b"<iq type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>")
        reply = etree.fromstring(self.output(transport))
        self.assertEqual(reply.get("type"), "result")
        self.assertIsNone(reply.get("to"))
        query = reply.find("{%s}query" % NS.REGISTER)
        self.assertIsNotNone(query.find("{%s}username" % NS.REGISTER))
        self.assertIsNotNone(query.find("{%s}password" % NS.REGISTER))

    @defer.inlineCallbacks
    def test_register(self):
        stream, transport, _ = self.negotiate()
        stream.dataReceived(registerIQ("Newbie", "longenough"))
        yield self.waitForOutput(transport)
        reply = etree.fromstring(self.output(transport))
        self.assertEqual((reply.get("type"), reply.get("id")), ("result", "r1"))
        auth = self.server.hosts["localhost"].auth
        self.assertTrue((yield auth.checkPassword("newbie", "longenough")))

    @defer.inlineCallbacks
    def test_conflict(self):
        yield self.server.hosts["localhost"].auth.createUser("taken", "whatever1")
        stream, transport, _ = self.negotiate()
        stream.dataReceived(registerIQ("taken", "longenough"))
        yield self.waitForOutput(transport)
        self.assertEqual(self.error(self.output(transport)), "conflict")

    def test_missingPassword(self):
        """
        §3.1: an empty password element is not-acceptable.
        """
        stream, transport, _ = self.negotiate()
        stream.dataReceived(registerIQ("someone", ""))
        self.assertEqual(self.error(self.output(transport)), "not-acceptable")

    def test_shortPassword(self):
        stream, transport, _ = self.negotiate()
        stream.dataReceived(registerIQ("someone", "short"))
        self.assertEqual(self.error(self.output(transport)), "not-acceptable")

    def test_invalidUsername(self):
        stream, transport, _ = self.negotiate()
        stream.dataReceived(registerIQ("a&amp;b", "longenough"))
        self.assertEqual(self.error(self.output(transport)), "not-acceptable")

    @defer.inlineCallbacks
    def test_secondRegistrationOnOneStream(self):
        """
        §3.3: a server may refuse a second registration on one stream.
        """
        stream, transport, _ = self.negotiate()
        stream.dataReceived(registerIQ("first", "longenough"))
        yield self.waitForOutput(transport)
        self.output(transport)
        stream.dataReceived(registerIQ("second", "longenough", id="r2"))
        self.assertEqual(self.error(self.output(transport)), "not-acceptable")

    def test_otherIQBeforeAuth(self):
        stream, transport, _ = self.negotiate()
        stream.dataReceived(b"<iq type='get' id='v'><query xmlns='jabber:iq:version'/></iq>")
        self.assertStreamError(transport, "not-authorized")

    @defer.inlineCallbacks
    def waitForOutput(self, transport):
        # Key derivation runs in the reactor's thread pool.
        for _ in range(200):
            if transport.value():
                return
            yield deferLater(0.01)
        self.fail("no answer")


def deferLater(delay):
    from twisted.internet import reactor, task
    return task.deferLater(reactor, delay, lambda: None)


class ClosedRegistrationTests(RegistrationStreamTests.__bases__[0]):
    """
    By default registration is closed: no feature, and nothing but
    authentication before authenticating (XEP-0077 §3.1).
    """

    def setUp(self):
        self.server, self.clock = makeServer(self, modules=["ping", "register"])
        d = self.server.storage.open()
        d.addCallback(lambda _: defer.ensureDeferred(self.server.loadModules()))
        return d

    negotiate = RegistrationStreamTests.negotiate

    def test_featureNotOffered(self):
        stream, transport, features = self.negotiate()
        self.assertNotIn(NS.REGISTER_FEATURE.encode(), features)

    def test_fieldsRefused(self):
        stream, transport, _ = self.negotiate()
        stream.dataReceived(b"<iq type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>")
        self.assertStreamError(transport, "not-authorized")
