"""
Unit tests of federation: dialback keys (XEP-0220), namespace conversion
(RFC 6120 §4.8.3), server resolution (RFC 6120 §3.2, XEP-0368), the s2s
stream state machines over in-memory transports, and the manager's queue
and bounces under a fake clock.
"""

import os
import random

from lxml import etree
from zope.interface.verify import verifyObject

from twisted.internet import defer, task
from twisted.internet.testing import StringTransport
from twisted.names import dns, error
from twisted.trial import unittest

from xmppframe.config import parseConfig
from xmppframe.interfaces import ISession
from xmppframe.server import Server
from xmppframe.streams import dialback
from xmppframe.streams.resolve import Target, orderSRV, resolveServer, splitRoute
from xmppframe.streams.s2s import (
    S2SInStream, S2SOutStream, toClientNamespace, toServerNamespace)
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeStanza, serialize

from tests.fakes import CountingTransport


HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
          "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
          "from='b.test' to='a.test' version='1.0'>")


class DialbackKeyTests(unittest.TestCase):

    def test_xepExample(self):
        """
        The example of XEP-0220 §2.1.1 (key generation as §2.4 says).
        """
        self.assertEqual(
            dialback.dialbackKey("s3cr3tf0rd14lb4ck", "montague.example",
                                 "capulet.example", "D60000229F"),
            "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3")

    def test_keysMatch(self):
        key = dialback.dialbackKey("s", "a", "b", "id")
        self.assertTrue(dialback.keysMatch(key, "\n  %s  " % (key.upper(),)))
        self.assertFalse(dialback.keysMatch(key, "00"))
        self.assertFalse(dialback.keysMatch(key, None))

    def test_secretGeneratedOnce(self):
        directory = self.mktemp()
        first = dialback.loadSecret("", directory)
        self.assertEqual(len(first), 64)
        self.assertEqual(dialback.loadSecret("", directory), first)
        path = os.path.join(directory, dialback.SECRET_FILE)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(dialback.loadSecret("configured", directory), "configured")


class NamespaceTests(unittest.TestCase):

    def test_roundTrip(self):
        """
        Every jabber:client element becomes jabber:server and back; other
        namespaces are kept; the original is not touched.
        """
        stanza = etree.fromstring(
            "<message xmlns='jabber:client' to='b@b.test' from='a@a.test/r' type='chat'>"
            "<body>hi <b>there</b></body><x xmlns='jabber:x:oob'><url>u</url></x>"
            "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "</error></message>")
        before = serialize(stanza)
        server = toServerNamespace(stanza)
        self.assertEqual(serialize(stanza), before)
        self.assertEqual(server.tag, NS.qname(NS.SERVER, "message"))
        text = serialize(server).decode()
        self.assertTrue(text.startswith("<message xmlns=\"jabber:server\""), text)
        self.assertNotIn("jabber:client", text)
        self.assertNotIn("ns0", text)
        self.assertIn("<url>u</url>", text)
        self.assertEqual(server.find("{jabber:server}body/{jabber:server}b").text, "there")
        back = toClientNamespace(server)
        self.assertEqual(serialize(back), before)


class FakeResolver:
    """
    SRV answers by name; a name not given is NXDOMAIN.
    """

    def __init__(self, answers):
        self.answers = answers

    def lookupService(self, name):
        if name not in self.answers:
            return defer.fail(error.DNSNameError(name))
        records = [dns.RRHeader(name, dns.SRV, payload=dns.Record_SRV(p, w, port, target.encode("ascii")))
                   for p, w, port, target in self.answers[name]]
        return defer.succeed((records, [], []))


class ResolveTests(unittest.TestCase):

    def test_splitRoute(self):
        """
        A static route beginning with C{tls:} is Direct TLS (XEP-0368)
        over the C{tcp:} description with the same arguments.
        """
        self.assertEqual(splitRoute("tcp:host=h:port=5269"), ("tcp:host=h:port=5269", False))
        self.assertEqual(splitRoute("tls:host=h:port=5270"), ("tcp:host=h:port=5270", True))
        self.assertEqual(splitRoute("TLS:h:5270"), ("tcp:h:5270", True))

    def resolve(self, answers, domain="b.test"):
        return self.successResultOf(resolveServer(domain, FakeResolver(answers), random.Random(1)))

    def test_srvOrder(self):
        """
        Both services merged, lowest priority first (RFC 2782); the
        _xmpps-server ones are Direct TLS (XEP-0368).
        """
        targets = self.resolve({
            "_xmpps-server._tcp.b.test": [(5, 0, 5270, "tls.b.test")],
            "_xmpp-server._tcp.b.test": [(10, 0, 5269, "slow.b.test"), (1, 0, 5269, "fast.b.test")],
        })
        self.assertEqual(targets, [Target("fast.b.test", 5269, False),
                                   Target("tls.b.test", 5270, True),
                                   Target("slow.b.test", 5269, False)])

    def test_fallback(self):
        """
        RFC 6120 §3.2.2: no SRV records, the domain itself on 5269.
        """
        self.assertEqual(self.resolve({}), [Target("b.test", 5269, False)])

    def test_noService(self):
        """
        A single '.' record for both services: no XMPP there at all.
        """
        self.assertEqual(self.resolve({"_xmpps-server._tcp.b.test": [(0, 0, 0, ".")],
                                       "_xmpp-server._tcp.b.test": [(0, 0, 0, ".")]}), [])

    def test_weights(self):
        """
        Within a priority, a zero weight is chosen last far more often.
        """
        rng = random.Random(7)
        firsts = [orderSRV([(0, 0, "zero"), (0, 100, "heavy")], rng)[0] for _ in range(50)]
        self.assertGreater(firsts.count("heavy"), 45)


def makeServer(testCase, clock, **s2s):
    dataDir = os.path.abspath(testCase.mktemp())
    settings = {"listen": [], "require_encryption": False, "dialback_secret": "sekrit",
                "connect_timeout": 10.0, "queue_size": 3}
    settings.update(s2s)
    config = parseConfig({"data_dir": dataDir, "storage": {"driver": "memory"},
                          "c2s": {"listen": [], "listen_tls": []}, "s2s": settings,
                          "hosts": {"a.test": {}}}, dataDir)
    server = Server(config, clock)
    server.prepareTLS()
    return server


def elements(transport):
    """
    The top-level elements written after the stream header.
    """
    data = transport.value().decode()
    body = data[data.index(">", data.index("<stream:stream")) + 1:]
    root = etree.fromstring(
        "<root xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
        "xmlns:db='jabber:server:dialback'>" + body.replace("</stream:stream>", "") + "</root>")
    return list(root)


class InboundStreamTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.server = makeServer(self, self.clock)
        self.manager = self.server.s2s
        self.received = []
        self.manager.received = lambda stream, stanza: self.received.append(stanza)
        self.stream = S2SInStream(self.manager)
        self.transport = StringTransport()
        self.stream.makeConnection(self.transport)

    def open(self):
        self.stream.dataReceived(HEADER.encode())

    def streamError(self):
        found = [e for e in elements(self.transport) if e.tag == NS.qname(NS.STREAMS, "error")]
        return found[0][0].tag.partition("}")[2] if found else None

    def test_interface(self):
        self.assertTrue(verifyObject(ISession, self.stream))

    def test_features(self):
        self.open()
        features = elements(self.transport)[0]
        self.assertEqual(features.tag, NS.qname(NS.STREAMS, "features"))
        self.assertIsNotNone(features.find("{urn:xmpp:features:dialback}dialback"))
        # No TLS yet, so no SASL EXTERNAL (XEP-0178 §3).
        self.assertIsNone(features.find("{%s}mechanisms" % NS.SASL))

    def test_starttlsRequired(self):
        """
        With require_encryption, STARTTLS is offered alone (RFC 6120 §5.3.1)
        and dialback before it is refused.
        """
        server = makeServer(self, self.clock, require_encryption=True)
        stream = S2SInStream(server.s2s)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER.encode())
        features = elements(transport)[0]
        self.assertEqual([child.tag for child in features], [NS.qname(NS.TLS, "starttls")])
        stream.dataReceived(b"<db:result from='b.test' to='a.test'>00</db:result>")
        self.assertIn(b"policy-violation", transport.value())

    def test_unknownHost(self):
        self.stream.dataReceived(HEADER.replace("to='a.test'", "to='c.test'").encode())
        self.assertEqual(self.streamError(), "host-unknown")

    def test_silentPeerClosed(self):
        """
        A peer server that sends no complete stream header within
        C{header_timeout} is closed with C{connection-timeout}
        (RFC 6120 §4.9.3.4).
        """
        self.stream.dataReceived(HEADER.encode()[:50])
        self.clock.advance(self.server.config.s2s.header_timeout - 0.1)
        self.assertFalse(self.stream.closing)
        self.clock.advance(0.2)
        self.assertEqual(self.streamError(), "connection-timeout")
        self.assertTrue(self.stream.closing)

    def test_headerInTime(self):
        self.open()
        self.clock.advance(self.server.config.s2s.header_timeout + 1)
        self.assertFalse(self.stream.closing)

    def test_higherMajorVersion(self):
        """
        RFC 6120 §4.7.5, §4.9.3.25: a peer whose header says version 2.0
        gets C{unsupported-version}; a higher minor version is fine.
        """
        self.stream.dataReceived(HEADER.replace("a.test' version='1.0'", "a.test' version='2.0'").encode())
        self.assertEqual(self.streamError(), "unsupported-version")
        stream = S2SInStream(self.manager)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER.replace("a.test' version='1.0'", "a.test' version='1.5'").encode())
        self.assertNotIn(b"stream:error", transport.value())
        self.assertIn(b"version='1.0'", transport.value())

    def test_secondStreamHeader(self):
        """
        A second stream header inside an open stream is C{invalid-xml}
        (RFC 6120 §4.9.3.11: a <stream/> inside <stream/> is invalid
        against Appendix A.1).
        """
        self.open()
        self.stream.dataReceived(HEADER[len("<?xml version='1.0'?>"):].encode())
        self.assertEqual(self.streamError(), "invalid-xml")

    def test_verifyAnswered(self):
        """
        XEP-0220 §2.1.3: as the authoritative server, a db:verify gets
        'valid' for our own key and 'invalid' for any other.
        """
        self.open()
        key = dialback.dialbackKey("sekrit", "b.test", "a.test", "abc")
        self.stream.dataReceived((
            "<db:verify from='b.test' to='a.test' id='abc'>%s</db:verify>"
            "<db:verify from='b.test' to='a.test' id='abd'>%s</db:verify>" % (key, key)).encode())
        answers = [e for e in elements(self.transport) if e.tag.endswith("}verify")]
        self.assertEqual([(a.get("type"), a.get("id"), a.get("from"), a.get("to")) for a in answers],
                         [("valid", "abc", "a.test", "b.test"), ("invalid", "abd", "a.test", "b.test")])

    def authenticate(self, valid=True):
        calls = []

        def verify(receiving, originating, streamID, key):
            calls.append((receiving, originating, streamID, key))
            return defer.succeed(valid)
        self.manager.verifyDialback = verify
        self.open()
        self.stream.dataReceived(b"<db:result from='b.test' to='a.test'>k3y</db:result>")
        return calls

    def test_dialbackResult(self):
        calls = self.authenticate()
        self.assertEqual(calls, [("a.test", "b.test", self.stream.streamID, "k3y")])
        result = [e for e in elements(self.transport) if e.tag.endswith("}result")][0]
        self.assertEqual((result.get("type"), result.get("from"), result.get("to")),
                         ("valid", "a.test", "b.test"))
        self.assertEqual(self.stream.authenticated, {("b.test", "a.test")})

    def test_dialbackInvalid(self):
        self.authenticate(valid=False)
        result = [e for e in elements(self.transport) if e.tag.endswith("}result")][0]
        self.assertEqual(result.get("type"), "invalid")
        self.assertEqual(self.streamError(), "not-authorized")

    def test_stanzaAccepted(self):
        """
        A stanza from the authenticated domain to ours goes on, in
        jabber:client.
        """
        self.authenticate()
        self.stream.dataReceived(
            b"<message from='bob@b.test/r' to='alice@a.test'><body>hi</body></message>")
        self.assertEqual(len(self.received), 1)
        self.assertEqual(self.received[0].tag, NS.qname(NS.CLIENT, "message"))
        self.assertEqual(self.received[0][0].tag, NS.qname(NS.CLIENT, "body"))

    def test_unauthenticatedFrom(self):
        """
        RFC 6120 §4.9.3.9: a 'from' the stream did not authenticate is
        invalid-from.
        """
        self.authenticate()
        self.stream.dataReceived(b"<message from='eve@c.test' to='alice@a.test'/>")
        self.assertEqual(self.streamError(), "invalid-from")
        self.assertEqual(self.received, [])

    def test_beforeAuthentication(self):
        self.open()
        self.stream.dataReceived(b"<message from='bob@b.test' to='alice@a.test'/>")
        self.assertEqual(self.streamError(), "invalid-from")

    def test_unknownRecipientDomain(self):
        self.authenticate()
        self.stream.dataReceived(b"<message from='bob@b.test' to='x@c.test'/>")
        self.assertEqual(self.streamError(), "host-unknown")

    def test_missingAddress(self):
        """
        RFC 6120 §8.1.1.2, §8.1.2.2: both addresses are required on s2s.
        """
        self.authenticate()
        self.stream.dataReceived(b"<message to='alice@a.test'/>")
        self.assertEqual(self.streamError(), "improper-addressing")


class InboundShapingTests(unittest.TestCase):
    """
    A peer server that sends faster than C{[s2s] read_rate} is read more
    slowly, as a client is (L{xmppframe.streams.xmlstream.XMLStream}).
    """

    def test_peerAheadOfRateHeldBack(self):
        clock = task.Clock()
        server = makeServer(self, clock, read_rate=1000, read_burst=1000)
        stream = S2SInStream(server.s2s)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER.encode() + b" " * 1500)
        self.assertEqual(transport.producerState, "paused")
        self.assertFalse(stream.closing)
        clock.advance(1.0)
        self.assertEqual(transport.producerState, "producing")


class OutboundStreamTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.server = makeServer(self, self.clock)
        self.manager = self.server.s2s
        self.ready = []
        self.failed = []
        self.manager.outboundReady = self.ready.append
        self.manager.outboundFailed = lambda s, c, t: self.failed.append(c)
        self.manager.outboundLost = lambda s: None
        self.stream = S2SOutStream(self.manager, "a.test", "b.test")
        self.transport = StringTransport()
        self.stream.makeConnection(self.transport)

    def test_interface(self):
        self.assertTrue(verifyObject(ISession, self.stream))

    def peerHeader(self):
        return ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
                "from='b.test' to='a.test' id='S1' version='1.0'>"
                "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>")

    def test_dialback(self):
        """
        No TLS offered (allowed here) and no certificate: dialback with the
        XEP-0220 §2.4 key over the peer's stream id; 'valid' makes it ready.
        """
        header = self.transport.value().decode()
        self.assertIn("from='a.test'", header)
        self.assertIn("to='b.test'", header)
        self.transport.clear()
        self.stream.dataReceived(self.peerHeader().encode())
        [result] = elements_plain(self.transport)
        self.assertEqual(result.text, dialback.dialbackKey("sekrit", "b.test", "a.test", "S1"))
        self.stream.dataReceived(b"<db:result from='b.test' to='a.test' type='valid'/>")
        self.assertEqual(self.ready, [self.stream])
        self.assertEqual(self.stream.method, "dialback")

    def test_stanzasOfOneTurnInOneWrite(self):
        """
        Stanzas for the peer queued in one reactor turn go out in one write
        after it, as on client streams (L{XMLStream}); a stream error
        afterwards follows them.
        """
        self.stream.dataReceived(self.peerHeader().encode())
        self.stream.dataReceived(b"<db:result from='b.test' to='a.test' type='valid'/>")
        counting = CountingTransport()
        self.stream.transport = counting
        # As connectionMade decides for a TCP or TLS transport.
        self.stream._coalesce = True
        for n in range(3):
            self.stream.send(etree.fromstring(
                "<message xmlns='jabber:client' from='x@a.test' to='y@b.test' id='m%d'/>" % (n,)))
        self.assertEqual(counting.value(), b"")
        self.clock.advance(0)
        self.assertEqual(counting.writes, 1)
        self.assertEqual(counting.value().count(b"<message xmlns=\"jabber:server\""), 3)
        self.stream.send(etree.fromstring(
            "<message xmlns='jabber:client' from='x@a.test' to='y@b.test' id='last'/>"))
        self.stream.close("policy-violation")
        data = counting.value()
        self.assertLess(data.index(b'id="last"'), data.index(b"<stream:error>"))

    def test_dialbackRefused(self):
        self.stream.dataReceived(self.peerHeader().encode())
        self.stream.dataReceived(b"<db:result from='b.test' to='a.test' type='invalid'/>")
        self.assertEqual(self.failed, ["remote-server-not-found"])
        self.assertEqual(self.ready, [])

    def test_multiplexing(self):
        """
        XEP-0220 "Multiplexing Sender Domains": once authenticated by
        dialback, another local domain is asked for with its own
        db:result over the same stream id; the answer goes to the manager
        for that domain.  Only dialback streams may be multiplexed.
        """
        self.assertFalse(self.stream.canMultiplex())
        self.stream.dataReceived(self.peerHeader().encode())
        self.stream.dataReceived(b"<db:result from='b.test' to='a.test' type='valid'/>")
        self.assertTrue(self.stream.canMultiplex())
        failures = []
        self.manager.multiplexFailed = lambda s, local, text: failures.append(local)
        self.manager.outboundReady = lambda s, local=None: self.ready.append((s, local))
        self.transport.clear()
        self.stream.requestDialback("a2.test")
        self.stream.requestDialback("a3.test")
        results = elements_plain(self.transport)
        self.assertEqual([(r.get("from"), r.get("to"), r.text) for r in results],
                         [(d, "b.test", dialback.dialbackKey("sekrit", "b.test", d, "S1"))
                          for d in ("a2.test", "a3.test")])
        self.stream.dataReceived(b"<db:result from='b.test' to='a2.test' type='valid'/>"
                                 b"<db:result from='b.test' to='a3.test' type='error'/>")
        self.assertEqual(self.ready[1:], [(self.stream, "a2.test")])
        self.assertEqual(failures, ["a3.test"])
        self.stream.method = "EXTERNAL"
        self.assertFalse(self.stream.canMultiplex())

    def test_tlsRequired(self):
        server = makeServer(self, self.clock, require_encryption=True)
        server.s2s.outboundFailed = lambda s, c, t: self.failed.append(c)
        stream = S2SOutStream(server.s2s, "a.test", "b.test")
        stream.makeConnection(StringTransport())
        stream.dataReceived(self.peerHeader().encode())
        self.assertEqual(self.failed, ["remote-server-not-found"])


def elements_plain(transport):
    root = etree.fromstring(
        "<root xmlns='jabber:server' xmlns:db='jabber:server:dialback'>"
        + transport.value().decode() + "</root>")
    return list(root)


class FakeStream:
    ready = True
    closing = False

    def __init__(self):
        self.sent = []

    def sendServerStanza(self, stanza):
        self.sent.append(stanza)


class ManagerTests(unittest.TestCase):
    """
    Queueing and bouncing (RFC 6120 §8.3.3.13, §8.3.3.14), with the
    connection replaced by a Deferred the test controls.
    """

    def setUp(self):
        self.clock = task.Clock()
        self.server = makeServer(self, self.clock)
        self.manager = self.server.s2s
        self.bounced = []
        self.server.router.route = self.bounced.append
        self.attempts = []

        async def fakeOpen(remote, build, local=None):
            d = defer.Deferred()
            self.attempts.append((remote, d))
            return await d
        self.manager._open = fakeOpen

    def send(self, body="hi", type="chat"):
        stanza = makeStanza("message", to="bob@b.test", from_="alice@a.test/r", type=type)
        etree.SubElement(stanza, NS.qname(NS.CLIENT, "body")).text = body
        self.manager.route(stanza, self.server.router.jids.parse("bob@b.test"))
        return stanza

    def conditions(self):
        return [(b.get("to"), b.get("type"), b.find("{jabber:client}error")[0].tag.partition("}")[2])
                for b in self.bounced]

    def test_queuedThenFlushed(self):
        self.send("one")
        self.send("two")
        self.assertEqual(len(self.attempts), 1)
        stream = FakeStream()
        stream.route = self.manager._routes[("a.test", "b.test")]
        self.manager.outboundReady(stream)
        self.assertEqual([s.find("{jabber:server}body").text for s in stream.sent], ["one", "two"])
        stream.route.stream = stream
        self.send("three")
        self.assertEqual(len(stream.sent), 3)
        self.assertEqual(stream.sent[2].tag, NS.qname(NS.SERVER, "message"))

    def test_unreachable(self):
        """
        Every queued stanza bounces with remote-server-not-found, errors
        excepted (RFC 6120 §8.3.1).
        """
        self.send("one")
        self.send("oops", type="error")
        self.attempts[0][1].errback(ConnectionRefusedError())
        self.assertEqual(self.conditions(),
                         [("alice@a.test/r", "error", "remote-server-not-found")])
        self.assertEqual(self.bounced[0].get("from"), "bob@b.test")
        self.assertEqual(self.bounced[0].tag, NS.qname(NS.CLIENT, "message"))

    def test_timeout(self):
        self.send()
        self.clock.advance(10)
        self.assertEqual(self.conditions(),
                         [("alice@a.test/r", "error", "remote-server-timeout")])
        self.assertTrue(self.attempts[0][1].called)

    def test_queueBound(self):
        for i in range(4):
            self.send(str(i))
        self.assertEqual(self.conditions(), [("alice@a.test/r", "error", "resource-constraint")])

    def test_backOff(self):
        """
        After a failure, stanzas bounce at once until the back-off delay
        has passed; then the next one tries again.
        """
        self.send()
        self.attempts[0][1].errback(ConnectionRefusedError())
        self.send()
        self.assertEqual(len(self.attempts), 1)
        self.assertEqual(len(self.bounced), 2)
        self.clock.advance(1.5)
        self.send()
        self.assertEqual(len(self.attempts), 2)

    def test_idle(self):
        self.send()
        stream = FakeStream()
        closed = []
        stream.close = lambda: closed.append(True)
        route = self.manager._routes[("a.test", "b.test")]
        stream.route = route
        route.stream = stream
        self.manager.outboundReady(stream)
        self.clock.advance(599)
        self.assertEqual(closed, [])
        self.clock.advance(2)
        self.assertEqual(closed, [True])
