"""
Tests for L{xmppframe.modules.roster}: roster management (RFC 6121 §2),
roster versioning (RFC 6121 §2.6, XEP-0237) and the L{IRoster} service the
presence and blocking modules use; unit tests through the router with fake
sessions and in-memory storage, a restart test on SQLite, and end-to-end
tests with real slixmpp clients.
"""

import asyncio
import os

from lxml import etree

from zope.interface.verify import verifyObject

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from xmppframe.events import ACCOUNT_REMOVED, iqResponseEvent, outboundEvent
from xmppframe.interfaces import IModule, IRoster
from xmppframe.jid import InvalidJID, parseJID
from xmppframe.api.module import ModuleAPI
from xmppframe.modules.roster import ROSTER, ROSTER_VERSIONING, RosterModule
from xmppframe.rosteritem import RosterItem
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.storage.sqlite import SQLiteStorage

from tests.e2e import ClientTestCase, asDeferred, waitFor
from tests.fakes import FakeSession, makeHost, parse, stanzaErrorCondition

QUERY = "{%s}query" % (ROSTER,)
ITEM = "{%s}item" % (ROSTER,)
GROUP = "{%s}group" % (ROSTER,)
BOB = parseJID("bob@example.org")
NURSE = parseJID("nurse@example.com")
ROMEO = parseJID("romeo@example.net")


def itemXML(jid, name=None, groups=(), **attributes):
    attrs = " jid='%s'" % (jid,)
    if name is not None:
        attrs += " name='%s'" % (name,)
    for key, value in attributes.items():
        attrs += " %s='%s'" % (key, value)
    return "<item%s>%s</item>" % (attrs, "".join("<group>%s</group>" % g for g in groups))


def itemsOf(query):
    """
    The items of a roster query as comparable tuples:
    C{(jid, name, subscription, ask, approved, groups)}.
    """
    return [(item.get("jid"), item.get("name"), item.get("subscription"), item.get("ask"),
             item.get("approved"), tuple(group.text for group in item.findall(GROUP)))
            for item in query.findall(ITEM)]


class _SlowMapStore:
    """
    A map store whose answers come one clock tick later, so that
    concurrent changes really interleave.
    """

    def __init__(self, store, clock):
        self._store = store
        self._clock = clock

    def _later(self, d):
        later = defer.Deferred()
        d.addCallback(lambda value: self._clock.callLater(0.01, later.callback, value))
        return later

    def get(self, user, key):
        return self._later(self._store.get(user, key))

    def set(self, user, key, value):
        return self._later(self._store.set(user, key, value))

    def delete(self, user, key):
        return self._later(self._store.delete(user, key))

    def items(self, user):
        return self._later(self._store.items(user))

    def clear(self, user):
        return self._later(self._store.clear(user))


class RosterTestCase(unittest.TestCase):
    """
    A host with the roster module, alice with two bound resources (home,
    phone), and bob with one; the router is real.
    """

    options = {}

    def setUp(self):
        self.clock = task.Clock()
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = makeHost("example.org")
        self.router.addHost(self.host)
        self.module = self.loadModule(self.host.storage)
        self.home = self.bind("alice@example.org", "home")
        self.phone = self.bind("alice@example.org", "phone")
        self.bob = self.bind("bob@example.org", "desk")
        self.routed = []

    def loadModule(self, storage, options=None):
        api = ModuleAPI("roster", self.host, self.router, self.sessions, storage, self.clock,
                        self.options if options is None else options)
        module = RosterModule(api)
        module.load()
        self.host.modules["roster"] = module
        self.addCleanup(module.unload)
        return module

    def bind(self, bare, resource, available=True):
        session = FakeSession(bare, host=self.host, available=available, manager=self.sessions)
        self.sessions.bind(session, resource)
        return session

    def captureRoutedPresence(self):
        """
        Record (and stop) the presence stanzas the server routes on the
        accounts' behalf, as the outbound filter sees them.
        """
        def record(event):
            if event.origin is None:
                self.routed.append(event.stanza)
                return True
            return None
        self.host.events.hook(outboundEvent("presence"), record)

    def send(self, session, text):
        stanza = parse(text)
        self.router.process(session, stanza)
        return stanza

    def rosterGet(self, session, ver=None, id="g1", to=None):
        verAttr = "" if ver is None else " ver='%s'" % (ver,)
        toAttr = "" if to is None else " to='%s'" % (to,)
        self.send(session, "<iq type='get' id='%s'%s><query xmlns='%s'%s/></iq>"
                  % (id, toAttr, ROSTER, verAttr))

    def rosterSet(self, session, item, id="s1", to=None):
        toAttr = "" if to is None else " to='%s'" % (to,)
        self.send(session, "<iq type='set' id='%s'%s><query xmlns='%s'>%s</query></iq>"
                  % (id, toAttr, ROSTER, item))

    def fetchRoster(self, session, ver=None):
        """
        Get the roster as C{session}, and return the result's query (or
        C{None} for an empty result) and the pushes that followed.
        """
        self.rosterGet(session, ver=ver)
        [result, *pushes] = session.take()
        self.assertEqual(result.get("type"), "result", etree.tostring(result))
        self.assertEqual(result.get("id"), "g1")
        return (result[0] if len(result) else None), pushes

    def assertResult(self, stanza, id="s1"):
        self.assertEqual(stanza.get("type"), "result", etree.tostring(stanza))
        self.assertEqual(stanza.get("id"), id)
        self.assertEqual(len(stanza), 0)

    def assertError(self, session, condition, id="s1"):
        [reply] = session.take()
        self.assertEqual(stanzaErrorCondition(reply), condition, etree.tostring(reply))
        self.assertEqual(reply.get("id"), id)
        return reply

    def assertPush(self, stanza, session):
        """
        C{stanza} is a roster push to C{session} (RFC 6121 §2.1.6): an iq
        set with an id, no 'from', addressed to the session's full JID,
        with one item and a 'ver'.

        @return: C{(item element, ver)}.
        """
        self.assertEqual(stanza.tag, "{jabber:client}iq")
        self.assertEqual(stanza.get("type"), "set")
        self.assertIsNone(stanza.get("from"))
        self.assertEqual(stanza.get("to"), session.jid.full)
        self.assertTrue(stanza.get("id"))
        [query] = stanza
        self.assertEqual(query.tag, QUERY)
        [item] = query
        self.assertTrue(query.get("ver"))
        return item, query.get("ver")

    def interested(self, *sessions):
        for session in sessions:
            self.rosterGet(session)
            session.take()

    def version(self):
        """
        The roster's current version, as a separate resource of alice's
        sees it in a roster result.
        """
        probe = self.sessions.sessionFor(parseJID("alice@example.org/probe"))
        if probe is None:
            probe = self.bind("alice@example.org", "probe")
        probe.take()
        self.rosterGet(probe)
        [result] = probe.take()
        return result[0].get("ver")


class InterfaceTests(RosterTestCase):

    def test_interfaces(self):
        self.assertTrue(verifyObject(IRoster, self.module))
        self.assertTrue(verifyObject(IModule, self.module))
        self.assertEqual(self.module.name, "roster")

    def test_streamFeature(self):
        """
        RFC 6121 §2.6.1: roster versioning is advertised as a stream
        feature, with resource binding (XEP-0237 §2), and withdrawn on
        unload.
        """
        [responder] = self.host.responders

        class Stream:
            authenticated = "alice"
            jid = parseJID("alice@example.org")
            host = self.host

        [offer] = responder.offer(Stream)
        self.assertEqual(offer.tag, "{%s}ver" % (ROSTER_VERSIONING,))
        self.assertEqual(responder.handlers(Stream), {})
        Stream.jid = parseJID("alice@example.org/home")
        self.assertEqual(responder.offer(Stream), [])
        Stream.authenticated = None
        Stream.jid = None
        self.assertEqual(responder.offer(Stream), [])
        self.module.unload()
        self.assertEqual(self.host.responders, [])


class RosterGetTests(RosterTestCase):

    def test_emptyRoster(self):
        """
        RFC 6121 §2.1.4: an empty roster is a result with an empty query,
        with a 'ver' even when the client sent none (§2.6.3), and the
        session becomes an interested resource (§2.2).
        """
        self.assertFalse(self.home.interested)
        query, pushes = self.fetchRoster(self.home)
        self.assertEqual(query.tag, QUERY)
        self.assertEqual(len(query), 0)
        self.assertTrue(query.get("ver"))
        self.assertEqual(pushes, [])
        self.assertTrue(self.home.interested)
        self.assertFalse(self.phone.interested)

    @defer.inlineCallbacks
    def test_items(self):
        """
        RFC 6121 §2.1.2: each item has its jid, name, subscription, ask
        (Pending Out, §2.1.2.2), approved (§2.1.2.1) and groups.
        """
        self.rosterSet(self.home, itemXML(NURSE, "Nurse", ["Servants", "Family"]))
        self.home.take()
        yield self.module.updateSubscription("alice", ROMEO, subscription="from", ask=True,
                                             approved=True)
        query, _ = self.fetchRoster(self.home)
        self.assertEqual(itemsOf(query), [
            ("nurse@example.com", "Nurse", "none", None, None, ("Servants", "Family")),
            ("romeo@example.net", None, "from", "subscribe", "true", ()),
        ])

    def test_toOwnBareJID(self):
        """
        A roster get addressed to the account's own bare JID is the same as
        one with no 'to' (RFC 6121 §2.6.2 example).
        """
        self.rosterGet(self.home, to="alice@example.org")
        [result] = self.home.take()
        self.assertEqual(result.get("type"), "result")
        self.assertEqual(result[0].tag, QUERY)

    def test_otherAccountForbidden(self):
        """
        RFC 6121 §2.1.5, §2.3.3: only the account itself may read or change
        its roster.
        """
        self.rosterGet(self.home, to="bob@example.org")
        self.assertError(self.home, "forbidden", id="g1")
        self.rosterSet(self.home, itemXML(NURSE), to="bob@example.org")
        self.assertError(self.home, "forbidden")
        self.assertEqual(self.bob.take(), [])

    def test_itemsInGet(self):
        """
        RFC 6121 §2.1.3: a roster get contains no items.
        """
        self.send(self.home, "<iq type='get' id='g1'><query xmlns='%s'>%s</query></iq>"
                  % (ROSTER, itemXML(NURSE)))
        self.assertError(self.home, "bad-request", id="g1")

    def test_pushAnswersSwallowed(self):
        """
        RFC 6121 §2.1.6: the results (and errors, which the server SHOULD
        ignore) clients send for pushes are dropped, not passed on.
        """
        self.interested(self.home)
        self.rosterSet(self.home, itemXML(NURSE))
        [_, push] = self.home.take()
        seen = []
        self.host.events.hook(iqResponseEvent("self"), seen.append, priority=-10)
        self.send(self.home, "<iq type='result' id='%s'/>" % (push.get("id"),))
        self.send(self.home, "<iq type='error' id='%s'><error type='cancel'>"
                  "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                  "</error></iq>" % (push.get("id"),))
        self.assertEqual(seen, [])
        self.assertEqual(self.home.take(), [])
        self.send(self.home, "<iq type='result' id='someone-elses'/>")
        self.assertEqual(len(seen), 1)


class RosterSetTests(RosterTestCase):

    def test_addPushedToInterestedResources(self):
        """
        RFC 6121 §2.3.2: the setter gets a result, then every interested
        resource (the setter included) a push; a resource that never asked
        for the roster gets nothing.
        """
        self.interested(self.home)
        self.rosterSet(self.home, itemXML(NURSE, "Nurse", ["Servants"]))
        [result, push] = self.home.take()
        self.assertResult(result)
        item, ver = self.assertPush(push, self.home)
        self.assertEqual(itemsOf(item.getparent()),
                         [("nurse@example.com", "Nurse", "none", None, None, ("Servants",))])
        self.assertEqual(self.phone.take(), [])
        self.interested(self.phone)
        self.rosterSet(self.phone, itemXML(ROMEO))
        [result, pushToPhone] = self.phone.take()
        self.assertResult(result)
        [pushToHome] = self.home.take()
        self.assertEqual(self.assertPush(pushToHome, self.home)[0].get("jid"), "romeo@example.net")
        self.assertEqual(self.assertPush(pushToPhone, self.phone)[0].get("jid"),
                         "romeo@example.net")
        self.assertNotEqual(pushToHome.get("id"), pushToPhone.get("id"))
        self.assertEqual(self.bob.take(), [])

    def test_versionsIncrease(self):
        """
        RFC 6121 §2.6.3: each push carries a new, unique version, which is
        the roster's version afterwards.
        """
        self.interested(self.home)
        versions = [self.version()]
        for contact in (NURSE, ROMEO, NURSE):
            self.rosterSet(self.home, itemXML(contact, name=str(len(versions))))
            [_, push] = self.home.take()
            versions.append(self.assertPush(push, self.home)[1])
            self.assertEqual(self.version(), versions[-1])
        self.assertEqual(len(set(versions)), 4)

    @defer.inlineCallbacks
    def test_updateKeepsSubscription(self):
        """
        RFC 6121 §2.4: an update replaces name and groups exactly as given,
        and §2.1.5 rule 2 / §2.1.2.1-2: the subscription, ask and approved
        a client sends are ignored; the stored state stays.
        """
        yield self.module.updateSubscription("alice", ROMEO, subscription="both")
        self.interested(self.home)
        self.rosterSet(self.home, itemXML(ROMEO, "Romeo", ["Friends", "Lovers"],
                                          subscription="none", ask="subscribe", approved="true"))
        [result, push] = self.home.take()
        self.assertResult(result)
        item, _ = self.assertPush(push, self.home)
        self.assertEqual(item.get("subscription"), "both")
        self.assertIsNone(item.get("ask"))
        self.assertIsNone(item.get("approved"))
        self.rosterSet(self.home, itemXML(ROMEO, name=""))
        self.home.take()
        stored = yield self.module.getItem("alice", ROMEO)
        self.assertEqual(stored, RosterItem(ROMEO, None, (), "both"))

    def test_unchangedNoPush(self):
        """
        Setting an item to what it already is is not a roster modification
        (RFC 6121 §2.6.3 definition): a result, no push, no new version.
        """
        self.interested(self.home)
        self.rosterSet(self.home, itemXML(NURSE, "Nurse"))
        self.home.take()
        before = self.version()
        self.rosterSet(self.home, itemXML(NURSE, "Nurse"))
        [result] = self.home.take()
        self.assertResult(result)
        self.assertEqual(self.version(), before)

    def assertRefused(self, item, condition, query=None):
        self.interested(self.home)
        if query is None:
            self.rosterSet(self.home, item)
        else:
            self.send(self.home, "<iq type='set' id='s1'><query xmlns='%s'>%s</query></iq>"
                      % (ROSTER, query))
        reply = self.assertError(self.home, condition)
        self.assertEqual(reply.get("to"), "alice@example.org/home")
        self.assertEqual(self.module.getItems("alice").result, [])
        self.assertEqual(self.phone.take(), [])

    def test_noItem(self):
        """
        RFC 6121 §2.1.5 rule 1: exactly one item.
        """
        self.assertRefused(None, "bad-request", query="")

    def test_twoItems(self):
        """
        RFC 6121 §2.3.3 bad-request case 1.
        """
        self.assertRefused(None, "bad-request", query=itemXML(NURSE) + itemXML(ROMEO))

    def test_noJID(self):
        """
        RFC 6121 §2.1.2.3: 'jid' is required.
        """
        self.assertRefused("<item name='x'/>", "bad-request")

    def test_malformedJID(self):
        self.assertRefused(itemXML("@example.com"), "jid-malformed")
        self.assertRefused(itemXML("a@b@c d"), "jid-malformed")

    def test_fullJID(self):
        """
        Roster items are bare JIDs.
        """
        self.assertRefused(itemXML("nurse@example.com/balcony"), "jid-malformed")

    def test_ownJID(self):
        """
        RFC 6121 §2.3.3 interoperability note: an account's own bare JID is
        not-allowed.
        """
        self.assertRefused(itemXML("alice@example.org"), "not-allowed")
        self.assertRefused(itemXML("Alice@Example.ORG"), "not-allowed")

    def test_duplicateGroups(self):
        """
        RFC 6121 §2.3.3 bad-request case 2, comparing names after Unicode
        normalisation.
        """
        self.assertRefused(itemXML(NURSE, groups=["Servants", "Servants"]), "bad-request")
        self.assertRefused(itemXML(NURSE, groups=["Caf\u00e9", "Cafe\u0301"]), "bad-request")

    def test_emptyGroup(self):
        """
        RFC 6121 §2.3.3 not-acceptable case 2.
        """
        self.assertRefused(itemXML(NURSE, groups=[""]), "not-acceptable")

    def test_longName(self):
        """
        RFC 6121 §2.3.3 not-acceptable case 1: the handle is longer than
        the configured limit.
        """
        self.assertRefused(itemXML(NURSE, name="n" * 1024), "not-acceptable")

    def test_longGroup(self):
        """
        RFC 6121 §2.3.3 not-acceptable case 3.
        """
        self.assertRefused(itemXML(NURSE, groups=["g" * 1024]), "not-acceptable")

    def test_tooManyGroups(self):
        self.assertRefused(itemXML(NURSE, groups=[str(i) for i in range(65)]), "not-acceptable")

    def test_limitsAtTheirMaximum(self):
        self.interested(self.home)
        self.rosterSet(self.home, itemXML(NURSE, name="n" * 1023,
                                          groups=["g" * 1023] + [str(i) for i in range(63)]))
        [result, push] = self.home.take()
        self.assertResult(result)


class LimitTests(RosterTestCase):

    options = {"max_items": 2}

    def test_tooManyItems(self):
        """
        A roster holds max_items items; adding one more is a
        policy-violation, updating an existing one is still fine.
        """
        self.rosterSet(self.home, itemXML(NURSE))
        self.rosterSet(self.home, itemXML(ROMEO))
        self.home.take()
        self.rosterSet(self.home, itemXML("tybalt@example.org"))
        self.assertError(self.home, "policy-violation")
        self.rosterSet(self.home, itemXML(ROMEO, "Romeo"))
        [result] = self.home.take()
        self.assertResult(result)


class RosterRemoveTests(RosterTestCase):

    def setUp(self):
        RosterTestCase.setUp(self)
        self.captureRoutedPresence()

    def remove(self, contact):
        self.rosterSet(self.home, itemXML(contact, subscription="remove"))

    def test_removePushed(self):
        """
        RFC 6121 §2.5.2: a result, then a push with subscription='remove'
        to every interested resource; the item is gone.
        """
        self.rosterSet(self.home, itemXML(NURSE, "Nurse", ["Servants"]))
        self.interested(self.home, self.phone)
        self.remove(NURSE)
        [result, push] = self.home.take()
        self.assertResult(result)
        item, _ = self.assertPush(push, self.home)
        self.assertEqual(dict(item.attrib), {"jid": "nurse@example.com", "subscription": "remove"})
        self.assertEqual(len(item), 0)
        [push] = self.phone.take()
        self.assertPush(push, self.phone)
        self.assertIsNone(self.module.getItem("alice", NURSE).result)
        # §2.5.2: no subscription either way, so no presence.
        self.assertEqual(self.routed, [])

    def test_removeUnknown(self):
        """
        RFC 6121 §2.5.3: removing an item that is not there is
        item-not-found.
        """
        self.interested(self.phone)
        self.remove(NURSE)
        reply = self.assertError(self.home, "item-not-found")
        self.assertEqual(reply.find("{jabber:client}error").get("type"), "modify")
        self.assertEqual(self.phone.take(), [])

    def routedSummary(self):
        return [(p.get("from"), p.get("to"), p.get("type")) for p in self.routed]

    @defer.inlineCallbacks
    def test_removeMutual(self):
        """
        RFC 6121 §2.5.2 case 3: with a mutual subscription both unsubscribe
        and unsubscribed go to the contact from the account's bare JID,
        and (§3.2.2) each available resource's unavailable presence before
        the unsubscribed.
        """
        offline = self.bind("alice@example.org", "laptop", available=False)
        yield self.module.updateSubscription("alice", BOB, subscription="both")
        self.remove(BOB)
        self.assertEqual(self.routedSummary(), [
            ("alice@example.org", "bob@example.org", "unsubscribe"),
            ("alice@example.org/home", "bob@example.org", "unavailable"),
            ("alice@example.org/phone", "bob@example.org", "unavailable"),
            ("alice@example.org", "bob@example.org", "unsubscribed"),
        ])
        self.assertTrue(all(p.get("id") for p in self.routed))
        self.assertEqual(offline.take(), [])

    @defer.inlineCallbacks
    def test_removeTo(self):
        """
        RFC 6121 §2.5.2 case 1: subscribed to the contact: unsubscribe only.
        """
        yield self.module.updateSubscription("alice", ROMEO, subscription="to")
        self.remove(ROMEO)
        self.assertEqual(self.routedSummary(), [
            ("alice@example.org", "romeo@example.net", "unsubscribe")])

    @defer.inlineCallbacks
    def test_removeFrom(self):
        """
        RFC 6121 §2.5.2 case 2: the contact was subscribed: unavailable
        presence, then unsubscribed.
        """
        yield self.module.updateSubscription("alice", ROMEO, subscription="from")
        self.home.available = False
        self.remove(ROMEO)
        self.assertEqual(self.routedSummary(), [
            ("alice@example.org/phone", "romeo@example.net", "unavailable"),
            ("alice@example.org", "romeo@example.net", "unsubscribed")])

    @defer.inlineCallbacks
    def test_removePending(self):
        """
        A pending outbound request (ask, §3.1.2) is cancelled with
        unsubscribe (§3.3.1); a pre-approval (§3.4) just goes with the
        item: §3.2.2 rule 2 says its unsubscribed is not routed.
        """
        yield self.module.updateSubscription("alice", ROMEO, ask=True, approved=True)
        self.remove(ROMEO)
        self.assertEqual(self.routedSummary(), [
            ("alice@example.org", "romeo@example.net", "unsubscribe")])


    @defer.inlineCallbacks
    def test_accountRemoved(self):
        """
        XEP-0077 §3.2: when an account is removed its subscriptions are
        cancelled and its roster forgotten; a new account of the same name
        starts with an empty roster.
        """
        yield self.module.updateSubscription("alice", BOB, subscription="to")
        yield self.module.updateSubscription("alice", ROMEO, subscription="from")
        self.rosterSet(self.home, itemXML(NURSE))
        for session in (self.home, self.phone):
            session.available = False
        self.host.events.fireAll(ACCOUNT_REMOVED, "alice")
        self.assertEqual(sorted(self.routedSummary()), [
            ("alice@example.org", "bob@example.org", "unsubscribe"),
            ("alice@example.org", "romeo@example.net", "unsubscribed")])
        self.assertEqual((yield self.module.getItems("alice")), [])
        self.assertEqual((yield self.module.getItems("bob")), [])
        self.assertIsNone((yield self.module.store.versions.get("alice")))


class RemoveDeliveryTests(RosterTestCase):

    @defer.inlineCallbacks
    def test_localContactGetsPresence(self):
        """
        The router delivers a removal's cancellations (RFC 6121 §2.5.2) to
        a local contact.
        """
        yield self.module.updateSubscription("alice", BOB, subscription="both")
        self.rosterSet(self.home, itemXML(BOB, subscription="remove"))
        types = [p.get("type") for p in self.bob.take()]
        self.assertEqual(types, ["unsubscribe", "unavailable", "unavailable", "unsubscribed"])


class VersioningTests(RosterTestCase):
    """
    RFC 6121 §2.6.3: a client's cached version gets an empty result and
    interim pushes of what changed since, or the whole roster when the
    version cannot be answered that way.
    """

    options = {"max_tombstones": 2}

    def setUp(self):
        RosterTestCase.setUp(self)
        for i in range(6):
            self.rosterSet(self.phone, itemXML("c%d@example.com" % (i,)))
        self.phone.take()
        self.cached = self.version()

    def test_noVersion(self):
        query, pushes = self.fetchRoster(self.home)
        self.assertEqual(len(query), 6)
        self.assertEqual(query.get("ver"), self.cached)
        self.assertEqual(pushes, [])

    def test_emptyVersion(self):
        """
        §2.6.2: ver='' bootstraps versioning: the whole roster with the
        current version.
        """
        query, pushes = self.fetchRoster(self.home, ver="")
        self.assertEqual(len(query), 6)
        self.assertEqual(query.get("ver"), self.cached)

    def test_currentVersion(self):
        """
        §2.6.3: an unmodified roster: an empty result and no pushes; the
        session is still interested.
        """
        query, pushes = self.fetchRoster(self.home, ver=self.cached)
        self.assertIsNone(query)
        self.assertEqual(pushes, [])
        self.assertTrue(self.home.interested)

    def test_interimPushes(self):
        """
        §2.6.3: one push per item changed since the cached version, only
        its final state, in order of modification, each with its version,
        removals included.
        """
        self.rosterSet(self.phone, itemXML("c1@example.com", "one"))
        self.rosterSet(self.phone, itemXML("c2@example.com", subscription="remove"))
        self.rosterSet(self.phone, itemXML("c1@example.com", "uno"))
        self.rosterSet(self.phone, itemXML("new@example.com"))
        self.phone.take()
        current = self.version()
        query, pushes = self.fetchRoster(self.home, ver=self.cached)
        self.assertIsNone(query)
        summary = []
        versions = []
        for push in pushes:
            item, ver = self.assertPush(push, self.home)
            summary.append((item.get("jid"), item.get("name"), item.get("subscription")))
            versions.append(ver)
        self.assertEqual(summary, [
            ("c2@example.com", None, "remove"),
            ("c1@example.com", "uno", "none"),
            ("new@example.com", None, "none"),
        ])
        self.assertEqual(versions[-1], current)
        self.assertEqual(len(set(versions)), 3)
        self.assertTrue(self.home.interested)

    def test_readded(self):
        """
        An item removed and added again is pushed once, as it is now.
        """
        self.rosterSet(self.phone, itemXML("c2@example.com", subscription="remove"))
        self.rosterSet(self.phone, itemXML("c2@example.com", "back"))
        query, pushes = self.fetchRoster(self.home, ver=self.cached)
        self.assertIsNone(query)
        [push] = pushes
        self.assertEqual(self.assertPush(push, self.home)[0].get("name"), "back")

    def test_unknownVersions(self):
        """
        §2.6.3: a version the server cannot associate with one it has on
        file gets the whole roster: garbage, another epoch, the future.
        """
        epoch, _, number = self.cached.rpartition("-")
        for ver in ("garbage", "x-1", "%s-%d" % (epoch, int(number) + 1), epoch + "-",
                    epoch + "--1"):
            query, pushes = self.fetchRoster(self.home, ver=ver)
            self.assertEqual(len(query), 6, ver)
            self.assertEqual(query.get("ver"), self.cached)
            self.assertEqual(pushes, [])

    def test_olderThanTombstones(self):
        """
        Only max_tombstones removals are remembered: a version from before
        the forgotten ones gets the whole roster; a later one still gets
        pushes.
        """
        for i in range(3):
            self.rosterSet(self.phone, itemXML("c%d@example.com" % (i,), subscription="remove"))
            if i == 0:
                afterFirst = self.version()
        query, pushes = self.fetchRoster(self.home, ver=self.cached)
        self.assertEqual(len(query), 3)
        self.assertEqual(pushes, [])
        query, pushes = self.fetchRoster(self.home, ver=afterFirst)
        self.assertIsNone(query)
        self.assertEqual([self.assertPush(p, self.home)[0].get("jid") for p in pushes],
                         ["c1@example.com", "c2@example.com"])

    def test_moreChangesThanItems(self):
        """
        §2.6.3: when pushes would cost more than the whole roster, the
        whole roster it is.
        """
        for i in range(6):
            self.rosterSet(self.phone, itemXML("c%d@example.com" % (i,), name="x"))
        self.rosterSet(self.phone, itemXML("c0@example.com", subscription="remove"))
        self.rosterSet(self.phone, itemXML("c1@example.com", subscription="remove"))
        query, pushes = self.fetchRoster(self.home, ver=self.cached)
        self.assertEqual(len(query), 4)


class IRosterTests(RosterTestCase):

    @defer.inlineCallbacks
    def test_updateSubscriptionCreates(self):
        """
        L{IRoster.updateSubscription} creates a missing item (no name, no
        groups) and pushes it to interested resources.
        """
        self.interested(self.home)
        item = yield self.module.updateSubscription("alice", ROMEO, ask=True)
        self.assertEqual(item, RosterItem(ROMEO, ask=True))
        [push] = self.home.take()
        pushed, _ = self.assertPush(push, self.home)
        self.assertEqual(dict(pushed.attrib),
                         {"jid": "romeo@example.net", "subscription": "none", "ask": "subscribe"})
        self.assertEqual(self.phone.take(), [])
        items = yield self.module.getItems("alice")
        self.assertEqual(items, [item])

    @defer.inlineCallbacks
    def test_updateOnlyGivenFields(self):
        self.rosterSet(self.home, itemXML(ROMEO, "Romeo", ["Friends"]))
        yield self.module.updateSubscription("alice", ROMEO, subscription="to", ask=True)
        item = yield self.module.updateSubscription("alice", "romeo@example.net", ask=False)
        self.assertEqual(item, RosterItem(ROMEO, "Romeo", ("Friends",), "to"))
        item = yield self.module.updateSubscription("alice", ROMEO, approved=True)
        self.assertEqual(item, RosterItem(ROMEO, "Romeo", ("Friends",), "to", approved=True))
        self.assertEqual((yield self.module.getItem("alice", ROMEO)), item)

    @defer.inlineCallbacks
    def test_updateUnchanged(self):
        """
        No change: no push, no new version.
        """
        yield self.module.updateSubscription("alice", ROMEO, subscription="from")
        self.interested(self.home)
        before = self.version()
        item = yield self.module.updateSubscription("alice", ROMEO, subscription="from")
        self.assertEqual(item.subscription, "from")
        self.assertEqual(self.home.take(), [])
        self.assertEqual(self.version(), before)

    def test_badArguments(self):
        """
        Bad arguments fail the returned Deferred.
        """
        d = self.module.updateSubscription("alice", ROMEO, subscription="remove")
        self.failureResultOf(d, ValueError)
        for method in (self.module.getItem, self.module.updateSubscription,
                       self.module.removeItem):
            self.failureResultOf(method("alice", "@bad"), InvalidJID)

    @defer.inlineCallbacks
    def test_removeItem(self):
        yield self.module.updateSubscription("alice", ROMEO, subscription="both")
        self.interested(self.home)
        self.captureRoutedPresence()
        removed = yield self.module.removeItem("alice", ROMEO)
        self.assertTrue(removed)
        [push] = self.home.take()
        self.assertEqual(self.assertPush(push, self.home)[0].get("subscription"), "remove")
        self.assertIsNone((yield self.module.getItem("alice", ROMEO)))
        self.assertFalse((yield self.module.removeItem("alice", ROMEO)))
        self.assertEqual(self.home.take(), [])
        # The caller handles presence; removeItem sends none.
        self.assertEqual(self.routed, [])

    def test_rostersAreSeparate(self):
        self.rosterSet(self.home, itemXML(NURSE))
        self.assertEqual(self.module.getItems("bob").result, [])
        self.assertEqual(len(self.module.getItems("alice").result), 1)


class _CountingMapStore:
    """
    A map store that counts the reads that reach it.
    """

    def __init__(self, store):
        self._store = store
        self.reads = 0

    def get(self, user, key):
        self.reads += 1
        return self._store.get(user, key)

    def items(self, user):
        self.reads += 1
        return self._store.items(user)

    def __getattr__(self, name):
        return getattr(self._store, name)


class OnlineRosterTests(RosterTestCase):
    """
    The roster of an account with a bound session is kept in memory, so
    that presence broadcasts and probes do not read storage each time; it
    follows every change the module stores and is dropped with the
    account's last session.
    """

    def setUp(self):
        RosterTestCase.setUp(self)
        self.store = self.module._items = _CountingMapStore(self.module._items)

    @defer.inlineCallbacks
    def test_readsFromMemoryWhileOnline(self):
        yield self.module.updateSubscription("alice", ROMEO, subscription="both")
        self.assertEqual(self.successResultOf(self.module.getItems("alice")),
                         [RosterItem(ROMEO, subscription="both")])
        reads = self.store.reads
        for _ in range(3):
            self.assertEqual(self.successResultOf(self.module.getItem("alice", ROMEO)),
                             RosterItem(ROMEO, subscription="both"))
            self.assertEqual(len(self.successResultOf(self.module.getItems("alice"))), 1)
        self.assertEqual(self.store.reads, reads)

    @defer.inlineCallbacks
    def test_followsChanges(self):
        """
        Roster sets, subscription updates and removals show in memory.
        """
        self.successResultOf(self.module.getItems("alice"))
        self.rosterSet(self.home, itemXML(NURSE, "Nurse"))
        yield self.module.updateSubscription("alice", ROMEO, subscription="to")
        self.assertEqual(sorted(self.successResultOf(self.module.getItems("alice")),
                                key=lambda item: item.jid.full),
                         [RosterItem(NURSE, "Nurse"), RosterItem(ROMEO, subscription="to")])
        yield self.module.removeItem("alice", ROMEO)
        self.assertIsNone(self.successResultOf(self.module.getItem("alice", ROMEO)))
        self.assertEqual(self.successResultOf(self.module.getItems("alice")),
                         [RosterItem(NURSE, "Nurse")])

    @defer.inlineCallbacks
    def test_droppedWithLastSession(self):
        """
        The roster stays in memory while any resource is bound, and is
        read from storage again once the account is offline.
        """
        yield self.module.updateSubscription("alice", ROMEO, subscription="from")
        self.successResultOf(self.module.getItems("alice"))
        self.sessions.unbind(self.home)
        self.assertIsNotNone(self.module.store.online.get("alice"))
        self.sessions.unbind(self.phone)
        self.assertIsNone(self.module.store.online.get("alice"))
        reads = self.store.reads
        self.assertEqual(self.successResultOf(self.module.getItem("alice", ROMEO)),
                         RosterItem(ROMEO, subscription="from"))
        self.assertEqual(self.store.reads, reads + 1)
        self.assertIsNone(self.module.store.online.get("alice"))

    def test_offlineAccountNotKept(self):
        self.assertEqual(self.successResultOf(self.module.getItems("carol")), [])
        self.assertIsNone(self.module.store.online.get("carol"))

    def test_loadedOnBind(self):
        """
        Binding an account's first session loads its roster.
        """
        self.bind("dave@example.org", "laptop")
        self.assertEqual(self.module.store.online.get("dave"), {})

    @defer.inlineCallbacks
    def test_accountRemoved(self):
        yield self.module.updateSubscription("alice", ROMEO, subscription="none")
        self.host.events.fireAll(ACCOUNT_REMOVED, "alice")
        self.assertEqual(self.successResultOf(self.module.getItems("alice")), [])


class ConcurrencyTests(RosterTestCase):
    """
    Concurrent changes of one roster are serialised per account, so none
    is lost (the storage answers a tick later here, so they interleave).
    """

    def setUp(self):
        RosterTestCase.setUp(self)
        self.module.unload()
        self.module = self.loadModule(self.host.storage)
        self.module._items = _SlowMapStore(self.module._items, self.clock)

    def settle(self):
        for _ in range(100):
            self.clock.advance(0.01)

    def test_sameItem(self):
        self.interested(self.home)
        self.settle()
        self.home.take()
        first = self.module.updateSubscription("alice", ROMEO, subscription="to")
        second = self.module.updateSubscription("alice", ROMEO, ask=True)
        third = self.module.updateSubscription("alice", ROMEO, approved=True)
        self.settle()
        self.assertEqual(self.successResultOf(third),
                         RosterItem(ROMEO, subscription="to", ask=True, approved=True))
        self.assertEqual(self.successResultOf(first).subscription, "to")
        self.successResultOf(second)
        pushes = self.home.take()
        self.assertEqual(len(pushes), 3)
        versions = [self.assertPush(p, self.home)[1] for p in pushes]
        self.assertEqual(len(set(versions)), 3)
        self.assertEqual(len(self.module._locks), 0)

    def test_rosterSetAndUpdate(self):
        self.rosterSet(self.home, itemXML(ROMEO, "Romeo"))
        update = self.module.updateSubscription("alice", ROMEO, subscription="both")
        self.rosterSet(self.home, itemXML(NURSE))
        self.settle()
        self.successResultOf(update)
        items = self.module.getItems("alice")
        self.settle()
        items = self.successResultOf(items)
        self.assertEqual(sorted(items, key=lambda item: item.jid.full), [
            RosterItem(NURSE), RosterItem(ROMEO, "Romeo", subscription="both")])
        self.assertEqual(len(self.module._locks), 0)


class ErrorTests(RosterTestCase):

    def test_storageFailure(self):
        """
        A storage failure is an internal-server-error reply and a logged
        failure, never a traceback to the client.
        """
        class Broken:
            def __getattr__(self, name):
                return lambda *args: defer.fail(RuntimeError("disk on fire"))
        self.module._items = Broken()
        self.rosterSet(self.home, itemXML(NURSE))
        self.assertError(self.home, "internal-server-error")
        self.rosterGet(self.home)
        self.assertError(self.home, "internal-server-error", id="g1")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)


class OptionTests(unittest.TestCase):

    def test_configured(self):
        """
        The options are read from C{[hosts.NAME.options.roster]} and
        checked against the module's schema.
        """
        from xmppframe.config import ConfigError, parseConfig, validateModuleOptions

        def options(table):
            config = parseConfig({"hosts": {"example.org": {
                "modules": ["roster"], "options": {"roster": table}}}}, self.mktemp())
            return validateModuleOptions(config, "example.org", "roster",
                                         RosterModule.optionSchema)

        self.assertEqual(options({})["max_items"], 1000)
        self.assertEqual(options({"max_items": 5})["max_items"], 5)
        self.assertRaises(ConfigError, options, {"max_items": -1})
        self.assertRaises(ConfigError, options, {"max_group_length": 0})
        self.assertRaises(ConfigError, options, {"max_itmes": 5})


class PersistenceTests(unittest.TestCase):
    """
    Rosters and their versions survive a restart (SQLite).
    """

    @defer.inlineCallbacks
    def test_restart(self):
        path = os.path.join(os.path.abspath(self.mktemp()), "db.sqlite")
        sessions = SessionManager()
        router = Router(sessions)
        host = makeHost("example.org")
        router.addHost(host)

        def load(storage):
            api = ModuleAPI("roster", host, router, sessions, storage, task.Clock(), {})
            module = RosterModule(api)
            module.load()
            return module

        storage = SQLiteStorage(path, reactor)
        yield storage.open()
        module = load(storage)
        yield module.updateSubscription("alice", ROMEO, subscription="both")
        session = FakeSession("alice@example.org", host=host, manager=sessions)
        sessions.bind(session, "home")
        router.process(session, parse(
            "<iq type='set' id='s1'><query xmlns='%s'>%s</query></iq>"
            % (ROSTER, itemXML(NURSE, "Nurse", ["Servants"]))))
        yield _drain(lambda: len(session.sent) >= 1)
        router.process(session, parse("<iq type='get' id='g1'><query xmlns='%s'/></iq>"
                                      % (ROSTER,)))
        yield _drain(lambda: len(session.sent) >= 2)
        ver = session.sent[-1][0].get("ver")
        module.unload()
        yield storage.close()

        storage = SQLiteStorage(path, reactor)
        yield storage.open()
        self.addCleanup(storage.close)
        module = load(storage)
        items = yield module.getItems("alice")
        self.assertEqual(sorted(items, key=lambda item: item.jid.full), [
            RosterItem(NURSE, "Nurse", ("Servants",)), RosterItem(ROMEO, subscription="both")])
        session.take()
        router.process(session, parse("<iq type='get' id='g2'><query xmlns='%s' ver='%s'/></iq>"
                                      % (ROSTER, ver)))
        yield _drain(lambda: len(session.sent) >= 1)
        [result] = session.take()
        self.assertEqual(result.get("type"), "result")
        self.assertEqual(len(result), 0)
        module.unload()


def _drain(done, timeout=5.0):
    """
    Wait (on the real reactor, for the SQLite thread) until C{done()}.
    """
    from twisted.internet import reactor

    async def wait():
        waited = 0.0
        while not done():
            if waited > timeout:
                raise AssertionError("timed out")
            await task.deferLater(reactor, 0.01, lambda: None)
            waited += 0.01
    return defer.ensureDeferred(wait())


class EndToEndTests(ClientTestCase):
    """
    The real server with slixmpp clients: roster sets from one resource
    are pushed to the account's other resource (RFC 6121 §2.3.2), and a
    reconnecting client with a cached version gets interim pushes
    (§2.6.3).
    """

    accounts = (("alice@localhost", "wonderland"),)

    async def rosterChange(self, client, predicate, timeout=10):
        """
        Wait until C{predicate(client.client_roster)} holds after a roster
        result or push.
        """
        loop = asyncio.get_event_loop()
        done = loop.create_future()

        def check(iq=None):
            if not done.done() and predicate(client.client_roster):
                done.set_result(True)
        client.add_event_handler("roster_update", check)
        try:
            check()
            await asyncio.wait_for(done, timeout)
        finally:
            client.del_event_handler("roster_update", check)

    def test_pushToOtherResource(self):
        async def scenario():
            home = await self.client("alice@localhost/home", "wonderland").login()
            phone = await self.client("alice@localhost/phone", "wonderland").login()
            self.assertIn("rosterver", home.features)
            await home.get_roster()
            await phone.get_roster()
            await home.update_roster("nurse@example.com", name="Nurse", groups=["Servants"])
            await self.rosterChange(phone, lambda roster: "nurse@example.com" in roster
                                    and roster["nurse@example.com"]["name"] == "Nurse")
            item = phone.client_roster["nurse@example.com"]
            self.assertEqual(item["groups"], ["Servants"])
            self.assertEqual(item["subscription"], "none")
            await home.del_roster_item("nurse@example.com")
            await self.rosterChange(phone, lambda roster: "nurse@example.com" not in roster)
        return asDeferred(scenario())

    def test_versionOnReconnect(self):
        async def scenario():
            first = await self.client("alice@localhost/home", "wonderland").login()
            await first.update_roster("nurse@example.com", name="Nurse")
            await first.update_roster("romeo@example.net", name="Romeo")
            # Enough items that interim pushes are cheaper than the roster.
            await first.update_roster("benvolio@example.net", name="Benvolio")
            await first.update_roster("mercutio@example.com", name="Mercutio")
            await first.get_roster()
            cached = first.client_roster.version
            self.assertTrue(cached)
            await first.close()

            other = await self.client("alice@localhost/phone", "wonderland").login()
            await other.update_roster("romeo@example.net", name="Romeo M.")
            await other.update_roster("tybalt@example.org", name="Tybalt")
            await other.del_roster_item("nurse@example.com")

            again = self.client("alice@localhost/home", "wonderland")
            await again.login()
            again.client_roster.version = cached
            result = await again.get_roster()
            # §2.6.3: an empty result (slixmpp adds an empty query to the
            # stanza object as it reads it: no 'ver', no items), and the
            # changes come as interim pushes.
            self.assertFalse(result["roster"]["ver"])
            self.assertEqual(len(result["roster"]["items"]), 0)
            await self.rosterChange(again, lambda roster: "tybalt@example.org" in roster)
            roster = again.client_roster
            self.assertEqual(roster["romeo@example.net"]["name"], "Romeo M.")
            self.assertNotIn("nurse@example.com", roster)
            session = again.serverSession()
            self.assertTrue(session.interested)
            latest = (await waitFor(self.server.server.hosts["localhost"].modules["roster"]
                                    .store.versions.get("alice")))
            self.assertEqual(roster.version, "%s-%d" % (latest["epoch"], latest["counter"]))
        return asDeferred(scenario())
