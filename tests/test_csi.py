"""
Tests for L{xmppframe.modules.csi}: Client State Indication (XEP-0352):
the stream feature (§4.1), the state elements (§4.2), and the presence
held back while a client is inactive (§3.2) — with fake sessions through
the real router, and with real client streams over in-memory transports.
"""

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe.api.testing import FakeClientSession, ModuleHarness, parseStanza as parse
from xmppframe.interfaces import IModule
from xmppframe.modules.csi import CSIFeature, CSIModule, HeldPresence
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement, serialize

from tests.test_c2s import StreamTestCase, makeServer

ACTIVE = NS.qname(NS.CSI, "active")
INACTIVE = NS.qname(NS.CSI, "inactive")


class UnfilteredSession(FakeClientSession):
    """
    A session whose C{sendFilters} is C{None}: it cannot hold stanzas back.
    """

    def __init__(self, *args, **kwargs):
        FakeClientSession.__init__(self, *args, **kwargs)
        self.sendFilters = None

    def send(self, stanza):
        if self.closed is None:
            self.sent.append(stanza)


class HeldPresenceTests(unittest.TestCase):
    """
    The queue of one inactive session: the latest presence per sender.
    """

    def test_latestPerSender(self):
        held = HeldPresence(10)
        first = parse("<presence from='bob@example.org/desk'/>")
        other = parse("<presence from='carol@example.org/pad'/>")
        latest = parse("<presence from='bob@example.org/desk'><show>away</show></presence>")
        for presence in (first, other, latest):
            self.assertFalse(held.hold(presence))
        self.assertEqual(len(held), 2)
        session = FakeClientSession("alice@example.org/phone")
        held.release(session)
        self.assertEqual(session.take(), [other, latest])
        self.assertEqual(len(held), 0)

    def test_limit(self):
        held = HeldPresence(1)
        self.assertFalse(held.hold(parse("<presence from='a@example.org/x'/>")))
        self.assertTrue(held.hold(parse("<presence from='b@example.org/x'/>")))


class CSITestCase(unittest.TestCase):
    """
    The module on C{example.org} with the real router; alice's phone can
    be made inactive.
    """

    options = {}

    def setUp(self):
        self.harness = ModuleHarness("example.org")
        self.host = self.harness.host
        self.module = self.harness.load(CSIModule, self.options)
        self.addCleanup(self.module.unload)
        self.send = self.harness.send
        self.phone = self.connect("alice@example.org/phone")
        self.bob = self.connect("bob@example.org/desk")
        self.carol = self.connect("carol@example.org/pad")

    def connect(self, jid, sessionClass=FakeClientSession):
        return self.harness.client(jid, available=True, sessionClass=sessionClass)

    def state(self, session, tag):
        self.host.elementHandlers[tag](session, makeElement(NS.CSI, tag.rpartition("}")[2]))

    def presence(self, origin, show=None):
        text = "<presence to='alice@example.org/phone'>%s</presence>" % (
            "<show>%s</show>" % (show,) if show else "",)
        return self.send(origin, text)


class ModuleTests(CSITestCase):

    def test_interface(self):
        verifyObject(IModule, self.module)

    def test_feature(self):
        """
        §4.1: C{<csi/>} is offered once the client has authenticated.
        """
        class Stream:
            authenticated = None
        feature = CSIFeature()
        self.assertEqual(feature.offer(Stream()), [])
        Stream.authenticated = "alice"
        [offer] = feature.offer(Stream())
        self.assertEqual(offer.tag, NS.qname(NS.CSI, "csi"))
        self.assertEqual(feature.handlers(Stream()), {})

    def test_unload(self):
        """
        Unloading removes the feature and the element handlers, and sends
        what was held.
        """
        self.state(self.phone, INACTIVE)
        presence = self.presence(self.bob)
        self.module.unload()
        self.assertEqual(self.host.responders, [])
        self.assertEqual(self.host.elementHandlers, {})
        self.assertEqual(self.phone.take(), [presence])
        self.assertEqual(self.phone.sendFilters, [])

    def test_handledOnce(self):
        """
        Two modules cannot both handle one top-level element.
        """
        other = self.harness.api("other")
        self.assertRaises(ValueError, other.addElementHandler, ACTIVE, lambda s, e: None)

    def test_badOption(self):
        self.assertRaises(ValueError, self.harness.create(CSIModule, {"max_held": 0}).load)


class HoldingTests(CSITestCase):
    """
    §3.2: presence updates wait while the client is inactive.
    """

    def test_activeByDefault(self):
        """
        §5: a stream starts active.
        """
        presence = self.presence(self.bob)
        self.assertEqual(self.phone.take(), [presence])
        self.assertFalse(self.module.isInactive(self.phone))

    def test_heldUntilActive(self):
        """
        Presence waits, and goes out in order on C{<active/>}; after that
        nothing is held.
        """
        self.state(self.phone, INACTIVE)
        fromBob = self.presence(self.bob)
        fromCarol = self.presence(self.carol)
        self.assertEqual(self.phone.take(), [])
        self.state(self.phone, ACTIVE)
        self.assertEqual(self.phone.take(), [fromBob, fromCarol])
        later = self.presence(self.bob, "dnd")
        self.assertEqual(self.phone.take(), [later])
        self.assertEqual(self.phone.sendFilters, [])

    def test_latestPerSender(self):
        """
        Only the latest presence of each sender is kept; unavailable
        presence replaces available presence like any update.
        """
        self.state(self.phone, INACTIVE)
        self.presence(self.bob)
        fromCarol = self.presence(self.carol)
        self.presence(self.bob, "away")
        gone = self.send(self.bob, "<presence to='alice@example.org/phone' type='unavailable'/>")
        self.state(self.phone, ACTIVE)
        self.assertEqual(self.phone.take(), [fromCarol, gone])

    def test_messageWithBodyReleases(self):
        """
        A message with a body releases what is held, then arrives.
        """
        self.state(self.phone, INACTIVE)
        presence = self.presence(self.bob)
        message = self.send(self.bob, "<message to='alice@example.org/phone' type='chat'>"
                                      "<body>hi</body></message>")
        self.assertEqual(self.phone.take(), [presence, message])
        self.assertTrue(self.module.isInactive(self.phone))
        self.assertEqual(self.phone.take(), [])
        self.presence(self.carol)
        self.assertEqual(self.phone.take(), [])

    def test_wrappedBodyReleases(self):
        """
        A body inside a wrapper, as in a XEP-0280 carbon, counts.
        """
        self.state(self.phone, INACTIVE)
        presence = self.presence(self.bob)
        carbon = parse("<message from='alice@example.org' to='alice@example.org/phone'>"
                       "<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
                       "<message xmlns='jabber:client'><body>hi</body></message>"
                       "</forwarded></received></message>")
        self.phone.send(carbon)
        self.assertEqual(self.phone.take(), [presence, carbon])

    def test_messageWithoutBodyPasses(self):
        """
        A chat state passes at once and releases nothing.
        """
        self.state(self.phone, INACTIVE)
        self.presence(self.bob)
        typing = self.send(self.bob, "<message to='alice@example.org/phone' type='chat'>"
                                     "<composing xmlns='http://jabber.org/protocol/chatstates'/>"
                                     "</message>")
        self.assertEqual(self.phone.take(), [typing])

    def test_iqReleases(self):
        self.state(self.phone, INACTIVE)
        presence = self.presence(self.bob)
        iq = parse("<iq type='set' id='push1' to='alice@example.org/phone'>"
                   "<query xmlns='jabber:iq:roster'/></iq>")
        self.phone.send(iq)
        self.assertEqual(self.phone.take(), [presence, iq])

    def test_subscriptionReleases(self):
        """
        Presence that is not an availability update (a subscription
        request) is not held, and does not overtake what is.
        """
        self.state(self.phone, INACTIVE)
        presence = self.presence(self.bob)
        request = parse("<presence from='carol@example.org' to='alice@example.org' "
                        "type='subscribe'/>")
        self.phone.send(request)
        self.assertEqual(self.phone.take(), [presence, request])

    def test_limit(self):
        """
        Past C{max_held} senders, everything held goes out.
        """
        self.module.maxHeld = 1
        self.state(self.phone, INACTIVE)
        fromBob = self.presence(self.bob)
        self.assertEqual(self.phone.take(), [])
        fromCarol = self.presence(self.carol)
        self.assertEqual(self.phone.take(), [fromBob, fromCarol])

    def test_repeatedStates(self):
        """
        C{<inactive/>} twice keeps what is held; C{<active/>} while active
        does nothing.
        """
        self.state(self.phone, ACTIVE)
        self.state(self.phone, INACTIVE)
        presence = self.presence(self.bob)
        self.state(self.phone, INACTIVE)
        self.assertEqual(len(self.phone.sendFilters), 1)
        self.state(self.phone, ACTIVE)
        self.assertEqual(self.phone.take(), [presence])

    def test_otherSessionsUnaffected(self):
        laptop = self.connect("alice@example.org/laptop")
        self.state(self.phone, INACTIVE)
        presence = self.send(self.bob, "<presence to='alice@example.org/laptop'/>")
        self.assertEqual(laptop.take(), [presence])

    def test_sessionEnded(self):
        """
        A session that ends is forgotten, with what was held for it.
        """
        self.state(self.phone, INACTIVE)
        self.presence(self.bob)
        self.phone.close()
        self.assertFalse(self.module.isInactive(self.phone))
        self.assertEqual(self.phone.sendFilters, [])
        self.assertEqual(len(self.module._inactive), 0)

    def test_sessionWithoutFilters(self):
        """
        A session that cannot hold stanzas is simply not held back.
        """
        plain = self.connect("alice@example.org/plain", UnfilteredSession)
        self.state(plain, INACTIVE)
        presence = self.send(self.bob, "<presence to='alice@example.org/plain'/>")
        self.assertEqual(plain.take(), [presence])


class StreamTests(StreamTestCase):
    """
    CSI on real client streams: the feature in the stream features, the
    state elements as top-level elements after binding, and the streams'
    send filters.
    """

    def setUp(self):
        self.server, self.clock = makeServer(self, modules=[])
        d = self.server.storage.open()
        d.addCallback(lambda _: self.server.hosts["localhost"].auth.createUser("alice", "wonderland"))
        d.addCallback(lambda _: self.loadCSI())
        self.everything = []
        return d

    def loadCSI(self):
        module = self.harness().load(CSIModule)
        self.addCleanup(module.unload)

    def output(self, transport):
        data = StreamTestCase.output(self, transport)
        self.everything.append(data)
        return data

    def test_featureAfterAuthentication(self):
        """
        §4.1: offered next to bind, after authentication, not before.
        """
        stream, transport = self.login()
        firstFeatures, restartFeatures = [
            data for data in self.everything if b"<stream:features>" in data]
        self.assertNotIn(b"urn:xmpp:csi:0", firstFeatures)
        self.assertIn(b'<csi xmlns="urn:xmpp:csi:0"/>', restartFeatures)

    def test_inactiveThenActive(self):
        """
        §4.2: no reply to either element; presence waits for C{<active/>}
        whether it is sent as an element or already serialized.
        """
        stream, transport = self.login()
        stream.dataReceived(b"<inactive xmlns='urn:xmpp:csi:0'/>")
        self.assertEqual(self.output(transport), b"")
        self.assertFalse(stream.closing)
        stream.send(parse("<presence from='bob@localhost/desk' to='alice@localhost/home'/>"))
        stream.sendSerialized(serialize(parse(
            "<presence from='carol@localhost/pad' to='alice@localhost/home'/>")))
        self.assertEqual(self.output(transport), b"")
        stream.dataReceived(b"<active xmlns='urn:xmpp:csi:0'/>")
        released = self.output(transport)
        self.assertLess(released.index(b"bob@localhost/desk"), released.index(b"carol@localhost/pad"))
        stream.sendSerialized(b"<presence xmlns='jabber:client' from='bob@localhost/desk'/>")
        self.assertEqual(self.output(transport),
                         b"<presence xmlns='jabber:client' from='bob@localhost/desk'/>")

    def test_directedPresenceHeld(self):
        """
        Presence routed from another session waits; a message releases it
        first (RFC 6120 §10.1: nothing overtakes it).
        """
        alice, aliceTransport = self.login()
        bob, bobTransport = self.login(resource="desk")
        alice.dataReceived(b"<inactive xmlns='urn:xmpp:csi:0'/>")
        bob.dataReceived(b"<presence to='alice@localhost/home'><show>away</show></presence>")
        self.assertEqual(self.output(aliceTransport), b"")
        bob.dataReceived(b"<message to='alice@localhost/home' type='chat'><body>hi</body></message>")
        data = self.output(aliceTransport)
        self.assertLess(data.index(b"<show>away</show>"), data.index(b"<body>hi</body>"))

    def test_failingElementHandler(self):
        """
        A module's element handler that fails ends the stream with
        C{internal-server-error}, and no traceback reaches the client.
        """
        def broken(session, element):
            raise RuntimeError("boom")
        host = self.server.hosts["localhost"]
        host.elementHandlers["{urn:example:broken}x"] = broken
        stream, transport = self.login()
        stream.dataReceived(b"<x xmlns='urn:example:broken'/>")
        data = self.output(transport)
        self.assertIn(b"internal-server-error", data)
        self.assertNotIn(b"boom", data)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_unknownElementStillRefused(self):
        stream, transport = self.login()
        stream.dataReceived(b"<foo xmlns='urn:example:none'/>")
        self.assertStreamError(transport, "unsupported-stanza-type")
