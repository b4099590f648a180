"""
Tests for L{xmppframe.router.Router}: address checks and stamping
(RFC 6120 §8.1), stanza errors (RFC 6120 §8.3), and the default delivery
rules for a local server (RFC 6120 §10, RFC 6121 §8.5).
"""

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe.errors import StanzaError
from xmppframe.events import (
    iqEvent, iqResponseEvent, stanzaEvent)
from xmppframe.interfaces import IRouter
from xmppframe.jid import parseJID
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.xml import namespaces as NS

from tests.fakes import FakeSession, makeHost, parse, stanzaErrorCondition

PING = (NS.PING, "ping")


class RouterTestCase(unittest.TestCase):
    """
    One host, C{example.org}, with helpers to connect accounts and send.
    """

    allOfEqualPriority = True

    def setUp(self):
        self.sessions = SessionManager()
        self.router = Router(self.sessions,
                             deliverToAllOfEqualPriority=self.allOfEqualPriority)
        self.host = makeHost("example.org")
        self.router.addHost(self.host)

    def connect(self, jid, available=True, priority=0):
        """
        Bind a L{FakeSession} to C{jid} (a full JID), available with
        C{priority} unless told otherwise.
        """
        full = parseJID(jid)
        session = FakeSession(full.bare, host=self.host, available=available,
                              priority=priority, manager=self.sessions)
        self.sessions.bind(session, full.resource)
        return session

    def send(self, origin, text):
        stanza = parse(text)
        self.router.process(origin, stanza)
        return stanza

    def assertOneError(self, session, condition, id=None):
        """
        C{session} was sent exactly one stanza, an error of C{condition}
        addressed to that session (RFC 6120 §8.3.1), and it is returned.
        """
        sent = session.take()
        self.assertEqual(len(sent), 1, sent)
        reply = sent[0]
        self.assertEqual(stanzaErrorCondition(reply), condition)
        self.assertEqual(reply.get("to"), session.jid.full)
        if id is not None:
            self.assertEqual(reply.get("id"), id)
        return reply

    def assertDelivered(self, stanza, *sessions):
        for session in sessions:
            self.assertEqual(session.take(), [stanza], session)

    def assertNothingSent(self, *sessions):
        for session in sessions:
            self.assertEqual(session.sent, [], session)

    def hook(self, name, result=True):
        """
        Hook C{name} on the host bus with a handler that records events
        and returns C{result}.
        """
        events = []

        def handler(event):
            events.append(event)
            return result
        self.host.events.hook(name, handler)
        return events


class HostTableTests(RouterTestCase):

    def test_interface(self):
        self.assertTrue(verifyObject(IRouter, self.router))

    def test_hosts(self):
        self.assertIs(self.router.hostFor("example.org"), self.host)
        self.assertIsNone(self.router.hostFor("example.net"))
        other = makeHost("example.net")
        self.router.addHost(other)
        self.assertEqual(self.router.hosts, {"example.org": self.host, "example.net": other})
        self.router.removeHost("example.net")
        self.router.removeHost("example.net")
        self.assertIsNone(self.router.hostFor("example.net"))

    def test_hostsIsACopy(self):
        self.router.hosts.clear()
        self.assertIs(self.router.hostFor("example.org"), self.host)


class FromStampingTests(RouterTestCase):
    """
    RFC 6120 §8.1.2.1: the server stamps C{from} with the full JID of the
    sending resource, and does not let a client claim another address.
    """

    def setUp(self):
        RouterTestCase.setUp(self)
        self.alice = self.connect("alice@example.org/home")
        self.bob = self.connect("bob@example.org/work")

    def test_stampedWhenAbsent(self):
        stanza = self.send(self.alice, "<message to='bob@example.org/work' type='chat'>"
                                       "<body>hi</body></message>")
        self.assertDelivered(stanza, self.bob)
        self.assertEqual(stanza.get("from"), "alice@example.org/home")

    def test_ownFullJIDAccepted(self):
        stanza = self.send(self.alice, "<message from='alice@example.org/home' "
                                       "to='bob@example.org/work'/>")
        self.assertDelivered(stanza, self.bob)
        self.assertEqual(stanza.get("from"), "alice@example.org/home")

    def test_ownBareJIDAccepted(self):
        """
        A client may put its bare JID in C{from}; the server still stamps
        the full JID.
        """
        stanza = self.send(self.alice, "<message from='alice@example.org' "
                                       "to='bob@example.org/work'/>")
        self.assertDelivered(stanza, self.bob)
        self.assertEqual(stanza.get("from"), "alice@example.org/home")

    def test_unpreparedOwnJIDAccepted(self):
        """
        C{from} is compared as a JID, not as text (RFC 7622 §3).
        """
        stanza = self.send(self.alice, "<message from='Alice@Example.ORG/home' "
                                       "to='bob@example.org/work'/>")
        self.assertDelivered(stanza, self.bob)
        self.assertEqual(stanza.get("from"), "alice@example.org/home")

    def test_spoofedFromForbidden(self):
        """
        A C{from} naming someone else gets C{forbidden} back to the sender,
        addressed to the sender's real JID, and the stanza is not
        delivered.
        """
        self.send(self.alice, "<message id='m1' from='bob@example.org/work' "
                              "to='bob@example.org/work'><body>x</body></message>")
        reply = self.assertOneError(self.alice, "forbidden", id="m1")
        self.assertNotEqual(reply.get("to"), "bob@example.org/work")
        self.assertNothingSent(self.bob)

    def test_otherResourceForbidden(self):
        """
        Another resource of the same account is not the sender either.
        """
        self.connect("alice@example.org/work")
        self.send(self.alice, "<message from='alice@example.org/work' "
                              "to='bob@example.org/work'/>")
        self.assertOneError(self.alice, "forbidden")
        self.assertNothingSent(self.bob)

    def test_malformedFromForbidden(self):
        self.send(self.alice, "<iq id='i1' type='get' from='@@@' to='bob@example.org/work'>"
                              "<ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertOneError(self.alice, "forbidden", id="i1")
        self.assertNothingSent(self.bob)

    def test_subscriptionFromBareJID(self):
        """
        RFC 6120 §8.1.2.1 and RFC 6121 §3.1.2: subscription-related presence
        is stamped with the bare JID.
        """
        stanza = self.send(self.alice, "<presence to='bob@example.org' type='subscribe'/>")
        self.assertEqual(stanza.get("from"), "alice@example.org")

    def test_eventCarriesAddresses(self):
        events = self.hook(stanzaEvent("message", "full"))
        stanza = self.send(self.alice, "<message to='bob@example.org/work' type='chat'/>")
        [event] = events
        self.assertIs(event.origin, self.alice)
        self.assertIs(event.stanza, stanza)
        self.assertEqual(event.to, parseJID("bob@example.org/work"))
        self.assertEqual(event.sender, parseJID("alice@example.org/home"))
        self.assertIs(event.host, self.host)
        self.assertEqual((event.kind, event.type), ("message", "chat"))


class AddressErrorTests(RouterTestCase):
    """
    Bad addresses and types are answered with stanza errors
    (RFC 6120 §8.3.3), never with a traceback.
    """

    def setUp(self):
        RouterTestCase.setUp(self)
        self.alice = self.connect("alice@example.org/home")

    def test_invalidTo(self):
        """
        RFC 6120 §8.3.3.8: a malformed C{to} is C{jid-malformed}; the error
        does not carry the malformed address (RFC 6120 §8.3.1 rule 2).
        """
        self.send(self.alice, "<message id='m1' to='@example.org'><body>x</body></message>")
        reply = self.assertOneError(self.alice, "jid-malformed", id="m1")
        self.assertEqual(reply.get("from"), "example.org")

    def test_spoofedFromAndMalformedTo(self):
        """
        Whichever check fails first, the error never carries the
        malformed address (RFC 6120 §8.3.1 rule 2).
        """
        self.send(self.alice, "<message from='bob@example.org' to='a@b@c'/>")
        reply = self.assertOneError(self.alice, "forbidden")
        self.assertEqual(reply.get("from"), "example.org")

    def test_unknownDomain(self):
        """
        RFC 6120 §8.3.3.15: with no route to the domain,
        C{remote-server-not-found}.
        """
        self.send(self.alice, "<iq id='i1' type='get' to='example.net'>"
                              "<ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertOneError(self.alice, "remote-server-not-found", id="i1")

    def test_remoteHandsOver(self):
        """
        When federation is present, stanzas for other domains go to it.
        """
        routed = []

        class Remote:
            def route(self, stanza, to):
                routed.append((stanza, to))
        self.router.remote = Remote()
        stanza = self.send(self.alice, "<message to='bob@example.net'/>")
        self.assertEqual(routed, [(stanza, parseJID("bob@example.net"))])
        self.assertEqual(stanza.get("from"), "alice@example.org/home")
        self.assertNothingSent(self.alice)

    def test_invalidMessageType(self):
        self.send(self.alice, "<message id='m1' type='shout' to='bob@example.org'/>")
        self.assertOneError(self.alice, "bad-request", id="m1")

    def test_invalidPresenceType(self):
        """
        RFC 6120 §8.2.1: 'available' is not a presence type.
        """
        self.send(self.alice, "<presence type='available'/>")
        self.assertOneError(self.alice, "bad-request")

    def test_iqWithoutType(self):
        """
        RFC 6120 §8.2.3: an iq must have a type.
        """
        self.send(self.alice, "<iq id='i1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertOneError(self.alice, "bad-request", id="i1")

    def test_iqPayloadCount(self):
        """
        RFC 6120 §8.2.3: an iq get or set has exactly one child.
        """
        self.send(self.alice, "<iq id='i1' type='get' to='example.org'/>")
        self.assertOneError(self.alice, "bad-request", id="i1")
        self.send(self.alice, "<iq id='i2' type='set' to='example.org'>"
                              "<a xmlns='urn:x'/><b xmlns='urn:x'/></iq>")
        self.assertOneError(self.alice, "bad-request", id="i2")

    def test_iqWithoutId(self):
        """
        RFC 6120 §8.1.3 and §8.2.3 rule 1: an iq must have an id.  One
        without is answered with the stanza error C{bad-request}
        (§8.3.3.1), whose id is empty (§8.3.1 rule 3), and goes nowhere
        else; the sender's next iq is handled as usual.
        """
        handled = self.hook(iqEvent("get", "host", PING))
        self.send(self.alice, "<iq type='get' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>")
        reply = self.assertOneError(self.alice, "bad-request")
        # §8.3.1 rule 3: an iq error has an id, empty for a request that
        # had none.
        self.assertEqual(reply.get("id"), "")
        self.assertEqual(handled, [])
        self.send(self.alice, "<iq type='get' id='i2' to='example.org'>"
                              "<ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertEqual(len(handled), 1)

    def test_iqResultWithoutId(self):
        """
        A result without an id answers nothing (§8.2.3): C{bad-request};
        an error without one is dropped, never answered (§8.3.1).
        """
        self.send(self.alice, "<iq type='result' to='bob@example.org/home'/>")
        self.assertEqual(self.assertOneError(self.alice, "bad-request").get("id"), "")
        self.send(self.alice, "<iq type='error' to='bob@example.org/home'/>")
        self.assertNothingSent(self.alice)

    def test_unsupportedStanza(self):
        """
        RFC 6120 §4.9.3.24: a top-level element that is not a stanza ends
        the stream.
        """
        self.send(self.alice, "<unknown/>")
        self.assertEqual(self.alice.closed[0], "unsupported-stanza-type")


class ErrorNotAnsweredTests(RouterTestCase):
    """
    RFC 6120 §8.3.1 (and §10.4.3 for the unknown-domain case): an error
    stanza is never answered with another error, so that two entities
    cannot bounce errors at each other forever.
    """

    def setUp(self):
        RouterTestCase.setUp(self)
        self.alice = self.connect("alice@example.org/home")

    def test_iqErrorToUnknownResource(self):
        self.send(self.alice, "<iq id='i1' type='error' to='bob@example.org/gone'>"
                              "<error type='cancel'><service-unavailable "
                              "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
        self.assertNothingSent(self.alice)

    def test_messageErrorUnknownDomain(self):
        self.send(self.alice, "<message type='error' to='bob@example.net'/>")
        self.assertNothingSent(self.alice)

    def test_messageErrorNoResources(self):
        self.send(self.alice, "<message type='error' to='bob@example.org'/>")
        self.send(self.alice, "<message type='error' to='bob@example.org/gone'/>")
        self.assertNothingSent(self.alice)

    def test_messageErrorMalformedTo(self):
        self.send(self.alice, "<message type='error' to='@example.org'/>")
        self.assertNothingSent(self.alice)

    def test_presenceErrorSpoofed(self):
        self.send(self.alice, "<presence type='error' from='bob@example.org' "
                              "to='bob@example.org'/>")
        self.assertNothingSent(self.alice)

    def test_serverGeneratedErrorNotLooped(self):
        """
        An error the server routes to an address nobody holds is dropped.
        """
        self.router.route(parse("<iq type='error' id='x' from='example.org' "
                                "to='nobody@example.org/r'/>"))
        self.router.route(parse("<message type='error' from='example.org' "
                                "to='nobody@example.net'/>"))
        self.assertNothingSent(self.alice)


class MessageDeliveryTests(RouterTestCase):
    """
    Default delivery of messages (RFC 6121 §8.5.2, §8.5.3).
    """

    def setUp(self):
        RouterTestCase.setUp(self)
        self.alice = self.connect("alice@example.org/home")

    def message(self, to, type="chat", id="m1"):
        return self.send(self.alice, "<message id='%s' to='%s' type='%s'><body>hi</body>"
                                     "</message>" % (id, to, type))

    def test_toOnlineFullJID(self):
        """
        RFC 6121 §8.5.3.1: a message to a connected full JID is delivered
        to that resource only, with C{to} untouched.
        """
        work = self.connect("bob@example.org/work")
        phone = self.connect("bob@example.org/phone", priority=5)
        stanza = self.message("bob@example.org/work")
        self.assertDelivered(stanza, work)
        self.assertNothingSent(phone, self.alice)
        self.assertEqual(stanza.get("to"), "bob@example.org/work")

    def test_toFullJIDOfUnavailableResource(self):
        """
        RFC 6121 §8.5.3.1: a connected resource matching the full JID gets
        the message even before it sends initial presence.
        """
        work = self.connect("bob@example.org/work", available=False)
        stanza = self.message("bob@example.org/work")
        self.assertDelivered(stanza, work)

    def test_toOfflineFullJIDUsesBareRules(self):
        """
        RFC 6121 §8.5.3.2.1: a chat message to a resource that is not
        connected is handled as if sent to the bare JID.
        """
        phone = self.connect("bob@example.org/phone")
        stanza = self.message("bob@example.org/gone")
        self.assertDelivered(stanza, phone)
        self.assertEqual(stanza.get("to"), "bob@example.org/gone")

    def test_toOfflineFullJIDNoResources(self):
        self.message("bob@example.org/gone")
        self.assertOneError(self.alice, "service-unavailable", id="m1")

    def test_groupchatToOfflineFullJID(self):
        self.connect("bob@example.org/phone")
        self.message("bob@example.org/gone", type="groupchat")
        self.assertOneError(self.alice, "service-unavailable", id="m1")

    def test_highestPriority(self):
        """
        RFC 6121 §8.5.2.1.1: chat and normal messages to the bare JID go to
        the "most available" resource, the one of highest priority.
        """
        low = self.connect("bob@example.org/low", priority=1)
        high = self.connect("bob@example.org/high", priority=10)
        for type in ("chat", "normal"):
            stanza = self.message("bob@example.org", type=type)
            self.assertDelivered(stanza, high)
            self.assertNothingSent(low)
            self.assertEqual(stanza.get("to"), "bob@example.org")

    def test_noTypeIsNormal(self):
        """
        RFC 6121 §5.2.2: a message without a type is 'normal'.
        """
        high = self.connect("bob@example.org/high", priority=10)
        low = self.connect("bob@example.org/low", priority=1)
        stanza = self.send(self.alice, "<message to='bob@example.org'/>")
        self.assertDelivered(stanza, high)
        self.assertNothingSent(low)

    def test_equalPrioritiesAllGetIt(self):
        a = self.connect("bob@example.org/a", priority=3)
        b = self.connect("bob@example.org/b", priority=3)
        low = self.connect("bob@example.org/low", priority=0)
        stanza = self.message("bob@example.org")
        self.assertDelivered(stanza, a, b)
        self.assertNothingSent(low)

    def test_negativePriorityNeverGetsBareMessages(self):
        """
        RFC 6121 §8.5.2.1.1: no message to the bare JID goes to a resource
        with negative priority; if it is the only one, the message is
        handled as if none were available (§8.5.2.2.1).
        """
        negative = self.connect("bob@example.org/neg", priority=-1)
        for type in ("chat", "normal"):
            self.message("bob@example.org", type=type)
            self.assertOneError(self.alice, "service-unavailable", id="m1")
        self.message("bob@example.org", type="headline")
        self.assertNothingSent(negative, self.alice)

    def test_negativePriorityStillGetsFullJIDMessages(self):
        negative = self.connect("bob@example.org/neg", priority=-1)
        stanza = self.message("bob@example.org/neg")
        self.assertDelivered(stanza, negative)

    def test_unavailableResourcesSkipped(self):
        """
        Connected resources that have not sent initial presence are not
        "available" and get no bare-JID messages.
        """
        quiet = self.connect("bob@example.org/quiet", available=False, priority=50)
        active = self.connect("bob@example.org/active", priority=0)
        stanza = self.message("bob@example.org")
        self.assertDelivered(stanza, active)
        self.assertNothingSent(quiet)

    def test_headlineToAllNonNegative(self):
        """
        RFC 6121 §8.5.2.1.1: headline messages go to every non-negative
        resource.
        """
        a = self.connect("bob@example.org/a", priority=0)
        b = self.connect("bob@example.org/b", priority=7)
        negative = self.connect("bob@example.org/neg", priority=-5)
        stanza = self.message("bob@example.org", type="headline")
        self.assertDelivered(stanza, a, b)
        self.assertNothingSent(negative, self.alice)

    def test_groupchatToBare(self):
        """
        RFC 6121 §8.5.2.1.1: groupchat to a bare JID is not delivered but
        answered with C{service-unavailable}.
        """
        bob = self.connect("bob@example.org/a")
        self.message("bob@example.org", type="groupchat")
        self.assertOneError(self.alice, "service-unavailable", id="m1")
        self.assertNothingSent(bob)

    def test_noAvailableResource(self):
        """
        RFC 6121 §8.5.2.2.1: chat or normal with no available resource
        gets C{service-unavailable} (without offline storage); headline and
        error are silently dropped.
        """
        self.connect("bob@example.org/quiet", available=False)
        for type in ("chat", "normal"):
            self.message("bob@example.org", type=type)
            self.assertOneError(self.alice, "service-unavailable", id="m1")
        self.message("carol@example.org", type="chat")
        self.assertOneError(self.alice, "service-unavailable", id="m1")
        self.message("bob@example.org", type="headline")
        self.assertNothingSent(self.alice)

    def test_messageToHost(self):
        """
        A chat message to the server itself, which has no chat service,
        is answered with C{service-unavailable}; a headline is dropped.
        """
        self.message("example.org")
        self.assertOneError(self.alice, "service-unavailable", id="m1")
        self.message("example.org", type="headline")
        self.assertNothingSent(self.alice)

    def test_noToGoesToOwnBareJID(self):
        """
        RFC 6120 §10.3.1: a message without C{to} is treated as addressed
        to the sender's bare JID.
        """
        other = self.connect("alice@example.org/work", priority=1)
        stanza = self.send(self.alice, "<message type='chat'><body>note</body></message>")
        self.assertDelivered(stanza, other)
        self.assertNothingSent(self.alice)
        self.assertEqual(stanza.get("from"), "alice@example.org/home")

    def test_noToFiresBareEvent(self):
        events = self.hook(stanzaEvent("message", "bare"))
        self.send(self.alice, "<message type='chat'/>")
        [event] = events
        self.assertEqual(event.to, parseJID("alice@example.org"))
        self.assertNothingSent(self.alice)

    def test_toOwnBareJID(self):
        """
        A message to one's own bare JID fires the bare event and follows
        the bare JID rules.
        """
        events = self.hook(stanzaEvent("message", "bare"), result=None)
        stanza = self.message("alice@example.org")
        self.assertEqual(len(events), 1)
        self.assertDelivered(stanza, self.alice)


class LowestResourceTests(RouterTestCase):
    """
    With C{deliverToAllOfEqualPriority=False}, one resource of the highest
    priority gets a bare-JID message (RFC 6121 §8.5.2.1.1 option (a)).
    """

    allOfEqualPriority = False

    def test_oneOfEqualPriority(self):
        alice = self.connect("alice@example.org/home")
        a = self.connect("bob@example.org/a", priority=3)
        b = self.connect("bob@example.org/b", priority=3)
        stanza = self.send(alice, "<message to='bob@example.org' type='chat'/>")
        self.assertEqual(len(a.sent) + len(b.sent), 1)
        self.assertIn(stanza, a.sent + b.sent)


class IQTests(RouterTestCase):
    """
    RFC 6120 §8.2.3 and §10: every iq get or set is answered.
    """

    def setUp(self):
        RouterTestCase.setUp(self)
        self.alice = self.connect("alice@example.org/home")
        self.bob = self.connect("bob@example.org/work")

    def ping(self, to=None, type="get", id="i1"):
        toAttr = "" if to is None else " to='%s'" % (to,)
        return self.send(self.alice, "<iq id='%s' type='%s'%s><ping xmlns='urn:xmpp:ping'/>"
                                     "</iq>" % (id, type, toAttr))

    def test_toFullJIDDelivered(self):
        for type in ("get", "set"):
            stanza = self.ping("bob@example.org/work", type=type)
            self.assertDelivered(stanza, self.bob)
        self.assertNothingSent(self.alice)

    def test_toUnknownResource(self):
        """
        RFC 6121 §8.5.3.2.3: an iq to a full JID nobody holds gets
        C{service-unavailable}.
        """
        self.ping("bob@example.org/gone")
        self.assertOneError(self.alice, "service-unavailable", id="i1")

    def test_toHostUnhandled(self):
        """
        RFC 6120 §8.4: an iq the server does not understand gets
        C{service-unavailable}.
        """
        self.ping("example.org")
        self.assertOneError(self.alice, "service-unavailable", id="i1")

    def test_toHostHooked(self):
        events = self.hook(iqEvent("get", "host", PING))
        stanza = self.ping("example.org")
        [event] = events
        self.assertIs(event.stanza, stanza)
        self.assertEqual(event.to, parseJID("example.org"))
        self.assertNothingSent(self.alice)

    def test_toHostResource(self):
        """
        RFC 6120 §10.5.2: nothing binds the server's own resources, so an
        iq to one is the server's to answer.
        """
        events = self.hook(iqEvent("get", "host", PING))
        self.ping("example.org/admin")
        self.assertEqual(len(events), 1)

    def test_hookedForOtherTypeOnly(self):
        """
        A handler for get does not answer a set.
        """
        self.hook(iqEvent("get", "host", PING))
        self.ping("example.org", type="set")
        self.assertOneError(self.alice, "service-unavailable", id="i1")

    def test_noToFiresSelf(self):
        """
        RFC 6120 §10.3.3: an iq without C{to} is handled by the server on
        behalf of the sender's account: the C{self} event.
        """
        events = self.hook(iqEvent("get", "self", PING))
        self.ping(None)
        [event] = events
        self.assertEqual(event.to, parseJID("alice@example.org"))
        self.assertIs(event.origin, self.alice)
        self.assertNothingSent(self.alice)

    def test_ownBareJIDFiresSelf(self):
        events = self.hook(iqEvent("get", "self", PING))
        self.ping("alice@example.org")
        self.assertEqual(len(events), 1)

    def test_selfFallsBackToBare(self):
        """
        A payload only handled for bare JIDs in general (e.g. PEP-like
        services) also answers the account itself.
        """
        events = self.hook(iqEvent("get", "bare", PING))
        self.ping(None)
        self.assertEqual(len(events), 1)
        self.assertNothingSent(self.alice)

    def test_selfUnhandled(self):
        self.ping(None)
        self.assertOneError(self.alice, "service-unavailable", id="i1")

    def test_otherBareJID(self):
        """
        RFC 6121 §8.5.2.1.3: an iq to someone's bare JID is answered by the
        server on their behalf, never delivered to a resource.
        """
        selfEvents = self.hook(iqEvent("get", "self", PING))
        bareEvents = self.hook(iqEvent("get", "bare", PING))
        self.ping("bob@example.org")
        self.assertEqual((len(selfEvents), len(bareEvents)), (0, 1))
        self.assertNothingSent(self.bob)

    def test_otherBareJIDUnhandled(self):
        self.ping("bob@example.org")
        self.assertOneError(self.alice, "service-unavailable", id="i1")
        self.assertNothingSent(self.bob)

    def test_resultToFullJIDDelivered(self):
        """
        RFC 6121 §8.5.3.1: an iq result or error to a connected resource is
        delivered.
        """
        stanza = self.send(self.alice, "<iq id='i9' type='result' to='bob@example.org/work'/>")
        self.assertDelivered(stanza, self.bob)
        self.assertEqual(stanza.get("from"), "alice@example.org/home")

    def test_resultToUnknownResourceDropped(self):
        self.send(self.alice, "<iq id='i9' type='result' to='bob@example.org/gone'/>")
        self.assertNothingSent(self.alice, self.bob)

    def test_resultToHostFiresResponse(self):
        events = self.hook(iqResponseEvent("host"))
        self.send(self.alice, "<iq id='i9' type='result' to='example.org'/>")
        self.assertEqual(len(events), 1)
        self.assertNothingSent(self.alice)

    def test_claimingHandlerBeatsLowerPriority(self):
        order = []
        self.host.events.hook(iqEvent("get", "host", PING),
                              lambda e: order.append("low"), priority=-1)
        self.host.events.hook(iqEvent("get", "host", PING),
                              lambda e: order.append("high") or True, priority=1)
        self.ping("example.org")
        self.assertEqual(order, ["high"])


class PresenceTests(RouterTestCase):
    """
    Presence without C{to} is the client's broadcast (RFC 6120 §10.3.2);
    the router keeps the availability and priority it needs for bare-JID
    delivery (RFC 6121 §4.7.2.3).
    """

    def setUp(self):
        RouterTestCase.setUp(self)
        self.alice = self.connect("alice@example.org/home", available=False)

    def test_initialPresence(self):
        events = self.hook(stanzaEvent("presence", "self"))
        self.send(self.alice, "<presence><priority>5</priority></presence>")
        self.assertTrue(self.alice.available)
        self.assertEqual(self.alice.priority, 5)
        [event] = events
        self.assertIsNone(event.to)
        self.assertEqual(event.sender, parseJID("alice@example.org/home"))

    def test_noPriorityIsZero(self):
        self.alice.priority = 9
        self.send(self.alice, "<presence><show>away</show></presence>")
        self.assertTrue(self.alice.available)
        self.assertEqual(self.alice.priority, 0)

    def test_negativePriority(self):
        self.send(self.alice, "<presence><priority> -3 </priority></presence>")
        self.assertEqual(self.alice.priority, -3)

    def test_priorityClamped(self):
        """
        RFC 6121 §4.7.2.3: a priority is an integer from -128 to 127.
        """
        self.send(self.alice, "<presence><priority>1000</priority></presence>")
        self.assertEqual(self.alice.priority, 127)
        self.send(self.alice, "<presence><priority>-1000</priority></presence>")
        self.assertEqual(self.alice.priority, -128)

    def test_garbagePriority(self):
        for text in ("high", "", "1.5", "9" * 5000):
            self.send(self.alice, "<presence><priority>%s</priority></presence>" % (text,))
            self.assertTrue(self.alice.available)
            self.assertIn(self.alice.priority, (0, 127), text)
        self.send(self.alice, "<presence><priority>xyz</priority></presence>")
        self.assertEqual(self.alice.priority, 0)

    def test_unavailable(self):
        """
        RFC 6121 §4.5: unavailable presence ends availability.
        """
        self.send(self.alice, "<presence><priority>4</priority></presence>")
        self.send(self.alice, "<presence type='unavailable'/>")
        self.assertFalse(self.alice.available)
        self.assertEqual(self.alice.priority, 0)

    def test_probeWithoutToLeavesState(self):
        self.send(self.alice, "<presence><priority>4</priority></presence>")
        self.send(self.alice, "<presence type='probe'/>")
        self.assertTrue(self.alice.available)
        self.assertEqual(self.alice.priority, 4)

    def test_availabilityDrivesDelivery(self):
        """
        After initial presence the session receives bare-JID messages;
        after unavailable presence it no longer does.
        """
        bob = self.connect("bob@example.org/x")
        self.send(self.alice, "<presence/>")
        stanza = self.send(bob, "<message to='alice@example.org' type='chat'/>")
        self.assertDelivered(stanza, self.alice)
        self.send(self.alice, "<presence type='unavailable'/>")
        self.send(bob, "<message to='alice@example.org' type='chat'/>")
        self.assertOneError(bob, "service-unavailable")
        self.assertNothingSent(self.alice)

    def test_directedToFullJID(self):
        bob = self.connect("bob@example.org/x")
        stanza = self.send(self.alice, "<presence to='bob@example.org/x'/>")
        self.assertDelivered(stanza, bob)
        self.assertFalse(self.alice.available)

    def test_toBareJIDGoesToAvailable(self):
        """
        RFC 6121 §8.5.2.1.2: presence to a bare JID goes to all available
        resources.
        """
        a = self.connect("bob@example.org/a")
        b = self.connect("bob@example.org/b", priority=-1)
        quiet = self.connect("bob@example.org/quiet", available=False)
        stanza = self.send(self.alice, "<presence to='bob@example.org'/>")
        self.assertDelivered(stanza, a, b)
        self.assertNothingSent(quiet)

    def test_toFullJIDOfflineIgnored(self):
        """
        RFC 6121 §8.5.3.2.2: presence to a full JID that is not connected
        is silently ignored.
        """
        self.send(self.alice, "<presence to='bob@example.org/gone'/>")
        self.assertNothingSent(self.alice)


class ModuleClaimTests(RouterTestCase):
    """
    Modules claim stanzas by event before the default delivery rules run.
    """

    def setUp(self):
        RouterTestCase.setUp(self)
        self.alice = self.connect("alice@example.org/home")
        self.bob = self.connect("bob@example.org/work")

    def test_messageBareClaimed(self):
        """
        E.g. offline storage (XEP-0160) or blocking claim message/bare.
        """
        events = self.hook(stanzaEvent("message", "bare"))
        self.send(self.alice, "<message to='bob@example.org' type='chat'/>")
        self.assertEqual(len(events), 1)
        self.assertNothingSent(self.alice, self.bob)

    def test_messageBareClaimedBeforeServiceUnavailable(self):
        events = self.hook(stanzaEvent("message", "bare"))
        self.send(self.alice, "<message to='nobody@example.org' type='chat'/>")
        self.assertEqual(len(events), 1)
        self.assertNothingSent(self.alice)

    def test_messageFullClaimed(self):
        self.hook(stanzaEvent("message", "full"))
        self.send(self.alice, "<message to='bob@example.org/work' type='chat'/>")
        self.assertNothingSent(self.alice, self.bob)

    def test_messageHostClaimed(self):
        events = self.hook(stanzaEvent("message", "host"))
        self.send(self.alice, "<message to='example.org' type='chat'/>")
        self.assertEqual(len(events), 1)
        self.assertNothingSent(self.alice)

    def test_presenceClaimed(self):
        self.hook(stanzaEvent("presence", "bare"))
        self.hook(stanzaEvent("presence", "full"))
        self.send(self.alice, "<presence to='bob@example.org'/>")
        self.send(self.alice, "<presence to='bob@example.org/work'/>")
        self.assertNothingSent(self.alice, self.bob)

    def test_unclaimedFallsThrough(self):
        """
        A handler that returns C{None} only observes; delivery goes on.
        """
        events = self.hook(stanzaEvent("message", "full"), result=None)
        stanza = self.send(self.alice, "<message to='bob@example.org/work' type='chat'/>")
        self.assertEqual(len(events), 1)
        self.assertDelivered(stanza, self.bob)

    def test_failingHandlerFallsThrough(self):
        """
        A module that raises does not lose the stanza.
        """
        def broken(event):
            raise RuntimeError("module bug")
        self.host.events.hook(stanzaEvent("message", "full"), broken)
        stanza = self.send(self.alice, "<message to='bob@example.org/work' type='chat'/>")
        self.assertDelivered(stanza, self.bob)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_bounceForModules(self):
        """
        L{Router.bounce} answers an event's stanza with an error to its
        origin.
        """
        def refuse(event):
            self.router.bounce(event, StanzaError("not-allowed", text="blocked"))
            return True
        self.host.events.hook(stanzaEvent("message", "full"), refuse)
        self.send(self.alice, "<message id='m1' to='bob@example.org/work' type='chat'/>")
        self.assertOneError(self.alice, "not-allowed", id="m1")
        self.assertNothingSent(self.bob)


class ServerGeneratedTests(RouterTestCase):
    """
    L{Router.route} delivers stanzas the server made, trusting C{from}.
    """

    def test_routeKeepsFrom(self):
        bob = self.connect("bob@example.org/work")
        stanza = parse("<message from='example.org' to='bob@example.org/work' "
                       "type='headline'/>")
        self.router.route(stanza)
        self.assertDelivered(stanza, bob)
        self.assertEqual(stanza.get("from"), "example.org")

    def test_routeErrorGoesToFrom(self):
        """
        An error for a server-generated stanza goes to its C{from} through
        the router.
        """
        alice = self.connect("alice@example.org/home")
        self.router.route(parse("<iq id='s1' type='get' from='alice@example.org/home' "
                                "to='bob@example.org/gone'><ping xmlns='urn:xmpp:ping'/>"
                                "</iq>"))
        reply = self.assertOneError(alice, "service-unavailable", id="s1")
        self.assertEqual(reply.get("from"), "bob@example.org/gone")
