"""
Tests for L{xmppframe.modules.privacy}: privacy list evaluation
(XEP-0016 §2.1, §2.2), the list management protocol (§2.3–§2.8), and the
filter that enforces the rules on the router's inbound and outbound events
(§2.9–§2.14).
"""

from copy import deepcopy
import os

from lxml import etree

from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from xmppframe.config import ConfigError, parseConfig, validateModuleOptions
from xmppframe.errors import StanzaError
from xmppframe.events import ACCOUNT_REMOVED, StanzaEvent, outboundEvent, stanzaEvent
from xmppframe.interfaces import IModule, IRoster
from xmppframe.jid import parseJID
from xmppframe.api.module import ModuleAPI
from xmppframe.api.testing import ModuleHarness
from xmppframe.modules.privacy import PrivacyModule
from xmppframe.modules.privacy.codec import parseList
from xmppframe.modules.privacy.model import (
    DENY, IQ, MESSAGE, OTHER_IN, OTHER_OUT, PRESENCE_IN, PRESENCE_OUT, INBOUND, OUTBOUND,
    PrivacyItem, PrivacyList, jidMatches, stanzaCategory)
from xmppframe.modules.privacy.policy import PrivacyPolicy
from xmppframe.rosteritem import RosterItem
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.storage.memory import MemoryStorage
from xmppframe.storage.sqlite import SQLiteStorage
from xmppframe.xml.namespaces import BLOCKING_ERRORS, PRIVACY

from tests.fakes import FakeSession, makeHost, parse, stanzaErrorCondition

J = parseJID


@implementer(IRoster)
class FakeRoster:
    """
    An in-memory L{IRoster}: C{user -> {bare JID: RosterItem}}.
    """

    def __init__(self):
        self.rosters = {}

    def add(self, user, contact, subscription="none", groups=()):
        item = RosterItem(J(contact), subscription=subscription, groups=tuple(groups))
        self.rosters.setdefault(user, {})[item.jid] = item
        return item

    def getItem(self, user, contact):
        return defer.succeed(self.rosters.get(user, {}).get(contact))

    def getItems(self, user):
        return defer.succeed(list(self.rosters.get(user, {}).values()))

    def updateSubscription(self, user, contact, subscription=None, ask=None, approved=None):
        item = self.rosters.get(user, {}).get(contact) or RosterItem(contact)
        if subscription is not None:
            item = item.evolve(subscription=subscription)
        self.rosters.setdefault(user, {})[contact] = item
        return defer.succeed(item)

    def removeItem(self, user, contact):
        return defer.succeed(self.rosters.get(user, {}).pop(contact, None) is not None)


class DelayedMapStore:
    """
    A map store whose reads wait until the test calls L{release}, as a
    store backed by a database thread would.
    """

    def __init__(self, store):
        self.store = store
        self.waiting = []

    def items(self, user):
        d = defer.Deferred()
        self.waiting.append((d, user))
        return d

    def release(self):
        waiting, self.waiting = self.waiting, []
        for d, user in waiting:
            self.store.items(user).chainDeferred(d)

    def __getattr__(self, name):
        return getattr(self.store, name)


def privacyQuery(inner=""):
    return "<query xmlns='%s'>%s</query>" % (PRIVACY, inner)


class PrivacyHarness(unittest.TestCase):
    """
    A router, a host named example.org with a fake roster and the privacy
    module, and helpers to connect fake sessions and talk through them.
    """

    domain = "example.org"

    def setUp(self):
        self.setUpServer(MemoryStorage())

    def setUpServer(self, storage, roster=None):
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = makeHost(self.domain, storage=storage)
        self.router.addHost(self.host)
        self.roster = roster if roster is not None else FakeRoster()
        self.host.services.provide(IRoster, self.roster)
        self.privacy = self.loadModule(PrivacyModule)

    def loadModule(self, cls, options=None):
        api = ModuleAPI(cls.name, self.host, self.router, self.sessions, self.host.storage,
                        task.Clock(), options)
        module = cls(api)
        module.load()
        self.host.modules[cls.name] = module
        return module

    def connect(self, jid, available=True):
        full = J(jid)
        session = FakeSession(full.bare, host=self.host, available=available,
                              manager=self.sessions)
        self.sessions.bind(session, full.resource)
        if available:
            session.presence = parse("<presence from='%s'><show>chat</show></presence>" % (jid,))
        return session

    def send(self, session, text):
        stanza = parse(text)
        self.router.process(session, stanza)
        return stanza

    def iq(self, session, type, payload, id="q1"):
        """
        Send an iq with no 'to' and return the answer to it (and only it;
        pushes stay in the session's queue).
        """
        self.send(session, "<iq type='%s' id='%s'>%s</iq>" % (type, id, payload))
        answers = [s for s in session.sent if s.get("id") == id]
        self.assertEqual(len(answers), 1, [etree.tostring(s) for s in session.sent])
        session.sent.remove(answers[0])
        return answers[0]

    def assertResult(self, reply):
        self.assertEqual(reply.get("type"), "result", etree.tostring(reply))
        return reply

    def assertErrorReply(self, reply, condition):
        self.assertEqual(stanzaErrorCondition(reply), condition, etree.tostring(reply))
        return reply

    def setList(self, session, name, items, id="set1"):
        return self.assertResult(self.iq(session, "set", privacyQuery(
            "<list name='%s'>%s</list>" % (name, items)), id=id))

    def setDefault(self, session, name, id="def1"):
        return self.assertResult(self.iq(session, "set", privacyQuery(
            "<default name='%s'/>" % (name,)), id=id))

    def pushes(self, session):
        """
        The privacy list pushes C{session} was sent (forgetting them), as
        list names.
        """
        names = []
        for stanza in list(session.sent):
            query = stanza.find("{%s}query" % (PRIVACY,))
            if stanza.get("type") == "set" and query is not None:
                session.sent.remove(stanza)
                names.extend(l.get("name") for l in query)
        return names


def item(action="deny", order=1, type=None, value=None, kinds=()):
    if type == "jid":
        value = J(value)
    return PrivacyItem(action, order, type, value, frozenset(kinds))


class EvaluationTests(unittest.TestCase):
    """
    XEP-0016 §2.1 and §2.2: which item matches which stanza.
    """

    def test_stanzaCategory(self):
        """
        §2 note: presence notifications are those without a type or of type
        'unavailable'; subscriptions and probes are matched only by items
        that block everything (§2.13).
        """
        table = [
            ("message", "chat", INBOUND, MESSAGE),
            ("message", None, OUTBOUND, OTHER_OUT),
            ("iq", "get", INBOUND, IQ),
            ("iq", "result", OUTBOUND, OTHER_OUT),
            ("presence", None, INBOUND, PRESENCE_IN),
            ("presence", "unavailable", INBOUND, PRESENCE_IN),
            ("presence", "subscribe", INBOUND, OTHER_IN),
            ("presence", "probe", INBOUND, OTHER_IN),
            ("presence", None, OUTBOUND, PRESENCE_OUT),
            ("presence", "unavailable", OUTBOUND, PRESENCE_OUT),
            ("presence", "subscribed", OUTBOUND, OTHER_OUT),
        ]
        for kind, type, direction, expected in table:
            self.assertEqual(stanzaCategory(kind, type, direction), expected,
                             (kind, type, direction))

    def test_jidMatching(self):
        """
        §2.1: the four forms of a 'jid' value and what each matches.
        """
        table = [
            ("bob@example.net/phone", "bob@example.net/phone", True),
            ("bob@example.net/phone", "bob@example.net/laptop", False),
            ("bob@example.net/phone", "bob@example.net", False),
            ("bob@example.net", "bob@example.net/phone", True),
            ("bob@example.net", "bob@example.net", True),
            ("bob@example.net", "eve@example.net", False),
            ("example.net/service", "example.net/service", True),
            ("example.net/service", "bob@example.net/service", False),
            ("example.net/service", "example.net", False),
            ("example.net", "example.net", True),
            ("example.net", "bob@example.net/phone", True),
            ("example.net", "example.net/service", True),
            ("example.net", "bob@example.com", False),
            ("example.net", "example.net.evil", False),
        ]
        for pattern, jid, expected in table:
            self.assertEqual(jidMatches(J(pattern), J(jid)), expected, (pattern, jid))

    def test_itemMatching(self):
        """
        Each item type against each stanza category (§2.1, §2.9–§2.13).
        """
        bob = J("bob@example.net/phone")
        friend = RosterItem(J("bob@example.net"), subscription="both", groups=("Friends",))
        stranger = None
        everything = (MESSAGE, IQ, PRESENCE_IN, PRESENCE_OUT, OTHER_IN, OTHER_OUT)
        table = [
            # (item, roster item, categories it matches)
            (item(type="jid", value="bob@example.net"), stranger, everything),
            (item(type="jid", value="eve@example.net"), stranger, ()),
            (item(type="group", value="Friends"), friend, everything),
            (item(type="group", value="Friends"), stranger, ()),
            (item(type="group", value="Work"), friend, ()),
            (item(type="subscription", value="both"), friend, everything),
            (item(type="subscription", value="to"), friend, ()),
            (item(type="subscription", value="none"), stranger, everything),
            (item(type="subscription", value="none"), friend, ()),
            (item(), stranger, everything),
            (item(kinds=[MESSAGE]), stranger, (MESSAGE,)),
            (item(kinds=[IQ]), stranger, (IQ,)),
            (item(kinds=[PRESENCE_IN]), stranger, (PRESENCE_IN,)),
            (item(kinds=[PRESENCE_OUT]), stranger, (PRESENCE_OUT,)),
            (item(kinds=[MESSAGE, PRESENCE_OUT]), stranger, (MESSAGE, PRESENCE_OUT)),
            (item(type="jid", value="bob@example.net", kinds=[IQ]), stranger, (IQ,)),
        ]
        for rule, rosterItem, matching in table:
            for category in everything:
                self.assertEqual(rule.matches(bob, category, rosterItem), category in matching,
                                 (rule, category))

    def test_firstMatchByOrder(self):
        """
        §2.2 rules 5–7: items are tried in ascending order, the first match
        decides, and with no match the stanza is allowed.
        """
        privacyList = PrivacyList("l", (
            item("deny", 20),
            item("allow", 10, "jid", "bob@example.net"),
            item("deny", 15, "jid", "eve@example.net", [MESSAGE]),
        ))
        self.assertEqual([i.order for i in privacyList.items], [10, 15, 20])
        lookup = {}.get
        self.assertIsNone(privacyList.denies(J("bob@example.net"), MESSAGE, lookup))
        self.assertEqual(privacyList.denies(J("eve@example.net"), MESSAGE, lookup).order, 15)
        self.assertEqual(privacyList.denies(J("eve@example.net"), IQ, lookup).order, 20)
        self.assertIsNone(PrivacyList("empty").denies(J("eve@example.net"), IQ, lookup))

    def test_isBlock(self):
        """
        XEP-0191 §6: a blocked JID is a jid/deny item for every stanza.
        """
        self.assertTrue(item(type="jid", value="bob@example.net").isBlock)
        self.assertFalse(item("allow", type="jid", value="bob@example.net").isBlock)
        self.assertFalse(item(type="jid", value="bob@example.net", kinds=[MESSAGE]).isBlock)
        self.assertFalse(item(type="group", value="x").isBlock)


class ParseTests(unittest.TestCase):
    """
    §2.1 syntax: bad lists are a bad-request that says what is wrong.
    """

    def parse(self, inner, name="l"):
        return parseList(etree.fromstring(
            "<list xmlns='%s' name='%s'>%s</list>" % (PRIVACY, name, inner)))

    def test_roundTrip(self):
        privacyList = self.parse(
            "<item type='jid' value='Bob@Example.NET/x' action='deny' order='3'><message/>"
            "<presence-out/></item><item action='allow' order='7'/>")
        self.assertEqual(privacyList.items[0], item(DENY, 3, "jid", "bob@example.net/x",
                                                    [MESSAGE, PRESENCE_OUT]))
        stored = [i.toStored() for i in privacyList.items]
        self.assertEqual(tuple(PrivacyItem.fromStored(s) for s in stored), privacyList.items)

    def test_badLists(self):
        table = [
            "<item order='1'/>",
            "<item action='block' order='1'/>",
            "<item action='deny'/>",
            "<item action='deny' order='-1'/>",
            "<item action='deny' order='x'/>",
            "<item action='deny' order='4294967296'/>",
            "<item action='deny' order='1'/><item action='allow' order='1'/>",
            "<item type='color' value='red' action='deny' order='1'/>",
            "<item type='jid' action='deny' order='1'/>",
            "<item type='jid' value='a@@b' action='deny' order='1'/>",
            "<item type='subscription' value='pending' action='deny' order='1'/>",
            "<item action='deny' order='1'><chat/></item>",
            "<thing/>",
        ]
        for inner in table:
            e = self.assertRaises(StanzaError, self.parse, inner)
            self.assertEqual(e.condition, "bad-request", inner)
            self.assertTrue(e.text, inner)
        self.assertEqual(self.assertRaises(StanzaError, self.parse, "", name="").condition,
                         "bad-request")


class ProtocolTests(PrivacyHarness):
    """
    XEP-0016 §2.3–§2.8: managing lists.
    """

    def setUp(self):
        PrivacyHarness.setUp(self)
        self.home = self.connect("alice@example.org/home")
        self.work = self.connect("alice@example.org/work")

    def names(self, session):
        reply = self.assertResult(self.iq(session, "get", privacyQuery(), id="names"))
        [query] = reply
        return [(etree.QName(e).localname, e.get("name")) for e in query]

    def test_module(self):
        self.assertTrue(verifyObject(IModule, self.privacy))
        self.assertTrue(verifyObject(IRoster, self.roster))
        self.assertIn(PRIVACY, self.host.features())

    def test_noLists(self):
        self.assertEqual(self.names(self.home), [])

    def test_setGetAndPush(self):
        """
        §2.6: a stored list is pushed, by name only, to every resource;
        §2.3: it is listed and can be read back.
        """
        self.setList(self.home, "public",
                     "<item type='jid' value='tybalt@example.com' action='deny' order='1'/>"
                     "<item action='allow' order='2'/>")
        self.assertEqual(self.pushes(self.home), ["public"])
        self.assertEqual(self.pushes(self.work), ["public"])
        self.assertEqual(self.names(self.work), [("list", "public")])
        reply = self.assertResult(self.iq(self.work, "get", privacyQuery("<list name='public'/>")))
        [privacyList] = reply[0]
        self.assertEqual(privacyList.get("name"), "public")
        self.assertEqual([dict(i.attrib) for i in privacyList], [
            {"type": "jid", "value": "tybalt@example.com", "action": "deny", "order": "1"},
            {"action": "allow", "order": "2"}])

    def test_getErrors(self):
        """
        §2.3: an unknown list is item-not-found; more than one is bad-request.
        """
        self.setList(self.home, "a", "<item action='allow' order='1'/>")
        self.assertErrorReply(self.iq(self.home, "get", privacyQuery("<list name='zz'/>")),
                              "item-not-found")
        self.assertErrorReply(self.iq(self.home, "get", privacyQuery(
            "<list name='a'/><list name='a'/>")), "bad-request")

    def test_setErrors(self):
        """
        §2.1: one child per set; bad items are bad-request.
        """
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery()), "bad-request")
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery(
            "<active/><default/>")), "bad-request")
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery("<other/>")), "bad-request")
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery(
            "<list name='x'><item action='deny' order='1'/><item action='deny' order='1'/></list>")),
            "bad-request")
        self.assertEqual(self.names(self.home), [])

    def test_activeList(self):
        """
        §2.4: the active list is per session; an unknown one is
        item-not-found; an empty <active/> declines it.
        """
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery("<active name='x'/>")),
                              "item-not-found")
        self.setList(self.home, "special", "<item action='deny' order='1'/>")
        self.assertResult(self.iq(self.home, "set", privacyQuery("<active name='special'/>")))
        self.assertEqual(self.names(self.home), [("active", "special"), ("list", "special")])
        self.assertEqual(self.names(self.work), [("list", "special")])
        self.assertResult(self.iq(self.home, "set", privacyQuery("<active/>")))
        self.assertEqual(self.names(self.home), [("list", "special")])

    def test_defaultList(self):
        """
        §2.5: unknown is item-not-found; changing or declining the default
        while it applies to another resource is a conflict; once that
        resource has an active list of its own, it is not.
        """
        self.setList(self.home, "public", "<item action='allow' order='1'/>")
        self.setList(self.home, "other", "<item action='allow' order='1'/>")
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery("<default name='x'/>")),
                              "item-not-found")
        self.setDefault(self.home, "public")
        self.assertEqual(self.names(self.work), [("default", "public"), ("list", "other"),
                                                 ("list", "public")])
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery("<default name='other'/>")),
                              "conflict")
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery("<default/>")), "conflict")
        self.assertResult(self.iq(self.work, "set", privacyQuery("<active name='other'/>")))
        self.setDefault(self.home, "other")
        self.assertResult(self.iq(self.home, "set", privacyQuery("<default/>")))
        self.assertEqual(self.names(self.home), [("list", "other"), ("list", "public")])

    def test_removeList(self):
        """
        §2.8: removing an unknown list is item-not-found, one in use by
        another resource a conflict; a removal is pushed too.
        """
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery("<list name='x'/>")),
                              "item-not-found")
        self.setList(self.home, "special", "<item action='deny' order='1'/>")
        self.assertResult(self.iq(self.work, "set", privacyQuery("<active name='special'/>")))
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery("<list name='special'/>")),
                              "conflict")
        self.assertResult(self.iq(self.work, "set", privacyQuery("<active/>")))
        self.pushes(self.home)
        self.pushes(self.work)
        self.assertResult(self.iq(self.home, "set", privacyQuery("<list name='special'/>")))
        self.assertEqual(self.pushes(self.work), ["special"])
        self.assertEqual(self.names(self.home), [])

    def test_removeDefaultAlone(self):
        """
        The default list may be removed when no other resource uses it;
        there is no default afterwards.
        """
        self.work.close()
        self.setList(self.home, "public", "<item action='deny' order='1'/>")
        self.setDefault(self.home, "public")
        self.assertResult(self.iq(self.home, "set", privacyQuery("<list name='public'/>")))
        self.assertEqual(self.names(self.home), [])

    def test_unknownGroup(self):
        """
        §2.1: a group that is not in the roster is item-not-found.
        """
        self.roster.add("alice", "bob@example.net", "both", ["Friends"])
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery(
            "<list name='g'><item type='group' value='Enemies' action='deny' order='1'/></list>")),
            "item-not-found")
        self.setList(self.home, "g", "<item type='group' value='Friends' action='deny' order='1'/>")

    def test_limits(self):
        """
        Past the configured numbers of lists or items a set is refused
        with policy-violation.
        """
        self.host.modules.pop("privacy").unload()
        self.privacy = self.loadModule(PrivacyModule, {"max_lists": 1, "max_items": 2})
        self.setList(self.home, "one", "<item action='allow' order='1'/>")
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery(
            "<list name='two'><item action='allow' order='1'/></list>")), "policy-violation")
        self.assertErrorReply(self.iq(self.home, "set", privacyQuery(
            "<list name='one'><item action='allow' order='1'/><item action='allow' order='2'/>"
            "<item action='allow' order='3'/></list>")), "policy-violation")

    def test_accountRemoved(self):
        """
        XEP-0077 §3.2: a removed account's lists go with it.
        """
        self.setList(self.home, "public", "<item action='deny' order='1'/>")
        self.host.events.fireAll(ACCOUNT_REMOVED, "alice")
        self.assertIsNone(self.privacy.policy.cached("alice"))
        self.assertEqual(self.successResultOf(self.privacy.policy.store.items("alice")), {})

    def test_optionsInConfig(self):
        """
        The documented options are set in the config, checked by the
        config check like any module's, and read from there.
        """
        config = parseConfig({"hosts": {"example.org": {
            "modules": ["privacy"], "options": {"privacy": {"max_lists": 10}}}}}, ".")
        options = validateModuleOptions(config, "example.org", "privacy",
                                        PrivacyModule.optionSchema)
        self.assertEqual(options, {"max_lists": 10, "max_items": 250, "cache_size": 1000})
        for bad in ({"max_lists": "many"}, {"max_items": 0}, {"lists": 3}):
            config = parseConfig({"hosts": {"example.org": {
                "modules": ["privacy"], "options": {"privacy": bad}}}}, ".")
            e = self.assertRaises(ConfigError, validateModuleOptions, config, "example.org",
                                  "privacy", PrivacyModule.optionSchema)
            self.assertIn('hosts."example.org".options.privacy.%s' % (list(bad)[0],), str(e))


class EnforcementTests(PrivacyHarness):
    """
    §2.9–§2.14: what the rules do to stanzas, through the router.
    """

    def setUp(self):
        PrivacyHarness.setUp(self)
        self.alice = self.connect("alice@example.org/home")
        self.bob = self.connect("bob@example.org/phone")

    def aliceDefault(self, items):
        self.setList(self.alice, "rules", items)
        self.setDefault(self.alice, "rules")
        self.alice.take()

    def test_inboundDenied(self):
        """
        §2.14: a denied sender's message and iq get are answered with
        service-unavailable, its presence of any kind and its iq results
        are dropped, and nothing reaches the user.
        """
        self.aliceDefault("<item type='jid' value='bob@example.org' action='deny' order='1'/>")
        table = [
            ("<message to='alice@example.org' type='chat' id='m'><body>hi</body></message>",
             "service-unavailable"),
            ("<message to='alice@example.org/home' id='m'><body>hi</body></message>",
             "service-unavailable"),
            ("<iq to='alice@example.org/home' type='get' id='m'><query xmlns='jabber:iq:version'/></iq>",
             "service-unavailable"),
            ("<iq to='alice@example.org/home' type='result' id='m'/>", None),
            ("<presence to='alice@example.org'/>", None),
            ("<presence to='alice@example.org' type='subscribe'/>", None),
            ("<presence to='alice@example.org' type='probe'/>", None),
            ("<message to='alice@example.org' type='error' id='m'/>", None),
        ]
        for text, condition in table:
            self.send(self.bob, text)
            self.assertEqual(self.alice.take(), [], text)
            replies = self.bob.take()
            if condition is None:
                self.assertEqual(replies, [], text)
            else:
                [reply] = replies
                self.assertErrorReply(reply, condition)
                self.assertEqual(reply.get("from"), J(text.split("'")[1]).full)

    def test_outboundDenied(self):
        """
        §2.14: a stanza the user sends to a denied JID is refused with
        not-acceptable; XEP-0191 §3.3's <blocked/> is added only for a
        blocked JID (a jid/deny item for everything).
        """
        self.roster.add("alice", "bob@example.org", "none", ["Work"])
        self.aliceDefault("<item type='group' value='Work' action='deny' order='1'/>")
        self.send(self.alice, "<message to='bob@example.org' id='m1'><body>x</body></message>")
        [error] = self.alice.take()
        self.assertErrorReply(error, "not-acceptable")
        self.assertIsNone(error.find(".//{%s}blocked" % (BLOCKING_ERRORS,)))
        self.assertEqual(self.bob.take(), [])
        self.aliceDefault("<item type='jid' value='bob@example.org' action='deny' order='1'/>")
        self.send(self.alice, "<message to='bob@example.org' id='m1'><body>x</body></message>")
        [error] = self.alice.take()
        self.assertErrorReply(error, "not-acceptable")
        self.assertIsNotNone(error.find(".//{%s}blocked" % (BLOCKING_ERRORS,)))
        self.assertEqual(error.find("{jabber:client}error").get("type"), "cancel")

    def test_messageOnly(self):
        """
        §2.9: a <message/> item blocks incoming messages only.
        """
        self.aliceDefault("<item type='jid' value='bob@example.org' action='deny' order='1'>"
                          "<message/></item>")
        self.send(self.bob, "<message to='alice@example.org/home'><body>x</body></message>")
        self.assertEqual(self.alice.take(), [])
        self.bob.take()
        self.send(self.bob, "<iq to='alice@example.org/home' type='get' id='v'>"
                            "<query xmlns='jabber:iq:version'/></iq>")
        self.assertEqual(len(self.alice.take()), 1)
        self.send(self.alice, "<message to='bob@example.org/phone'><body>x</body></message>")
        self.assertEqual(len(self.bob.take()), 1)

    def test_iqOnly(self):
        """
        §2.12: an <iq/> item blocks incoming iq stanzas only.
        """
        self.aliceDefault("<item type='jid' value='bob@example.org' action='deny' order='1'>"
                          "<iq/></item>")
        self.send(self.bob, "<iq to='alice@example.org/home' type='set' id='v'>"
                            "<query xmlns='jabber:iq:version'/></iq>")
        self.assertEqual(self.alice.take(), [])
        self.assertErrorReply(self.bob.take()[0], "service-unavailable")
        self.send(self.bob, "<message to='alice@example.org/home'><body>x</body></message>")
        self.assertEqual(len(self.alice.take()), 1)

    def test_presenceIn(self):
        """
        §2.10: <presence-in/> blocks notifications, not subscriptions.
        """
        self.aliceDefault("<item type='jid' value='bob@example.org' action='deny' order='1'>"
                          "<presence-in/></item>")
        self.send(self.bob, "<presence to='alice@example.org'/>")
        self.assertEqual(self.alice.take(), [])
        self.send(self.bob, "<presence to='alice@example.org' type='subscribe'/>")
        self.assertEqual(len(self.alice.take()), 1)

    def test_presenceOut(self):
        """
        §2.11: <presence-out/> stops the broadcast copies the server routes
        on the user's behalf, silently; other stanzas still go.
        """
        self.aliceDefault("<item type='jid' value='bob@example.org' action='deny' order='1'>"
                          "<presence-out/></item>")
        self.router.route(parse("<presence from='alice@example.org/home' to='bob@example.org'/>"))
        self.assertEqual(self.bob.take(), [])
        self.assertEqual(self.alice.take(), [])
        self.send(self.alice, "<presence to='bob@example.org' type='subscribe'/>")
        self.assertEqual(len(self.bob.take()), 1)
        self.send(self.alice, "<message to='bob@example.org/phone'><body>x</body></message>")
        self.assertEqual(len(self.bob.take()), 1)

    def test_subscriptionRuleFollowsRoster(self):
        """
        §2.1, §2.2 rule 9: 'none' covers strangers, and a change of the
        subscription applies at once.
        """
        self.aliceDefault("<item type='subscription' value='none' action='deny' order='1'>"
                          "<message/></item>")
        self.send(self.bob, "<message to='alice@example.org/home'><body>x</body></message>")
        self.assertEqual(self.alice.take(), [])
        self.bob.take()
        friend = self.roster.add("alice", "bob@example.org", "both")
        self.privacy.rosterChanged("alice", friend.jid, friend)
        self.send(self.bob, "<message to='alice@example.org/home'><body>x</body></message>")
        self.assertEqual(len(self.alice.take()), 1)
        self.privacy.rosterChanged("alice", friend.jid, None)
        self.send(self.bob, "<message to='alice@example.org/home'><body>x</body></message>")
        self.assertEqual(self.alice.take(), [])

    def test_activeListPerSession(self):
        """
        §2.2 rules 1–2: an active list applies to its session only, and
        instead of the default list.
        """
        work = self.connect("alice@example.org/work")
        self.setList(self.alice, "strict", "<item action='deny' order='1'/>")
        self.assertResult(self.iq(self.alice, "set", privacyQuery("<active name='strict'/>")))
        self.alice.take()
        work.take()
        self.send(self.bob, "<message to='alice@example.org/home'><body>x</body></message>")
        self.assertEqual(self.alice.take(), [])
        self.assertErrorReply(self.bob.take()[0], "service-unavailable")
        self.send(self.bob, "<message to='alice@example.org/work'><body>x</body></message>")
        self.assertEqual(len(work.take()), 1)
        # The session ends and so does its active list.
        self.alice.close()
        self.assertEqual(self.privacy.policy.cached("alice").active, {})

    def test_ownResourcesAndServer(self):
        """
        §2.1 note: a user's own resources are never blocked from each other,
        nor is the user's own server a contact.
        """
        work = self.connect("alice@example.org/work")
        self.aliceDefault("<item action='deny' order='1'/>")
        work.take()
        self.send(self.alice, "<message to='alice@example.org/work'><body>x</body></message>")
        self.assertEqual(len(work.take()), 1)
        self.host.events.hook(stanzaEvent("message", "host"), lambda event: True)
        self.send(self.alice, "<message to='example.org'><body>x</body></message>")
        self.assertEqual(self.alice.take(), [])

    def test_deniedReplyToRemoteSenderIsRouted(self):
        """
        The error answering a refused stanza from a sender without a local
        session is routed back, not stopped by the user's own outbound rules.
        """
        self.aliceDefault("<item type='jid' value='bob@example.org' action='deny' order='1'/>")
        self.bob.take()
        self.router.route(parse("<message from='bob@example.org/phone' to='alice@example.org' "
                                "id='r'><body>x</body></message>"))
        [error] = self.bob.take()
        self.assertErrorReply(error, "service-unavailable")
        self.assertEqual(self.alice.take(), [])

    def test_presenceWhenRulesChange(self):
        """
        §2.11 note: blocking presence to a contact allowed to see it sends
        it unavailable presence; allowing it again sends the current one.
        """
        self.roster.add("alice", "bob@example.org", "from")
        self.aliceDefault("<item type='jid' value='bob@example.org' action='deny' order='1'>"
                          "<presence-out/></item>")
        [unavailable] = self.bob.take()
        self.assertEqual(unavailable.get("type"), "unavailable")
        self.assertEqual(unavailable.get("from"), "alice@example.org/home")
        self.assertEqual(unavailable.get("to"), "bob@example.org")
        self.setList(self.alice, "rules", "<item action='allow' order='1'/>")
        [available] = self.bob.take()
        self.assertIsNone(available.get("type"))
        self.assertEqual(available.get("from"), "alice@example.org/home")
        self.assertEqual(available.findtext("{jabber:client}show"), "chat")


    def test_farewellPassesOnce(self):
        """
        §2.11: the unavailable presence the server sends a contact the new
        rules hide the account from passes those rules once; the same
        presence again, or the account's next broadcast copy, is stopped.
        """
        self.roster.add("alice", "bob@example.org", "from")
        self.aliceDefault("<item type='jid' value='bob@example.org' action='deny' order='1'>"
                          "<presence-out/></item>")
        [unavailable] = self.bob.take()
        self.router.route(deepcopy(unavailable))
        self.router.route(parse("<presence from='alice@example.org/home' to='bob@example.org'/>"))
        self.assertEqual(self.bob.take(), [])


class LoadingTests(PrivacyHarness):
    """
    Decisions wait for the account's data when it is not in memory (the
    router holds the stanza meanwhile); the stanza is judged once and goes
    on once.
    """

    def setUp(self):
        PrivacyHarness.setUp(self)
        self.bob = self.connect("bob@example.org/phone")
        carol = self.connect("carol@example.org/desk")
        self.setList(carol, "rules",
                     "<item type='jid' value='eve@example.org' action='deny' order='1'/>")
        self.setDefault(carol, "rules")
        carol.close()
        self.privacy.policy.forget("carol")
        self.delayed = DelayedMapStore(self.privacy.policy.store)
        self.privacy.policy.store = self.delayed
        self.delivered = []
        self.host.events.hook(stanzaEvent("message", "bare"),
                              lambda event: self.delivered.append(event.stanza) or True)
        self.outbound = []
        self.host.events.hook(outboundEvent("message"),
                              lambda event: self.outbound.append(event.stanza))

    def test_allowedAfterLoad(self):
        """
        Bob's own rules are in memory, so his stanza passes the outbound
        handlers at once; it waits for Carol's on the inbound side, and is
        delivered once they are read.  Nothing sees it twice.
        """
        stanza = self.send(self.bob, "<message to='carol@example.org'><body>x</body></message>")
        self.assertEqual(self.delivered, [])
        self.assertEqual(self.outbound, [stanza])
        self.delayed.release()
        self.assertEqual(self.delivered, [stanza])
        self.assertEqual(self.outbound, [stanza])
        # Now in memory: the next one goes at once.
        self.send(self.bob, "<message to='carol@example.org'><body>y</body></message>")
        self.assertEqual(len(self.delivered), 2)

    def test_deniedAfterLoad(self):
        eve = self.connect("eve@example.org/x")
        self.send(eve, "<message to='carol@example.org' id='e'><body>x</body></message>")
        self.delayed.release()
        self.assertEqual(self.delivered, [])
        [error] = eve.take()
        self.assertErrorReply(error, "service-unavailable")

    def test_senderRulesDecide(self):
        """
        When only the recipient's data is missing, the sender's own rules
        still judge what it sends, once the recipient's data is in.
        """
        self.setList(self.bob, "mine",
                     "<item type='jid' value='carol@example.org' action='deny' order='1'/>")
        self.setDefault(self.bob, "mine")
        self.bob.take()
        self.send(self.bob, "<message to='carol@example.org' id='b'><body>x</body></message>")
        self.delayed.release()
        self.assertEqual(self.delivered, [])
        self.assertErrorReply(self.bob.take()[0], "not-acceptable")

    def test_originKept(self):
        """
        A stanza judged late goes on as coming from its client session, so
        that later handlers see the same event.origin as without waiting.
        """
        origins = []
        self.host.events.hook(outboundEvent("message"), lambda event: origins.append(event.origin))
        self.send(self.bob, "<message to='carol@example.org'><body>x</body></message>")
        self.delayed.release()
        self.assertEqual(origins, [self.bob])

    def test_inboundFromServer(self):
        """
        A stanza with no local sender account waits on the inbound side.
        """
        stanza = parse("<message from='other.example' to='carol@example.org'><body>x</body></message>")
        self.router.route(stanza)
        self.assertEqual(self.delivered, [])
        self.delayed.release()
        self.assertEqual(self.delivered, [stanza])

    def test_loadFailure(self):
        """
        A store that fails is logged; the sender is told of an internal
        error rather than the stanza being let through unjudged.
        """
        self.send(self.bob, "<message to='carol@example.org' id='f'><body>x</body></message>")
        [(d, user)] = self.delayed.waiting
        d.errback(RuntimeError("disk on fire"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.delivered, [])
        self.assertErrorReply(self.bob.take()[0], "internal-server-error")


class ListHoldersTests(PrivacyHarness):
    """
    Only accounts that have stored lists are read at login: which ones do
    is listed once when the module loads, and kept current by the policy,
    which makes every write.
    """

    def setUp(self):
        self.storage = MemoryStorage()
        store = self.storage.map(self.domain, "privacy")
        self.successResultOf(store.set("carol", "list:rules", [
            {"action": "deny", "order": 1, "type": "jid", "value": "eve@example.org"}]))
        self.successResultOf(store.set("carol", "default", "rules"))
        self.setUpServer(self.storage)
        self.reads = []
        store = self.privacy.policy.store
        realItems = store.items
        self.patch(store, "items", lambda user: self.reads.append(user) or realItems(user))

    def test_accountWithoutListsNotRead(self):
        state = self.successResultOf(self.privacy.policy.load("bob"))
        self.assertEqual(self.reads, [])
        self.assertEqual(state.lists, {})

    def test_accountWithListsRead(self):
        state = self.successResultOf(self.privacy.policy.load("carol"))
        self.assertEqual(self.reads, ["carol"])
        self.assertEqual(state.default, "rules")
        self.assertEqual(state.blocked(), [J("eve@example.org")])

    def test_newListsReadAfterEviction(self):
        """
        An account that stores its first list is read at its next load,
        once its state has left memory.
        """
        bob = self.connect("bob@example.org/phone")
        self.successResultOf(self.privacy.policy.load("bob"))
        self.setList(bob, "mine", "<item type='jid' value='eve@example.org' "
                                  "action='deny' order='1'/>")
        self.setDefault(bob, "mine")
        self.privacy.policy.forget("bob")
        state = self.successResultOf(self.privacy.policy.load("bob"))
        self.assertEqual(self.reads, ["bob"])
        self.assertEqual(state.default, "mine")


class PersistenceTests(PrivacyHarness):
    """
    Lists survive a restart (SQLite storage).
    """

    def setUp(self):
        pass

    async def openServer(self, path):
        storage = SQLiteStorage(path, reactor)
        await storage.open()
        self.addCleanup(storage.close)
        self.setUpServer(storage)
        return storage

    async def test_restart(self):
        path = os.path.join(os.path.abspath(self.mktemp()), "privacy.sqlite")
        storage = await self.openServer(path)
        alice = self.connect("alice@example.org/home")
        await self.privacy.policy.load("alice")
        self.send(alice, "<iq type='set' id='s'>%s</iq>" % privacyQuery(
            "<list name='rules'><item type='jid' value='bob@example.org' action='deny' "
            "order='1'/></list>"))
        self.send(alice, "<iq type='set' id='d'>%s</iq>" % privacyQuery("<default name='rules'/>"))
        while len([s for s in alice.sent if s.get("type") == "result"]) < 2:
            await task.deferLater(reactor, 0.01, lambda: None)
        await storage.close()

        await self.openServer(path)
        bob = self.connect("bob@example.org/phone")
        state = await self.privacy.policy.load("alice")
        self.assertEqual(state.default, "rules")
        self.assertEqual(state.blocked(), [J("bob@example.org")])
        self.send(bob, "<message to='alice@example.org' id='m'><body>x</body></message>")
        self.assertErrorReply(bob.take()[0], "service-unavailable")


class PolicyCacheTests(unittest.TestCase):
    """
    The policy keeps every online account's state, and at most cacheSize
    idle ones, least recently used evicted first; keeping that bound must
    not cost a walk over the online accounts.
    """

    def setUp(self):
        self.sessions = SessionManager()
        self.host = makeHost("example.org")
        self.policy = PrivacyPolicy(MemoryStorage().map("example.org", "privacy"),
                                    self.sessions, "example.org", lambda: None, cacheSize=2)

    def online(self, user):
        session = FakeSession(parseJID("%s@example.org" % (user,)), host=self.host,
                              manager=self.sessions)
        self.sessions.bind(session, "r")
        self.policy.sessionBound(session)
        return session

    def test_onlineAccountsAreNeverEvicted(self):
        sessions = [self.online("u%d" % i) for i in range(5)]
        for i in range(5):
            self.successResultOf(self.policy.load("u%d" % i))
        self.assertEqual(len(self.policy._states), 5)
        for i in range(3):
            # The session manager forgets a session before SESSION_ENDED.
            self.sessions.unbind(sessions[i])
            self.policy.sessionEnded(sessions[i])
        self.assertEqual(list(self.policy._idle), ["u1", "u2"])
        self.assertEqual(sorted(self.policy._states), ["u1", "u2", "u3", "u4"])

    def test_idleAccountsLeastRecentlyUsedFirst(self):
        for user in ("a", "b"):
            self.successResultOf(self.policy.load(user))
        self.policy.ready("a")
        self.successResultOf(self.policy.load("c"))
        self.assertEqual(sorted(self.policy._states), ["a", "c"])


class WaitingFilterTests(unittest.TestCase):
    """
    A stanza judged while its account's rules are read waits for them: the
    router holds it, and what its origin sends after it, and it is then
    delivered or refused (XEP-0016 §2.14) as if the rules had been in
    memory; nothing sent later by the same client overtakes it.
    """

    def setUp(self):
        self.harness = ModuleHarness("example.org")
        self.roster = FakeRoster()
        self.harness.provide(IRoster, self.roster)
        self.privacy = self.harness.load(PrivacyModule)
        self.bob = self.harness.client("bob@example.org/phone", available=True)
        self.dave = self.harness.client("dave@example.org/desk", available=True)
        self.eve = self.harness.client("eve@example.org/x", available=True)
        # Carol denies Eve everything; she is offline and not in memory.
        carol = self.harness.client("carol@example.org/desk")
        self.iq(carol, "<list name='rules'><item type='jid' value='eve@example.org' "
                       "action='deny' order='1'/></list>")
        self.iq(carol, "<default name='rules'/>")
        self.harness.sessions.unbind(carol)
        self.privacy.policy.forget("carol")
        self.delayed = DelayedMapStore(self.privacy.policy.store)
        self.privacy.policy.store = self.delayed
        self.toCarol = []
        self.harness.host.events.hook(stanzaEvent("message", "bare"), self.deliverToCarol)

    def deliverToCarol(self, event):
        if event.to.localpart == "carol":
            self.toCarol.append(event.stanza.findtext("{jabber:client}body"))
            return True
        return None

    def iq(self, session, inner):
        self.harness.send(session, "<iq type='set' id='s'>%s</iq>" % (privacyQuery(inner),))
        [reply] = [s for s in session.take() if s.get("id") == "s"]
        self.assertEqual(reply.get("type"), "result", etree.tostring(reply))

    def message(self, sender, to, body, id="m"):
        self.harness.send(sender, "<message to='%s' id='%s'><body>%s</body></message>"
                          % (to, id, body))

    def bodies(self, session):
        return [s.findtext("{jabber:client}body") for s in session.take()
                if s.get("type") != "error"]

    def test_heldThenDelivered(self):
        """
        Bob's message to Carol waits for her rules; his next one, to Dave
        (whose rules are in memory), waits behind it; both go once Carol's
        rules are read, in the order Bob sent them.
        """
        self.message(self.bob, "carol@example.org", "one")
        self.message(self.bob, "dave@example.org/desk", "two")
        self.assertEqual(self.toCarol, [])
        self.assertEqual(self.bodies(self.dave), [])
        self.assertEqual(len(self.delayed.waiting), 1)
        self.delayed.release()
        self.assertEqual(self.toCarol, ["one"])
        self.assertEqual(self.bodies(self.dave), ["two"])
        self.assertEqual(self.bob.take(), [])

    def test_heldThenRefused(self):
        """
        §2.14: Eve's message to Carol is refused once Carol's rules are
        read, with service-unavailable from the address Eve wrote to; her
        later messages wait behind it and are judged in turn.
        """
        self.message(self.eve, "carol@example.org", "one", id="e1")
        self.message(self.eve, "carol@example.org", "two", id="e2")
        self.message(self.eve, "dave@example.org/desk", "three", id="e3")
        self.assertEqual(self.eve.take(), [])
        self.assertEqual(self.bodies(self.dave), [])
        self.delayed.release()
        self.assertEqual(self.toCarol, [])
        errors = self.eve.take()
        self.assertEqual([e.get("id") for e in errors], ["e1", "e2"])
        for error in errors:
            self.assertEqual(stanzaErrorCondition(error), "service-unavailable")
            self.assertEqual(error.get("from"), "carol@example.org")
        self.assertEqual(self.bodies(self.dave), ["three"])

    def test_routedRefusalAnswered(self):
        """
        A stanza the server routes (no session) is held by its sender, and
        once refused its error answer is routed back, past Carol's own
        outbound filter, which would otherwise stop anything to Eve.
        """
        message = parse("<message from='eve@example.org/x' to='carol@example.org' id='r'>"
                        "<body>x</body></message>")
        self.harness.router.route(message)
        self.assertEqual(self.eve.take(), [])
        self.delayed.release()
        [error] = self.eve.take()
        self.assertEqual(stanzaErrorCondition(error), "service-unavailable")
        self.assertEqual(error.get("to"), "eve@example.org/x")

    def test_senderRulesWait(self):
        """
        The sender's side waits too: what the server routes in Carol's name
        while her rules are read is judged by them, in order.
        """
        for body in ("one", "two"):
            stanza = parse("<message from='carol@example.org/desk' to='%s' type='chat'>"
                           "<body>%s</body></message>" % ("eve@example.org/x", body))
            self.harness.router.route(stanza)
            stanza = parse("<message from='carol@example.org/desk' to='%s' type='chat'>"
                           "<body>%s</body></message>" % ("dave@example.org/desk", body))
            self.harness.router.route(stanza)
        self.assertEqual(self.bodies(self.dave), [])
        self.delayed.release()
        self.assertEqual(self.bodies(self.eve), [])
        self.assertEqual(self.bodies(self.dave), ["one", "two"])

    def test_loadFailureRefuses(self):
        """
        If the rules cannot be read, the stanza is not let through
        unjudged: the sender is told of an internal error, and what it sent
        after goes on.
        """
        self.message(self.bob, "carol@example.org", "one", id="f")
        self.message(self.bob, "dave@example.org/desk", "two")
        [(d, user)] = self.delayed.waiting
        d.errback(RuntimeError("disk on fire"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.toCarol, [])
        [error] = self.bob.take()
        self.assertEqual(stanzaErrorCondition(error), "internal-server-error")
        self.assertEqual(self.bodies(self.dave), ["two"])

    def test_inMemoryJudgedAtOnce(self):
        """
        Once the rules are in memory, stanzas are judged without reading
        anything and without waiting: the filters answer synchronously.
        """
        self.message(self.bob, "carol@example.org", "one")
        self.delayed.release()
        self.patch(self.privacy.policy, "load", lambda user: self.fail("loaded %s" % (user,)))
        self.message(self.bob, "carol@example.org", "two")
        self.message(self.eve, "carol@example.org", "three", id="e")
        self.assertEqual(self.toCarol, ["one", "two"])
        [error] = self.eve.take()
        self.assertEqual(stanzaErrorCondition(error), "service-unavailable")
        bare = J("carol@example.org")
        event = StanzaEvent(self.bob, parse("<message/>"), bare, self.bob.jid,
                            self.harness.host, "message", None)
        self.assertIsNone(self.privacy.filters.inbound(event))
        self.assertIsNone(self.privacy.filters.outbound(event))
