"""
Tests for L{xmppframe.modules.subscription}: the subscription state machine
of RFC 6121 §3, every transition of Appendix A.2 (outbound) and A.3
(inbound), pre-approval (§3.4), and pending requests kept until answered
(§3.1.3).

The unit tests run against the module harness's L{FakeRoster}, an
in-memory L{IRoster}; the helpers here are shared with
C{tests.test_presence}.
"""

from contextlib import contextmanager

from lxml import etree

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe.api.testing import (
    FakeAccounts, FakeRoster, ModuleHarness, parseStanza as parse, stanzaErrorCondition)
from xmppframe.events import outboundEvent
from xmppframe.interfaces import IRoster
from xmppframe.jid import parseJID
from xmppframe.modules.presence import PresenceModule
from xmppframe.modules.subscription import (
    PreApprovalFeature, SubscriptionModule, SubscriptionState, inbound, outbound)
from xmppframe.xml import namespaces as NS


class PresenceHarness(ModuleHarness):
    """
    Two local domains: C{example.org} runs the presence and subscription
    modules over a L{FakeRoster}; C{example.net} runs none, so what its
    sessions receive is what was routed to them by default delivery.
    """

    def __init__(self, testCase, loadModules=True):
        ModuleHarness.__init__(self, "example.org")
        self.other = self.addHost("example.net")
        self.roster = FakeRoster()
        self.provide(IRoster, self.roster)
        self.requests = self.storage.map("example.org", "subscription-requests")
        if loadModules:
            self.loadModules()

    def loadModules(self):
        self.presence = self.load(PresenceModule)
        self.subscription = self.load(SubscriptionModule)

    def connect(self, jid, available=True, interested=True, presence="<presence/>"):
        """
        Bind a session for full JID C{jid}; send initial C{presence} through
        the router unless C{available} is false.
        """
        session = self.client(jid, interested=interested)
        if available:
            self.send(session, presence)
        return session


@contextmanager
def row(type, state):
    """
    Name the table row a failed assertion belongs to.
    """
    try:
        yield
    except AssertionError as e:
        raise AssertionError("%s in state %r: %s" % (type, state, e)) from None


def presences(session, type="any"):
    """
    The presence stanzas C{session} was sent (of C{type}, if given), taken.
    """
    stanzas = [s for s in session.take() if etree.QName(s).localname == "presence"]
    if type != "any":
        stanzas = [s for s in stanzas if s.get("type") == type]
    return stanzas


# The nine states of RFC 6121 Appendix A.1, as (item fields or None, pending in).
STATES = {
    "None": (None, False),
    "None + Pending Out": (dict(subscription="none", ask=True), False),
    "None + Pending In": (None, True),
    "None + Pending Out+In": (dict(subscription="none", ask=True), True),
    "To": (dict(subscription="to"), False),
    "To + Pending In": (dict(subscription="to"), True),
    "From": (dict(subscription="from"), False),
    "From + Pending Out": (dict(subscription="from", ask=True), False),
    "Both": (dict(subscription="both"), False),
}


def stateNamed(name, approved=False):
    fields, pendingIn = STATES[name]
    fields = dict(fields or {})
    return SubscriptionState(fields.get("subscription", "none"), fields.get("ask", False),
                             pendingIn, approved)


# Appendix A.2, Tables 2-5: (type, state) -> (routed?, new state).
OUTBOUND_TABLE = {
    "subscribe": {
        "None": (True, "None + Pending Out"),
        "None + Pending Out": (True, "None + Pending Out"),
        "None + Pending In": (True, "None + Pending Out+In"),
        "None + Pending Out+In": (True, "None + Pending Out+In"),
        "To": (True, "To"),
        "To + Pending In": (True, "To + Pending In"),
        "From": (True, "From + Pending Out"),
        "From + Pending Out": (True, "From + Pending Out"),
        "Both": (True, "Both"),
    },
    "unsubscribe": {
        "None": (True, "None"),
        "None + Pending Out": (True, "None"),
        "None + Pending In": (True, "None + Pending In"),
        "None + Pending Out+In": (True, "None + Pending In"),
        "To": (True, "None"),
        "To + Pending In": (True, "None + Pending In"),
        "From": (True, "From"),
        "From + Pending Out": (True, "From"),
        "Both": (True, "From"),
    },
    "subscribed": {
        # "pre-approval" rows keep the state and set 'approved' (§3.4).
        "None": (False, "None"),
        "None + Pending Out": (False, "None + Pending Out"),
        "None + Pending In": (True, "From"),
        "None + Pending Out+In": (True, "From + Pending Out"),
        "To": (False, "To"),
        "To + Pending In": (True, "Both"),
        "From": (False, "From"),
        "From + Pending Out": (False, "From + Pending Out"),
        "Both": (False, "Both"),
    },
    "unsubscribed": {
        "None": (False, "None"),
        "None + Pending Out": (False, "None + Pending Out"),
        "None + Pending In": (True, "None"),
        "None + Pending Out+In": (True, "None + Pending Out"),
        "To": (False, "To"),
        "To + Pending In": (True, "To"),
        "From": (True, "None"),
        "From + Pending Out": (True, "None + Pending Out"),
        "Both": (True, "To"),
    },
}

#: Table 4 [1]: outbound 'subscribed' in these states is a pre-approval.
PRE_APPROVAL_STATES = ("None", "None + Pending Out", "To")

# Appendix A.3, Tables 6-9: (type, state) -> (delivered?, new state, auto-reply).
INBOUND_TABLE = {
    "subscribe": {
        "None": (True, "None + Pending In", None),
        "None + Pending Out": (True, "None + Pending Out+In", None),
        "None + Pending In": (False, "None + Pending In", None),
        "None + Pending Out+In": (False, "None + Pending Out+In", None),
        "To": (True, "To + Pending In", None),
        "To + Pending In": (False, "To + Pending In", None),
        "From": (False, "From", "subscribed"),
        "From + Pending Out": (False, "From + Pending Out", "subscribed"),
        "Both": (False, "Both", "subscribed"),
    },
    "unsubscribe": {
        "None": (False, "None", None),
        "None + Pending Out": (False, "None + Pending Out", None),
        "None + Pending In": (True, "None", "unsubscribed"),
        "None + Pending Out+In": (True, "None + Pending Out", "unsubscribed"),
        "To": (False, "To", None),
        "To + Pending In": (True, "To", "unsubscribed"),
        "From": (True, "None", "unsubscribed"),
        "From + Pending Out": (True, "None + Pending Out", "unsubscribed"),
        "Both": (True, "To", "unsubscribed"),
    },
    "subscribed": {
        "None": (False, "None", None),
        "None + Pending Out": (True, "To", None),
        "None + Pending In": (False, "None + Pending In", None),
        "None + Pending Out+In": (True, "To + Pending In", None),
        "To": (False, "To", None),
        "To + Pending In": (False, "To + Pending In", None),
        "From": (False, "From", None),
        "From + Pending Out": (True, "Both", None),
        "Both": (False, "Both", None),
    },
    "unsubscribed": {
        "None": (False, "None", None),
        "None + Pending Out": (True, "None", None),
        "None + Pending In": (False, "None + Pending In", None),
        "None + Pending Out+In": (True, "None + Pending In", None),
        "To": (True, "None", None),
        "To + Pending In": (True, "None + Pending In", None),
        "From": (False, "From", None),
        "From + Pending Out": (True, "From", None),
        "Both": (True, "From", None),
    },
}


class StateMachineTests(unittest.TestCase):
    """
    The pure transition functions against the Appendix A tables.
    """

    def test_stateNames(self):
        """
        Every state of Appendix A.1 has its RFC name.
        """
        for name in STATES:
            self.assertEqual(stateNamed(name).name, name)

    def test_outboundTables(self):
        """
        RFC 6121 Appendix A.2, Tables 2-5, row by row.
        """
        for type, rows in OUTBOUND_TABLE.items():
            for before, (routed, after) in rows.items():
                outcome = outbound(stateNamed(before), type)
                self.assertEqual((outcome.send, outcome.state.name), (routed, after),
                                 "outbound %s in %s" % (type, before))
                self.assertIsNone(outcome.reply)

    def test_outboundSubscribedPreApproves(self):
        """
        Table 4 [1], §3.4.2 rules 3-4: 'subscribed' without a pending
        request sets the pre-approval flag and is not routed.
        """
        for before in PRE_APPROVAL_STATES:
            outcome = outbound(stateNamed(before), "subscribed")
            self.assertTrue(outcome.state.approved, before)
            self.assertFalse(outcome.send)
        self.assertFalse(outbound(stateNamed("From"), "subscribed").state.approved)

    def test_outboundUnsubscribedCancelsPreApproval(self):
        """
        Table 5 [1], §3.2.2 rule 2: 'unsubscribed' cancels a pre-approval
        without routing anything.
        """
        for before in PRE_APPROVAL_STATES:
            outcome = outbound(stateNamed(before, approved=True), "unsubscribed")
            self.assertFalse(outcome.state.approved)
            self.assertFalse(outcome.send)

    def test_inboundTables(self):
        """
        RFC 6121 Appendix A.3, Tables 6-9, row by row, with the auto-replies
        of Table 6 [2] and Table 7 [1].
        """
        for type, rows in INBOUND_TABLE.items():
            for before, (delivered, after, reply) in rows.items():
                outcome = inbound(stateNamed(before), type)
                self.assertEqual((outcome.send, outcome.state.name, outcome.reply),
                                 (delivered, after, reply), "inbound %s in %s" % (type, before))

    def test_inboundSubscribePreApproved(self):
        """
        Table 6 [1], §3.4.2: a pre-approved request is approved at once:
        not delivered, answered 'subscribed', the state gains 'from'.
        """
        for before, after in (("None", "From"), ("None + Pending Out", "From + Pending Out"),
                              ("To", "Both")):
            outcome = inbound(stateNamed(before, approved=True), "subscribe")
            self.assertEqual((outcome.send, outcome.state.name, outcome.reply),
                             (False, after, "subscribed"))
            self.assertFalse(outcome.state.approved)

    def test_unknownType(self):
        self.assertRaises(ValueError, outbound, SubscriptionState(), "probe")
        self.assertRaises(ValueError, inbound, SubscriptionState(), "probe")


class FakeRosterTests(unittest.TestCase):

    def test_interface(self):
        verifyObject(IRoster, FakeRoster())


class SubscriptionTestCase(unittest.TestCase):
    """
    alice@example.org (with the modules) and bob@example.net (without:
    what reaches his session is what was routed to him).
    """

    def setUp(self):
        self.h = PresenceHarness(self)
        self.roster = self.h.roster
        self.bob = self.h.connect("bob@example.net/phone")
        presences(self.bob)

    def setState(self, name, approved=False):
        fields, pendingIn = STATES[name]
        if fields is not None or approved:
            fields = dict(fields or {})
            fields["approved"] = approved
            self.roster.setItem("alice", "bob@example.net", **fields)
        if pendingIn:
            request = parse("<presence from='bob@example.net' to='alice@example.org' "
                            "type='subscribe' id='req'/>")
            self.h.requests.set("alice", "bob@example.net",
                                etree.tostring(request).decode())

    def stateOfAlice(self):
        item = self.roster.item("alice", "bob@example.net")
        pending = self.successResultOf(self.h.requests.get("alice", "bob@example.net"))
        return SubscriptionState.of(item, pending is not None)


class OutboundTests(SubscriptionTestCase):
    """
    RFC 6121 Appendix A.2: alice's client sends; her server routes or not
    and changes her roster.
    """

    def test_everyTransition(self):
        """
        Each row of Tables 2-5 through the router: the stanza reaches bob
        stamped with alice's bare JID exactly when the table says to route
        it, and alice's roster and pending request end in the new state.
        """
        for type, rows in OUTBOUND_TABLE.items():
            for before, (routed, after) in rows.items():
                with row(type, before):
                    self.roster.items.clear()
                    self.successResultOf(self.h.requests.clear("alice"))
                    self.setState(before)
                    alice = self.h.connect("alice@example.org/home", available=False)
                    self.h.send(alice, "<presence to='bob@example.net/phone' type='%s' id='s1'/>"
                                % (type,))
                    got = [p for p in presences(self.bob) if p.get("type") == type]
                    if routed:
                        [stanza] = got
                        self.assertEqual(stanza.get("from"), "alice@example.org")
                        self.assertEqual(stanza.get("to"), "bob@example.net")
                        self.assertEqual(stanza.get("id"), "s1")
                    else:
                        self.assertEqual(got, [])
                    self.assertEqual(self.stateOfAlice().name, after)
                    alice.close()

    def test_subscribePushesPendingOut(self):
        """
        §3.1.2: the roster item becomes subscription='none' ask='subscribe'
        (through IRoster, which pushes it).
        """
        alice = self.h.connect("alice@example.org/home")
        self.h.send(alice, "<presence to='bob@example.net' type='subscribe'/>")
        [(user, item)] = self.roster.pushes
        self.assertEqual((user, item.subscription, item.ask), ("alice", "none", True))

    def test_preApproval(self):
        """
        §3.4.2 rule 4: pre-approving an unknown contact makes an item
        with approved='true' and routes nothing.
        """
        alice = self.h.connect("alice@example.org/home")
        self.h.send(alice, "<presence to='bob@example.net' type='subscribed'/>")
        item = self.roster.item("alice", "bob@example.net")
        self.assertEqual((item.subscription, item.approved), ("none", True))
        self.assertEqual(presences(self.bob, "subscribed"), [])

    def test_approvalSendsCurrentPresence(self):
        """
        §3.1.5: after routing 'subscribed', the new subscriber gets the
        last presence of each available resource, from its full JID.
        """
        self.setState("None + Pending In")
        alice = self.h.connect("alice@example.org/home",
                               presence="<presence id='p1'><show>away</show></presence>")
        presences(self.bob)
        self.h.send(alice, "<presence to='bob@example.net' type='subscribed'/>")
        got = presences(self.bob)
        self.assertEqual([p.get("type") for p in got], ["subscribed", None])
        self.assertEqual(got[1].get("from"), "alice@example.org/home")
        self.assertEqual(got[1].get("id"), "p1")
        self.assertEqual(got[1].findtext("{jabber:client}show"), "away")
        self.assertEqual(self.roster.item("alice", "bob@example.net").subscription, "from")

    def test_cancelSendsUnavailableFirst(self):
        """
        §3.2.2: cancelling 'from' sends each available resource's
        unavailable presence before the 'unsubscribed'.
        """
        self.setState("Both")
        alice = self.h.connect("alice@example.org/home")
        presences(self.bob)
        self.h.send(alice, "<presence to='bob@example.net' type='unsubscribed'/>")
        got = presences(self.bob)
        self.assertEqual([(p.get("type"), p.get("from")) for p in got], [
            ("unavailable", "alice@example.org/home"),
            ("unsubscribed", "alice@example.org")])

    def test_serverGeneratedPassesThrough(self):
        """
        A subscription stanza the server routes itself (no origin session,
        e.g. the roster module's on item removal, §2.5.2) is routed as it
        is and changes no state here.
        """
        self.h.inject("<presence from='alice@example.org' to='bob@example.net' "
                      "type='unsubscribed'/>")
        self.assertEqual(len(presences(self.bob, "unsubscribed")), 1)
        self.assertEqual(self.roster.pushes, [])

    def test_beforeHoldingFilters(self):
        """
        An outbound filter (like privacy lists) that holds the client's
        stanza and routes it again later, without its origin session, does
        not hide it from the state machine.
        """
        held = []

        def holdingFilter(event):
            if event.origin is not None:
                held.append(event.stanza)
                return True
            return None
        self.h.host.events.hook(outboundEvent("presence"), holdingFilter, 1000)
        alice = self.h.connect("alice@example.org/home")
        self.h.send(alice, "<presence to='bob@example.net' type='subscribe'/>")
        for stanza in held:
            self.h.router.route(stanza)
        self.assertTrue(self.roster.item("alice", "bob@example.net").ask)
        self.assertEqual(len(presences(self.bob, "subscribe")), 1)

    def test_toSelfDropped(self):
        alice = self.h.connect("alice@example.org/home")
        alice.take()
        self.h.send(alice, "<presence to='alice@example.org' type='subscribe'/>")
        self.assertEqual(alice.take(), [])
        self.assertEqual(self.roster.pushes, [])

    def test_remoteContactBounced(self):
        """
        §3.1.2: a request that cannot be routed (no federation yet) comes
        back to the user as an error, and the state still records it.
        """
        alice = self.h.connect("alice@example.org/home")
        alice.take()
        self.h.send(alice, "<presence to='juliet@remote.example' type='subscribe' id='r1'/>")
        [error] = presences(alice, "error")
        self.assertEqual(stanzaErrorCondition(error), "remote-server-not-found")
        self.assertTrue(self.roster.item("alice", "juliet@remote.example").ask)


class InboundTests(SubscriptionTestCase):
    """
    RFC 6121 Appendix A.3: bob's server sends to alice; her server
    delivers or not, changes her state, and may answer for her.
    """

    def test_everyTransition(self):
        """
        Each row of Tables 6-9: delivered to alice's sessions exactly when
        the table says, the new state, and the auto-reply bob receives.
        """
        for type, rows in INBOUND_TABLE.items():
            for before, (delivered, after, reply) in rows.items():
                with row(type, before):
                    self.roster.items.clear()
                    self.successResultOf(self.h.requests.clear("alice"))
                    self.setState(before)
                    alice = self.h.connect("alice@example.org/home")
                    alice.take()
                    presences(self.bob)
                    self.h.inject("<presence from='bob@example.net' to='alice@example.org' "
                                  "type='%s' id='i1'/>" % (type,))
                    got = presences(alice, type)
                    if delivered:
                        [stanza] = got
                        self.assertEqual(stanza.get("from"), "bob@example.net")
                        self.assertEqual(stanza.get("to"), "alice@example.org")
                    else:
                        self.assertEqual(got, [])
                    self.assertEqual(self.stateOfAlice().name, after)
                    replies = presences(self.bob, reply) if reply else []
                    if reply:
                        [answer] = replies
                        self.assertEqual(answer.get("from"), "alice@example.org")
                        self.assertEqual(answer.get("id"), "i1")
                    alice.close()
                    presences(self.bob)

    def test_fullJIDTreatedAsBare(self):
        """
        §3.1.3: a request to a full JID is handled as to the bare JID: it
        reaches every available resource, addressed to the bare JID.
        """
        home = self.h.connect("alice@example.org/home")
        work = self.h.connect("alice@example.org/work")
        home.take(), work.take()
        self.h.inject("<presence from='bob@example.net' to='alice@example.org/work' "
                      "type='subscribe'/>")
        for session in (home, work):
            [request] = presences(session, "subscribe")
            self.assertEqual(request.get("to"), "alice@example.org")

    def test_subscribeOnlyToAvailable(self):
        """
        §3.1.3 rule 3: requests go to available resources only.
        """
        idle = self.h.connect("alice@example.org/idle", available=False)
        self.h.inject("<presence from='bob@example.net' to='alice@example.org' "
                      "type='subscribe'/>")
        self.assertEqual(presences(idle), [])

    def test_preApprovedAutoReply(self):
        """
        §3.4.2: a pre-approved request is answered 'subscribed' with the
        account's current presence, never delivered, and the state is
        'from' at once.
        """
        self.setState("None", approved=True)
        alice = self.h.connect("alice@example.org/home")
        alice.take()
        presences(self.bob)
        self.h.inject("<presence from='bob@example.net' to='alice@example.org' "
                      "type='subscribe'/>")
        self.assertEqual(presences(alice, "subscribe"), [])
        got = presences(self.bob)
        self.assertEqual([p.get("type") for p in got], ["subscribed", None])
        item = self.roster.item("alice", "bob@example.net")
        self.assertEqual((item.subscription, item.approved), ("from", False))

    def test_unsubscribeSendsUnavailable(self):
        """
        §3.3.3 step 3: when bob unsubscribes from alice, each of her
        available resources sends him unavailable presence.
        """
        self.setState("From")
        self.h.connect("alice@example.org/home")
        presences(self.bob)
        self.h.inject("<presence from='bob@example.net' to='alice@example.org' "
                      "type='unsubscribe'/>")
        got = [(p.get("type"), p.get("from")) for p in presences(self.bob)]
        self.assertEqual(got, [("unavailable", "alice@example.org/home"),
                               ("unsubscribed", "alice@example.org")])

    def test_deliveredToInterested(self):
        """
        §3.1.6 step 1: an approval goes to interested resources even when
        they are not available.
        """
        self.setState("None + Pending Out")
        session = self.h.connect("alice@example.org/roster", available=False, interested=True)
        self.h.inject("<presence from='bob@example.net' to='alice@example.org' "
                      "type='subscribed'/>")
        self.assertEqual(len(presences(session, "subscribed")), 1)

    def test_noSuchUserIgnored(self):
        """
        §8.5.1: subscription stanzas to a missing account are ignored and
        leave nothing stored.
        """
        self.h.host.auth = FakeAccounts({"alice"})
        self.h.inject("<presence from='bob@example.net' to='ghost@example.org' "
                      "type='subscribe'/>")
        self.assertEqual(self.successResultOf(self.h.requests.items("ghost")), {})

    def test_pendingLimit(self):
        """
        §3.1.3 security warning: beyond max_pending_requests, requests are
        ignored.
        """
        self.h.subscription._maxPending = 1
        alice = self.h.connect("alice@example.org/home")
        alice.take()
        for who in ("bob", "carol"):
            self.h.inject("<presence from='%s@example.net' to='alice@example.org' "
                          "type='subscribe'/>" % (who,))
        self.assertEqual(len(presences(alice, "subscribe")), 1)
        self.assertEqual(list(self.successResultOf(self.h.requests.items("alice"))),
                         ["bob@example.net"])


class PendingRequestTests(SubscriptionTestCase):
    """
    RFC 6121 §3.1.3 rule 4: requests are kept and delivered to every new
    available resource until answered.
    """

    def request(self):
        self.h.inject("<presence from='bob@example.net' to='alice@example.org' "
                      "type='subscribe' id='ask1'><status>Hi, it is Bob</status></presence>")

    def test_deliveredAtLoginUntilAnswered(self):
        self.request()
        first = self.h.connect("alice@example.org/home")
        [request] = presences(first, "subscribe")
        self.assertEqual(request.get("from"), "bob@example.net")
        self.assertEqual(request.get("id"), "ask1")
        self.assertEqual(request.findtext("{jabber:client}status"), "Hi, it is Bob")
        first.close()
        second = self.h.connect("alice@example.org/home")
        self.assertEqual(len(presences(second, "subscribe")), 1)
        self.h.send(second, "<presence to='bob@example.net' type='subscribed'/>")
        second.close()
        third = self.h.connect("alice@example.org/home")
        self.assertEqual(presences(third, "subscribe"), [])

    def test_onlyOnePerContact(self):
        """
        §3.1.3 rule 4: repeated requests from one contact are delivered once.
        """
        self.request()
        self.request()
        session = self.h.connect("alice@example.org/home")
        self.assertEqual(len(presences(session, "subscribe")), 1)

    def test_onlyToTheNewResource(self):
        """
        Re-delivery goes to the resource that became available, not again
        to those that already had it.
        """
        home = self.h.connect("alice@example.org/home")
        self.request()
        presences(home)
        work = self.h.connect("alice@example.org/work")
        self.assertEqual(len(presences(work, "subscribe")), 1)
        self.assertEqual(presences(home, "subscribe"), [])

    def test_withdrawnRequestForgotten(self):
        """
        §3.3.3: an unsubscribe from the requester removes the request.
        """
        self.request()
        self.h.inject("<presence from='bob@example.net' to='alice@example.org' "
                      "type='unsubscribe'/>")
        session = self.h.connect("alice@example.org/home")
        self.assertEqual(presences(session, "subscribe"), [])

    def test_othersNotRead(self):
        """
        The module knows who has pending requests (read once at load, then
        kept): a login of anyone else, or of someone whose requests were all
        answered, does not read the store.
        """
        reads = []
        items = self.h.requests.items
        self.patch(self.h.requests, "items", lambda user: reads.append(user) or items(user))
        self.h.connect("alice@example.org/home").close()
        self.assertEqual(reads, [])
        self.request()
        first = self.h.connect("alice@example.org/home")
        self.assertEqual(len(presences(first, "subscribe")), 1)
        self.h.send(first, "<presence to='bob@example.net' type='subscribed'/>")
        first.close()
        second = self.h.connect("alice@example.org/home")
        self.assertEqual(presences(second, "subscribe"), [])
        second.close()
        count = len(reads)
        self.h.connect("alice@example.org/work")
        self.assertEqual(len(reads), count)

    def test_requestsStoredBeforeLoad(self):
        """
        Requests stored by an earlier run of the server are delivered.
        """
        h = PresenceHarness(self, loadModules=False)
        request = ("<presence xmlns='jabber:client' from='bob@example.net' "
                   "to='alice@example.org' type='subscribe' id='old'/>")
        self.successResultOf(h.requests.set("alice", "bob@example.net", request))
        h.loadModules()
        session = h.connect("alice@example.org/home")
        [delivered] = presences(session, "subscribe")
        self.assertEqual(delivered.get("id"), "old")

    def test_accountRemoved(self):
        from xmppframe.events import ACCOUNT_REMOVED
        self.request()
        self.h.host.events.fireAll(ACCOUNT_REMOVED, "alice")
        self.assertEqual(self.successResultOf(self.h.requests.items("alice")), {})


class LocalHandshakeTests(unittest.TestCase):
    """
    Both accounts on the host with the modules: outbound processing on the
    sender's side, then inbound on the contact's, in one process.
    """

    def setUp(self):
        self.h = PresenceHarness(self)
        self.roster = self.h.roster

    def test_mutualSubscription(self):
        alice = self.h.connect("alice@example.org/home")
        bob = self.h.connect("bob@example.org/phone")
        alice.take(), bob.take()
        self.h.send(alice, "<presence to='bob@example.org' type='subscribe'/>")
        [request] = presences(bob, "subscribe")
        self.assertEqual(request.get("from"), "alice@example.org")
        self.h.send(bob, "<presence to='alice@example.org' type='subscribed'/>")
        got = presences(alice)
        self.assertEqual([(p.get("type"), p.get("from")) for p in got], [
            ("subscribed", "bob@example.org"), (None, "bob@example.org/phone")])
        self.assertEqual(self.roster.item("alice", "bob@example.org").subscription, "to")
        self.assertEqual(self.roster.item("bob", "alice@example.org").subscription, "from")
        self.h.send(bob, "<presence to='alice@example.org' type='subscribe'/>")
        self.h.send(alice, "<presence to='bob@example.org' type='subscribed'/>")
        self.assertEqual(self.roster.item("alice", "bob@example.org").subscription, "both")
        self.assertEqual(self.roster.item("bob", "alice@example.org").subscription, "both")
        self.assertFalse(self.roster.item("alice", "bob@example.org").ask)

    def test_preApprovedHandshake(self):
        """
        §3.4: bob pre-approves alice; her request is approved by his
        server without reaching him.
        """
        alice = self.h.connect("alice@example.org/home")
        bob = self.h.connect("bob@example.org/phone")
        self.h.send(bob, "<presence to='alice@example.org' type='subscribed'/>")
        alice.take(), bob.take()
        self.h.send(alice, "<presence to='bob@example.org' type='subscribe'/>")
        self.assertEqual(presences(bob, "subscribe"), [])
        self.assertEqual([p.get("type") for p in presences(alice)], ["subscribed", None])
        self.assertEqual(self.roster.item("alice", "bob@example.org").subscription, "to")

    def test_subscribedBeforePresenceWhenRosterIsSlow(self):
        """
        §3.1.6: the approval reaches alice before bob's presence, even when
        her roster answers later than his presence arrives.
        """
        self.roster.setItem("alice", "bob@example.org", ask=True)
        self.h.requests.set("bob", "alice@example.org", "<presence xmlns='jabber:client' "
                            "from='alice@example.org' to='bob@example.org' type='subscribe'/>")
        alice = self.h.connect("alice@example.org/home")
        bob = self.h.connect("bob@example.org/phone")
        alice.take()
        self.roster.paused = {"alice"}
        self.h.send(bob, "<presence to='alice@example.org' type='subscribed'/>")
        self.roster.release()
        self.assertEqual([p.get("type") for p in presences(alice)], ["subscribed", None])


class PreApprovalFeatureTests(unittest.TestCase):

    def test_offeredAfterAuthentication(self):
        """
        §3.4: the informative stream feature, offered with the post-SASL
        features.
        """
        class Stream:
            authenticated = "alice"
            jid = parseJID("alice@example.org")
        [feature] = PreApprovalFeature().offer(Stream())
        self.assertEqual(feature.tag, NS.qname(NS.PRE_APPROVAL, "sub"))
        Stream.authenticated = None
        self.assertEqual(PreApprovalFeature().offer(Stream()), [])
        self.assertEqual(PreApprovalFeature().handlers(Stream()), {})
