"""
Tests for L{xmppframe.modules.mam}: Message Archive Management (XEP-0313)
with stanza ids (XEP-0359) and archiving preferences (XEP-0441), driven
through the real router with fake sessions, the in-memory store and a
L{task.Clock}.
"""

from lxml import etree

from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted.internet import defer, task
from twisted.trial import unittest

from xmppframe.api import MESSAGE_ANNOTATE, ROSTER_CHANGED, RosterChange
from xmppframe.interfaces import IModule, IRoster
from xmppframe.api.module import ModuleAPI
from xmppframe.modules.carbons import CarbonsModule
from xmppframe.modules.offline import OfflineModule
from xmppframe.modules.mam import (
    NS_MAM, NS_MAM_EXTENDED, NS_SID, ArchiveIds, ArchivingPrefs, MamModule, formatStamp,
    isArchivable, parseStamp)
from xmppframe.router import Router
from xmppframe.rosteritem import RosterItem
from xmppframe.xml.rsm import NS_RSM
from xmppframe.session import SessionManager
from xmppframe.storage.memory import MemoryStorage

from tests.fakes import FakeSession, makeHost, parse, stanzaErrorCondition

#: 2023-11-14T22:13:20Z
T0 = 1700000000

RESULT = "{%s}result" % (NS_MAM,)
FORWARDED = "{urn:xmpp:forward:0}forwarded"
DELAY = "{urn:xmpp:delay}delay"
CLIENT_MESSAGE = "{jabber:client}message"
BODY = "{jabber:client}body"
STANZA_ID = "{%s}stanza-id" % (NS_SID,)
FIN = "{%s}fin" % (NS_MAM,)


class FakeAuth:
    """
    The accounts of the host, without SCRAM key derivation.
    """

    def __init__(self, users):
        self.users = set(users)

    def userExists(self, username):
        return defer.succeed(username in self.users)

    def listUsers(self):
        return defer.succeed(sorted(self.users))


@implementer(IRoster)
class FakeRoster:
    """
    An L{IRoster} that knows who is in each roster, and can be made to
    answer later (as a database read does).
    """

    def __init__(self):
        self.contacts = {}
        self.later = False
        self.pending = []

    def getItem(self, user, contact):
        item = None
        if contact.full in self.contacts.get(user, ()):
            item = RosterItem(contact, subscription="both")
        if not self.later:
            return defer.succeed(item)
        d = defer.Deferred()
        self.pending.append((d, item))
        return d

    def answer(self):
        pending, self.pending = self.pending, []
        for d, item in pending:
            d.callback(item)


def form(**fields):
    """
    A submitted MAM query form (XEP-0313 §4.1); a list value gives several
    values.
    """
    parts = ["<x xmlns='jabber:x:data' type='submit'>"
             "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>" % (NS_MAM,)]
    for var, value in fields.items():
        values = value if isinstance(value, list) else [value]
        parts.append("<field var='%s'>%s</field>" % (
            var.replace("_", "-"), "".join("<value>%s</value>" % (v,) for v in values)))
    parts.append("</x>")
    return "".join(parts)


def rsm(max=None, after=None, before=None, index=None):
    parts = ["<set xmlns='%s'>" % (NS_RSM,)]
    if max is not None:
        parts.append("<max>%d</max>" % (max,))
    if after is not None:
        parts.append("<after>%s</after>" % (after,))
    if before is not None:
        parts.append("<before>%s</before>" % (before,) if before else "<before/>")
    if index is not None:
        parts.append("<index>%d</index>" % (index,))
    parts.append("</set>")
    return "".join(parts)


class Page:
    """
    What a query got: the result messages and the C{<fin/>}.
    """

    def __init__(self, results, fin):
        self.results = results
        self.fin = fin
        self.ids = [r.find(RESULT).get("id") for r in results]
        self.bodies = [r.find(RESULT).find(FORWARDED).find(CLIENT_MESSAGE).findtext(BODY)
                       for r in results]
        rsmSet = fin.find("{%s}set" % (NS_RSM,))
        self.first = rsmSet.find("{%s}first" % (NS_RSM,))
        self.last = rsmSet.findtext("{%s}last" % (NS_RSM,))
        self.count = rsmSet.findtext("{%s}count" % (NS_RSM,))
        self.complete = fin.get("complete")

    @property
    def firstIndex(self):
        return None if self.first is None else self.first.get("index")


class MamTestCase(unittest.TestCase):

    options = {}

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(T0)
        self.storage = MemoryStorage(clock=self.clock)
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.auth = FakeAuth({"alice", "bob", "carol"})
        self.host = makeHost("example.org", storage=self.storage, auth=self.auth)
        self.router.addHost(self.host)
        self.module = self.loadModule(self.options)
        self.alice = self.bind("alice@example.org", "home")
        self.bob = self.bind("bob@example.org", "phone")

    def loadModule(self, options):
        api = ModuleAPI("mam", self.host, self.router, self.sessions, self.storage,
                        self.clock, options)
        module = MamModule(api)
        self.successResultOf(module.load())
        self.host.modules["mam"] = module
        self.addCleanup(module.unload)
        return module

    def restart(self, options=None):
        """
        Unload the module and load a new one on the same storage, as a
        server restart does.
        """
        self.successResultOf(self.module.unload())
        del self.host.modules["mam"]
        self.module = self.loadModule(self.options if options is None else options)

    def bind(self, jid, resource, available=True):
        session = FakeSession(jid, host=self.host, available=available, manager=self.sessions)
        self.sessions.bind(session, resource)
        return session

    def send(self, session, to, body="hi", type="chat", extra="", tick=1):
        """
        C{session} sends a message; the clock then moves on C{tick}
        seconds.  @return: the stanza as the router got it.
        """
        typeAttr = "" if type is None else " type='%s'" % (type,)
        bodyElement = "" if body is None else "<body>%s</body>" % (body,)
        stanza = parse("<message to='%s'%s id='m'>%s%s</message>" % (to, typeAttr, bodyElement, extra))
        self.router.process(session, stanza)
        self.clock.advance(tick)
        return stanza

    def archive(self, user):
        """
        The bodies in C{user}'s archive, in order.
        """
        items = self.successResultOf(self.module.store.query(user))
        return [etree.fromstring(item.payload.partition(b"\n")[2]).findtext(BODY) for item in items]

    def iq(self, session, payload, type="set", to=None, id="q1"):
        toAttr = "" if to is None else " to='%s'" % (to,)
        session.take()
        self.router.process(session, parse("<iq type='%s' id='%s'%s>%s</iq>"
                                           % (type, id, toAttr, payload)))
        return session.take()

    def query(self, session=None, formXML="", rsmXML="", extra="", queryid="f27"):
        """
        Query C{session}'s archive (XEP-0313 §4).  @return: a L{Page}.
        """
        session = session or self.alice
        queryAttr = "" if queryid is None else " queryid='%s'" % (queryid,)
        sent = self.iq(session, "<query xmlns='%s'%s>%s%s%s</query>"
                       % (NS_MAM, queryAttr, formXML, rsmXML, extra))
        reply = sent[-1]
        self.assertEqual(reply.get("type"), "result", etree.tostring(reply))
        self.assertEqual(reply.get("id"), "q1")
        for message in sent[:-1]:
            self.assertEqual(message.tag, CLIENT_MESSAGE)
            self.assertEqual(message.get("to"), session.jid.full)
            self.assertEqual(message.get("from"), session.jid.bare.full)
            self.assertEqual(message.find(RESULT).get("queryid"), queryid)
        return Page(sent[:-1], reply.find(FIN))

    def queryError(self, formXML="", rsmXML="", extra="", session=None, to=None):
        session = session or self.alice
        [reply] = self.iq(session, "<query xmlns='%s'>%s%s%s</query>"
                          % (NS_MAM, formXML, rsmXML, extra), to=to)
        return stanzaErrorCondition(reply)


class ArchivingTests(MamTestCase):
    """
    Which messages are archived, where, and with what stanza id
    (XEP-0313 §3.5, §6.1.1; XEP-0359).
    """

    def test_interface(self):
        self.assertTrue(verifyObject(IModule, self.module))

    def test_features(self):
        """
        XEP-0313 §7, XEP-0359 §5: the account advertises MAM, its extended
        fields and stanza ids.
        """
        features = getattr(self.host, "accountFeatures", None)
        if callable(features):
            features = features()
        if features is None:
            features = self.host.features()
        for feature in (NS_MAM, NS_MAM_EXTENDED, NS_SID):
            self.assertIn(feature, features)

    def test_chatArchivedBothSides(self):
        """
        XEP-0313 §6.1.1: a chat message with a body is kept in the sender's
        archive and the recipient's.
        """
        self.send(self.alice, "bob@example.org", "hello")
        self.assertEqual(self.archive("alice"), ["hello"])
        self.assertEqual(self.archive("bob"), ["hello"])
        items = self.successResultOf(self.module.store.query("alice"))
        self.assertEqual(items[0].with_, "bob@example.org")
        self.assertEqual(items[0].when, T0)

    def test_normalArchived(self):
        """
        Messages of type normal, or without a type (RFC 6121 §5.2.2), are
        archived.
        """
        self.send(self.alice, "bob@example.org", "one", type="normal")
        self.send(self.alice, "bob@example.org", "two", type=None)
        self.assertEqual(self.archive("bob"), ["one", "two"])

    def test_notArchived(self):
        """
        XEP-0313 §6.1.1: headline, groupchat and error messages, and messages
        without a body (chat states, receipts), are not archived; neither is
        a message with a XEP-0334 no-store or no-permanent-store hint.
        """
        self.send(self.alice, "bob@example.org", "news", type="headline")
        self.send(self.alice, "bob@example.org", "room", type="groupchat")
        self.send(self.alice, "bob@example.org", "oops", type="error")
        self.send(self.alice, "bob@example.org", None,
                  extra="<composing xmlns='http://jabber.org/protocol/chatstates'/>")
        self.send(self.alice, "bob@example.org", None,
                  extra="<received xmlns='urn:xmpp:receipts' id='x'/>")
        self.send(self.alice, "bob@example.org", "secret", extra="<no-store xmlns='urn:xmpp:hints'/>")
        self.send(self.alice, "bob@example.org", "secret",
                  extra="<no-permanent-store xmlns='urn:xmpp:hints'/>")
        self.assertEqual(self.archive("alice"), [])
        self.assertEqual(self.archive("bob"), [])

    def test_storeHint(self):
        """
        XEP-0334 §4: a store hint keeps a bodiless chat message.
        """
        self.send(self.alice, "bob@example.org", None, extra="<store xmlns='urn:xmpp:hints'/>")
        self.assertEqual(self.archive("bob"), [None])

    def test_isArchivable(self):
        self.assertTrue(isArchivable(parse("<message><body>x</body></message>")))
        self.assertFalse(isArchivable(parse("<message type='chat'><body xmlns='urn:other'/></message>")))

    def test_stanzaIdStamped(self):
        """
        XEP-0313 §3.5: the delivered message carries a stanza id by the
        recipient's bare JID, which is its id in the recipient's archive.
        """
        self.send(self.alice, "bob@example.org", "hello")
        [delivered] = self.bob.take()
        [stanzaId] = delivered.findall(STANZA_ID)
        self.assertEqual(stanzaId.get("by"), "bob@example.org")
        page = self.query(self.bob)
        self.assertEqual(page.ids, [stanzaId.get("id")])

    def test_senderNotStamped(self):
        """
        XEP-0313 §3.5: the sender's archive id is not given to the
        recipient.
        """
        self.send(self.alice, "bob@example.org", "hello")
        [delivered] = self.bob.take()
        self.assertEqual([s.get("by") for s in delivered.findall(STANZA_ID)], ["bob@example.org"])

    def test_idsUnique(self):
        """
        XEP-0313 §6.2: ids are unique even for messages archived in the
        same microsecond.
        """
        for n in range(5):
            self.send(self.alice, "bob@example.org", str(n), tick=0)
        ids = [m.find(STANZA_ID).get("id") for m in self.bob.take()]
        self.assertEqual(len(set(ids)), 5)
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(self.query(self.bob).ids, ids)

    def test_forgedStanzaIdStripped(self):
        """
        XEP-0359 §3 rule 2: a stanza id claiming to be by the recipient is
        removed; others are left alone (rule 3).
        """
        self.send(self.alice, "bob@example.org", "hello",
                  extra="<stanza-id xmlns='%s' by='Bob@Example.org' id='forged'/>"
                        "<stanza-id xmlns='%s' by='muc.example.net' id='other'/>" % (NS_SID, NS_SID))
        [delivered] = self.bob.take()
        ids = {s.get("by"): s.get("id") for s in delivered.findall(STANZA_ID)}
        self.assertEqual(set(ids), {"bob@example.org", "muc.example.net"})
        self.assertNotEqual(ids["bob@example.org"], "forged")
        self.assertEqual(ids["muc.example.net"], "other")

    def test_forgedStrippedWhenNotArchived(self):
        """
        XEP-0359 §3 rule 2: removed even when no id of ours is added.
        """
        self.send(self.alice, "bob@example.org", "news", type="headline",
                  extra="<stanza-id xmlns='%s' by='bob@example.org' id='forged'/>" % (NS_SID,))
        [delivered] = self.bob.take()
        self.assertEqual(delivered.findall(STANZA_ID), [])

    def test_forgedNotKeptInSenderArchive(self):
        """
        A stanza id the sender made up in its own name is not kept in its
        archive.
        """
        self.send(self.alice, "bob@example.org", "hello",
                  extra="<stanza-id xmlns='%s' by='alice@example.org' id='made-up'/>" % (NS_SID,))
        [item] = self.successResultOf(self.module.store.query("alice"))
        self.assertNotIn(b"made-up", item.payload)

    def test_onceForSeveralResources(self):
        """
        XEP-0313 §6.1.1: a message delivered to several resources is archived
        once.
        """
        laptop = self.bind("bob@example.org", "laptop")
        self.send(self.alice, "bob@example.org", "both")
        self.assertEqual(self.archive("bob"), ["both"])
        [one] = self.bob.take()
        [two] = laptop.take()
        self.assertIs(one, two)
        self.assertEqual(len(one.findall(STANZA_ID)), 1)

    def test_onceThroughFullThenBare(self):
        """
        A message to a resource that is not online goes through
        C{message/full} and then C{message/bare} (RFC 6121 §8.5.3.2.1): it
        is archived and stamped once.
        """
        self.send(self.alice, "bob@example.org/gone", "redirected")
        self.assertEqual(self.archive("bob"), ["redirected"])
        [delivered] = self.bob.take()
        self.assertEqual(len(delivered.findall(STANZA_ID)), 1)

    def test_fullJID(self):
        """
        A message to an online full JID is archived and stamped.
        """
        self.send(self.alice, "bob@example.org/phone", "direct")
        self.assertEqual(self.archive("bob"), ["direct"])
        self.assertEqual(len(self.bob.take()[0].findall(STANZA_ID)), 1)

    def test_selfMessageOnce(self):
        """
        A message an account sends itself is archived once, with
        C{with_} its own JID.
        """
        self.send(self.alice, "alice@example.org", "note to self")
        self.assertEqual(self.archive("alice"), ["note to self"])
        [item] = self.successResultOf(self.module.store.query("alice"))
        self.assertEqual(item.with_, "alice@example.org")

    def test_offlineRecipientArchived(self):
        """
        A message to an account with no session is archived (before offline
        storage would claim it).
        """
        self.send(self.alice, "carol@example.org", "later")
        self.assertEqual(self.archive("carol"), ["later"])

    def test_noSuchAccount(self):
        """
        RFC 6121 §8.5.1: nothing is archived for an account that does not
        exist.
        """
        self.send(self.alice, "nobody@example.org", "hello?")
        self.assertEqual(self.archive("nobody"), [])
        self.assertEqual(self.archive("alice"), ["hello?"])

    def test_remoteRecipient(self):
        """
        A message to another server is archived in the sender's archive.
        """
        self.send(self.alice, "romeo@montague.example/orchard", "wherefore")
        self.assertEqual(self.archive("alice"), ["wherefore"])
        [item] = self.successResultOf(self.module.store.query("alice"))
        self.assertEqual(item.with_, "romeo@montague.example")


class IdTests(unittest.TestCase):

    def test_increasing(self):
        """
        Ids increase with time, and strictly even when the clock stands
        still or goes back; the time can be read back.
        """
        clock = task.Clock()
        clock.advance(T0)
        ids = ArchiveIds(clock, randomBytes=lambda n: b"\x00" * n)
        first, micros = ids.next()
        self.assertEqual(micros, T0 * 10 ** 6)
        self.assertEqual(ArchiveIds.micros(first), micros)
        second, micros2 = ids.next()
        self.assertEqual(micros2, micros + 1)
        clock.advance(-10)
        third, micros3 = ids.next()
        self.assertEqual(micros3, micros + 2)
        self.assertLess(first, second)
        self.assertLess(second, third)

    def test_random(self):
        """
        XEP-0313 §3: ids are unpredictable.
        """
        ids = ArchiveIds(task.Clock())
        self.assertNotEqual(ids.next()[0].split("-")[1], ids.next()[0].split("-")[1])

    def test_foreign(self):
        for text in ("", "1", "abc-def", "0000000000000g-00000000", "00000000000000-0000000"):
            self.assertIsNone(ArchiveIds.micros(text))

    def test_stamps(self):
        """
        XEP-0082 DateTimes, read and written.
        """
        self.assertEqual(formatStamp(T0 * 10 ** 6 + 5), "2023-11-14T22:13:20.000005Z")
        self.assertEqual(parseStamp("2023-11-14T22:13:20Z"), T0 * 10 ** 6)
        self.assertEqual(parseStamp("2023-11-14T22:13:20.000005Z"), T0 * 10 ** 6 + 5)
        self.assertEqual(parseStamp("2023-11-14T23:13:20+01:00"), T0 * 10 ** 6)
        self.assertEqual(parseStamp("2023-11-14T22:13:20"), T0 * 10 ** 6)
        for bad in ("", "yesterday", "2023-11-14", "2023-13-14T00:00:00Z"):
            self.assertRaises(ValueError, parseStamp, bad)


class QueryTests(MamTestCase):
    """
    XEP-0313 §4: queries, filters and results.
    """

    def setUp(self):
        MamTestCase.setUp(self)
        self.carol = self.bind("carol@example.org", "desk")
        # Ten seconds apart: a0 b1 a2 c3 a4 b5 ...
        for n in range(10):
            sender = (self.alice, self.bob, self.alice, self.carol)[n % 4]
            to = "alice@example.org" if sender is not self.alice else "bob@example.org"
            self.send(sender, to, "m%d" % (n,), tick=10)
        for session in (self.alice, self.bob, self.carol):
            session.take()
        self.all = self.query().ids

    def test_all(self):
        """
        XEP-0313 §4: every message, in order, forwarded with a delay of
        when it was archived and the original addresses.
        """
        page = self.query()
        self.assertEqual(page.bodies, ["m%d" % (n,) for n in range(10)])
        self.assertEqual(page.complete, "true")
        self.assertEqual(page.count, "10")
        self.assertEqual(page.firstIndex, "0")
        self.assertEqual((page.first.text, page.last), (page.ids[0], page.ids[-1]))
        result = page.results[1].find(RESULT)
        # Received a microsecond after Bob's archive took it as sent:
        # ids are made one after the other on a host.
        self.assertEqual(result.find(FORWARDED).find(DELAY).get("stamp"),
                         "2023-11-14T22:13:30.000001Z")
        message = result.find(FORWARDED).find(CLIENT_MESSAGE)
        self.assertEqual((message.get("from"), message.get("to")),
                         ("bob@example.org/phone", "alice@example.org"))

    def test_resultSerialization(self):
        """
        The result serializes with plain default namespaces, as the XEP's
        examples show.
        """
        text = etree.tostring(self.query().results[0]).decode()
        self.assertIn("<result xmlns=\"urn:xmpp:mam:2\"", text)
        self.assertIn("<forwarded xmlns=\"urn:xmpp:forward:0\"><delay xmlns=\"urn:xmpp:delay\"", text)
        self.assertIn("<message xmlns=\"jabber:client\"", text)

    def test_noQueryId(self):
        """
        Without a queryid the results carry none.
        """
        page = self.query(queryid=None)
        self.assertEqual(len(page.ids), 10)
        self.assertIsNone(page.fin.get("queryid"))

    def test_withBare(self):
        """
        XEP-0313 §4.1.1: messages to or from a bare JID, any resource.
        """
        page = self.query(formXML=form(**{"with": "bob@example.org"}))
        self.assertEqual(page.bodies, ["m0", "m1", "m2", "m4", "m5", "m6", "m8", "m9"])
        self.assertIsNone(page.count)
        self.assertEqual(page.firstIndex, "0")
        page = self.query(formXML=form(**{"with": "carol@example.org"}))
        self.assertEqual(page.bodies, ["m3", "m7"])

    def test_withFull(self):
        """
        XEP-0313 §4.1.1: a full JID matches only that resource.
        """
        self.send(self.bind("bob@example.org", "laptop"), "alice@example.org", "from laptop")
        page = self.query(formXML=form(**{"with": "bob@example.org/laptop"}))
        self.assertEqual(page.bodies, ["from laptop"])
        page = self.query(formXML=form(**{"with": "bob@example.org/phone"}))
        self.assertEqual(page.bodies, ["m1", "m5", "m9"])

    def test_withFullPaged(self):
        """
        The resource filter, applied after reading, still pages exactly.
        """
        page = self.query(formXML=form(**{"with": "bob@example.org/phone"}), rsmXML=rsm(max=2))
        self.assertEqual((page.bodies, page.complete), (["m1", "m5"], "false"))
        page = self.query(formXML=form(**{"with": "bob@example.org/phone"}),
                          rsmXML=rsm(max=2, after=page.last))
        self.assertEqual((page.bodies, page.complete), (["m9"], "true"))

    def test_withSelf(self):
        """
        XEP-0313 §4.1.1: 'with' the account itself gives only the messages
        it sent itself.
        """
        self.send(self.alice, "alice@example.org", "memo")
        page = self.query(formXML=form(**{"with": "alice@example.org"}))
        self.assertEqual(page.bodies, ["memo"])

    def test_startEndInclusive(self):
        """
        XEP-0313 §4.1.2: start and end are inclusive, to the microsecond
        of the delay stamps results carry.
        """
        stamps = [r.find(RESULT).find(FORWARDED).find(DELAY).get("stamp")
                  for r in self.query().results]
        page = self.query(formXML=form(start=stamps[1], end=stamps[4]))
        self.assertEqual(page.bodies, ["m1", "m2", "m3", "m4"])
        after = formatStamp(parseStamp(stamps[1]) + 1)
        before = formatStamp(parseStamp(stamps[4]) - 1)
        page = self.query(formXML=form(start=after, end=before))
        self.assertEqual(page.bodies, ["m2", "m3"])
        page = self.query(formXML=form(end="2023-11-14T22:13:29.999999Z"))
        self.assertEqual(page.bodies, ["m0"])

    def test_timesMatchSeconds(self):
        """
        Whole-second bounds select by the time messages were archived.
        """
        page = self.query(formXML=form(start="2023-11-14T22:13:30Z", end="2023-11-14T22:14:01Z"))
        self.assertEqual(page.bodies, ["m1", "m2", "m3", "m4"])

    def test_timeZones(self):
        """
        XEP-0082: offsets are honoured.
        """
        page = self.query(formXML=form(start="2023-11-14T23:14:00+01:00"))
        self.assertEqual(page.bodies, ["m4", "m5", "m6", "m7", "m8", "m9"])

    def test_combined(self):
        page = self.query(formXML=form(**{"with": "bob@example.org", "start": "2023-11-14T22:13:40Z",
                                          "end": "2023-11-14T22:14:20Z"}))
        self.assertEqual(page.bodies, ["m2", "m4", "m5", "m6"])

    def test_afterId(self):
        """
        XEP-0313 §4.1.3: after-id excludes the named message.
        """
        page = self.query(formXML=form(after_id=self.all[6]))
        self.assertEqual(page.bodies, ["m7", "m8", "m9"])

    def test_beforeAfterId(self):
        """
        XEP-0313 §4.1.3: the messages between two known ones, in order
        (before-id does not page backwards, §9).
        """
        page = self.query(formXML=form(after_id=self.all[2], before_id=self.all[7]), rsmXML=rsm(max=2))
        self.assertEqual(page.bodies, ["m3", "m4"])
        self.assertEqual(page.complete, "false")
        self.assertEqual(page.firstIndex, "0")

    def test_ids(self):
        """
        XEP-0313 §4.1.3: the messages named, in archive order.
        """
        page = self.query(formXML=form(ids=[self.all[5], self.all[1]]))
        self.assertEqual(page.bodies, ["m1", "m5"])

    def test_idsWithFilter(self):
        page = self.query(formXML=form(ids=[self.all[3], self.all[1]], **{"with": "carol@example.org"}))
        self.assertEqual(page.bodies, ["m3"])

    def test_unknownIds(self):
        """
        XEP-0313 §4.1.3, §4.3.2: an id the archive does not have is
        item-not-found, wherever it is given.
        """
        bob = self.query(self.bob).ids[0]
        for formXML, rsmXML in ((form(after_id="nope"), ""),
                                (form(before_id=bob), ""),
                                (form(ids=[self.all[0], "00000000000000-00000000"]), ""),
                                ("", rsm(after=bob)),
                                ("", rsm(before="nope"))):
            self.assertEqual(self.queryError(formXML, rsmXML), "item-not-found")

    def test_unknownField(self):
        """
        XEP-0313 §4.1.5: an unknown field is feature-not-implemented.
        """
        self.assertEqual(self.queryError(form(**{"include-groupchat": "true"})),
                         "feature-not-implemented")

    def test_badForms(self):
        """
        Bad dates, JIDs, a foreign FORM_TYPE, or a form that is not a
        submission are bad requests.
        """
        self.assertEqual(self.queryError(form(start="yesterday")), "bad-request")
        self.assertEqual(self.queryError(form(**{"with": "@@"})), "bad-request")
        self.assertEqual(self.queryError(form().replace(NS_MAM, "urn:xmpp:mam:1")), "bad-request")
        self.assertEqual(self.queryError(form().replace("submit", "form")), "bad-request")
        self.assertEqual(self.queryError("", rsm().replace("</set>", "<max>x</max></set>")),
                         "bad-request")

    def test_noFormType(self):
        """
        A form without FORM_TYPE is taken as a MAM query.
        """
        page = self.query(formXML="<x xmlns='jabber:x:data' type='submit'><field var='with'>"
                                  "<value>carol@example.org</value></field></x>")
        self.assertEqual(page.bodies, ["m3", "m7"])

    def test_emptyResult(self):
        """
        XEP-0313 §4.1: no match is a successful, complete, empty result.
        """
        page = self.query(formXML=form(**{"with": "dave@example.org"}))
        self.assertEqual(page.ids, [])
        self.assertEqual(page.complete, "true")
        self.assertIsNone(page.first)
        self.assertIsNone(page.last)

    def test_otherArchiveForbidden(self):
        """
        XEP-0313 §8.1: an account cannot read another's archive.
        """
        self.assertEqual(self.queryError(to="bob@example.org"), "forbidden")
        [reply] = self.iq(self.alice, "<prefs xmlns='%s'/>" % (NS_MAM,), type="get", to="bob@example.org")
        self.assertEqual(stanzaErrorCondition(reply), "forbidden")

    def test_toOwnBareJID(self):
        """
        A query addressed to the account's own bare JID is the same query.
        """
        [*results, reply] = self.iq(self.alice, "<query xmlns='%s'/>" % (NS_MAM,), to="alice@example.org")
        self.assertEqual(len(results), 10)
        self.assertEqual(reply.get("type"), "result")

    def test_pubsubNode(self):
        [reply] = self.iq(self.alice, "<query xmlns='%s' node='x'/>" % (NS_MAM,))
        self.assertEqual(stanzaErrorCondition(reply), "item-not-found")

    def test_queryForm(self):
        """
        XEP-0313 §4.1.5: the form lists every field, none required, 'ids'
        open to any value.
        """
        [reply] = self.iq(self.alice, "<query xmlns='%s'/>" % (NS_MAM,), type="get")
        x = reply.find("{%s}query/{jabber:x:data}x" % (NS_MAM,))
        self.assertEqual(x.get("type"), "form")
        fields = {f.get("var"): f for f in x.findall("{jabber:x:data}field")}
        self.assertEqual(set(fields), {"FORM_TYPE", "with", "start", "end", "before-id",
                                       "after-id", "ids"})
        self.assertEqual(fields["FORM_TYPE"].findtext("{jabber:x:data}value"), NS_MAM)
        self.assertEqual(fields["with"].get("type"), "jid-single")
        self.assertIsNotNone(fields["ids"].find(
            "{http://jabber.org/protocol/xdata-validate}validate/"
            "{http://jabber.org/protocol/xdata-validate}open"))
        self.assertIsNone(x.find(".//{jabber:x:data}required"))

    def test_metadata(self):
        """
        XEP-0313 §5: the first and last messages of the archive.
        """
        [reply] = self.iq(self.alice, "<metadata xmlns='%s'/>" % (NS_MAM,), type="get")
        metadata = reply.find("{%s}metadata" % (NS_MAM,))
        start = metadata.find("{%s}start" % (NS_MAM,))
        end = metadata.find("{%s}end" % (NS_MAM,))
        self.assertEqual((start.get("id"), start.get("timestamp")),
                         (self.all[0], "2023-11-14T22:13:20.000000Z"))
        self.assertEqual(end.get("id"), self.all[9])
        [reply] = self.iq(self.bind("dave@example.org", "x"), "<metadata xmlns='%s'/>" % (NS_MAM,),
                          type="get")
        self.assertEqual(len(reply.find("{%s}metadata" % (NS_MAM,))), 0)


class PagingTests(MamTestCase):
    """
    XEP-0313 §4.3 and XEP-0059: paging forwards and backwards, with exact
    boundaries.
    """

    options = {"max_page_size": 5}

    def setUp(self):
        MamTestCase.setUp(self)
        for n in range(10):
            self.send(self.bob, "alice@example.org", "m%d" % (n,))
        self.alice.take()
        self.all = self.query(rsmXML=rsm(max=5)).ids + self.query(rsmXML=rsm(max=5, index=5)).ids

    def test_forward(self):
        """
        XEP-0059 §2.2: each page starts right after the last one's last
        item, and the last one says it is complete.
        """
        pages = []
        after = None
        while True:
            page = self.query(rsmXML=rsm(max=3, after=after))
            pages.append(page)
            if page.complete == "true":
                break
            after = page.last
        self.assertEqual([p.bodies for p in pages],
                         [["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6", "m7", "m8"], ["m9"]])
        self.assertEqual([p.complete for p in pages], ["false", "false", "false", "true"])
        self.assertEqual(pages[0].firstIndex, "0")
        self.assertEqual([p.count for p in pages], ["10"] * 4)
        self.assertEqual([p.first.text for p in pages], [p.ids[0] for p in pages])
        self.assertEqual([p.last for p in pages], [p.ids[-1] for p in pages])

    def test_pastTheEnd(self):
        """
        XEP-0059 §2.2: after the last item, an empty page without first or
        last.
        """
        page = self.query(rsmXML=rsm(max=3, after=self.all[9]))
        self.assertEqual((page.ids, page.first, page.last, page.complete), ([], None, None, "true"))
        self.assertEqual(page.count, "10")

    def test_exactEnd(self):
        """
        A page that ends exactly at the last item is complete.
        """
        page = self.query(rsmXML=rsm(max=3, after=self.all[6]))
        self.assertEqual((page.bodies, page.complete), (["m7", "m8", "m9"], "true"))

    def test_lastPage(self):
        """
        XEP-0313 §4.3.3, XEP-0059 §2.5: an empty before asks for the last
        page, in chronological order, with its index.
        """
        page = self.query(rsmXML=rsm(max=3, before=""))
        self.assertEqual(page.bodies, ["m7", "m8", "m9"])
        self.assertEqual(page.complete, "false")
        self.assertEqual(page.count, "10")
        # No index on backward pages: "index + items == count" would end a
        # backward walk in slixmpp after one page.
        self.assertIsNone(page.firstIndex)

    def test_backward(self):
        """
        XEP-0059 §2.3: each page ends right before the previous one's
        first item, until the start.
        """
        pages = [self.query(rsmXML=rsm(max=4, before=""))]
        while pages[-1].complete != "true":
            pages.append(self.query(rsmXML=rsm(max=4, before=pages[-1].first.text)))
        self.assertEqual([p.bodies for p in pages],
                         [["m6", "m7", "m8", "m9"], ["m2", "m3", "m4", "m5"], ["m0", "m1"]])
        self.assertEqual([p.complete for p in pages], ["false", "false", "true"])

    def test_backwardExactStart(self):
        page = self.query(rsmXML=rsm(max=3, before=self.all[3]))
        self.assertEqual((page.bodies, page.complete), (["m0", "m1", "m2"], "true"))
        page = self.query(rsmXML=rsm(max=3, before=self.all[0]))
        self.assertEqual((page.ids, page.complete), ([], "true"))

    def test_capped(self):
        """
        XEP-0313 §4.3.1: the server limits a page to its maximum, whatever
        the client asked, and says the result is not complete.
        """
        for rsmXML in ("", rsm(max=100)):
            page = self.query(rsmXML=rsmXML)
            self.assertEqual(page.bodies, ["m0", "m1", "m2", "m3", "m4"])
            self.assertEqual(page.complete, "false")

    def test_countOnly(self):
        """
        XEP-0059 §2.7: max 0 gives the count and no items.
        """
        page = self.query(rsmXML=rsm(max=0))
        self.assertEqual((page.ids, page.count, page.first), ([], "10", None))

    def test_index(self):
        """
        XEP-0059 §2.6: a page by index, whose first item has that index.
        """
        page = self.query(rsmXML=rsm(max=3, index=4))
        self.assertEqual(page.bodies, ["m4", "m5", "m6"])
        self.assertEqual(page.firstIndex, "4")
        page = self.query(rsmXML=rsm(max=3, index=12))
        self.assertEqual(page.ids, [])

    def test_flipPage(self):
        """
        XEP-0313 §4.3.4: a flipped page holds the same results, sent newest
        first.
        """
        page = self.query(rsmXML=rsm(max=3, before=""), extra="<flip-page/>")
        self.assertEqual(page.bodies, ["m9", "m8", "m7"])
        self.assertEqual((page.first.text, page.last), (self.all[7], self.all[9]))

    def test_rsmWithFilter(self):
        """
        RSM paging within a time window.
        """
        window = form(start="2023-11-14T22:13:22Z", end="2023-11-14T22:13:27.5Z")
        page = self.query(formXML=window, rsmXML=rsm(max=2, before=""))
        self.assertEqual(page.bodies, ["m6", "m7"])
        page = self.query(formXML=window, rsmXML=rsm(max=2, before=page.first.text))
        self.assertEqual(page.bodies, ["m4", "m5"])
        page = self.query(formXML=window, rsmXML=rsm(max=5, before=page.first.text))
        self.assertEqual((page.bodies, page.complete), (["m2", "m3"], "true"))


class AnnotationTests(MamTestCase):
    """
    The archive id is given on the router's annotation step
    (L{MESSAGE_ANNOTATE}), once per message to a local account, before
    every copy is made: delivered, stored offline, carbon-copied
    (XEP-0313 §3.5; XEP-0359 §3 rules 2 and 4).
    """

    FORGED = "<stanza-id xmlns='%s' by='bob@example.org' id='forged'/>" % (NS_SID,)

    def loadOther(self, moduleClass, name):
        api = ModuleAPI(name, self.host, self.router, self.sessions, self.storage, self.clock)
        module = moduleClass(api)
        loading = module.load()
        if loading is not None:
            self.successResultOf(loading)
        self.addCleanup(module.unload)
        return module

    def test_fallbackToBareOnceForgedRemoved(self):
        """
        A message to a full JID with no such resource is handled as sent to
        the bare JID (RFC 6121 §8.5.3.2.1): it is archived exactly once and
        delivered with exactly one stanza id by the archive, its archive
        id; a stanza id the sender forged in the archive's name is removed
        from the delivered copy (XEP-0359 §3 rule 2) and not archived.
        """
        self.send(self.alice, "bob@example.org/gone", "redirected", extra=self.FORGED)
        [item] = self.successResultOf(self.module.store.query("bob"))
        self.assertNotIn(b"forged", item.payload)
        [delivered] = self.bob.take()
        [stanzaId] = delivered.findall(STANZA_ID)
        self.assertEqual(stanzaId.get("by"), "bob@example.org")
        self.assertEqual(self.query(self.bob).ids, [stanzaId.get("id")])

    def test_askedNotMutated(self):
        """
        MAM asks the router for its changes: the message its annotation
        handlers see is the one the sender sent; the stanza id and the
        removal appear once they have all run.
        """
        seen = []
        self.host.events.hook(MESSAGE_ANNOTATE, lambda annotation: seen.append(
            [child.get("id") for child in annotation.event.stanza.findall(STANZA_ID)]), -1)
        self.send(self.alice, "bob@example.org", "hello", extra=self.FORGED)
        self.assertEqual(seen, [["forged"]])
        [delivered] = self.bob.take()
        self.assertNotEqual([s.get("id") for s in delivered.findall(STANZA_ID)], ["forged"])
        self.assertEqual(len(delivered.findall(STANZA_ID)), 1)

    def test_offlineStoresStampedCopy(self):
        """
        Offline storage (XEP-0160), which claims the message for an account
        with no available resource, keeps the copy with the stanza id, and
        without the forged one.
        """
        offline = self.loadOther(OfflineModule, "offline")
        self.send(self.alice, "carol@example.org", "later", extra=self.FORGED.replace("bob", "carol"))
        [item] = self.successResultOf(offline.store.query("carol"))
        stored = etree.fromstring(item.payload)
        [stanzaId] = stored.findall(STANZA_ID)
        self.assertEqual(stanzaId.get("by"), "carol@example.org")
        [archived] = self.successResultOf(self.module.store.query("carol"))
        self.assertTrue(archived.payload.startswith(stanzaId.get("id").encode("ascii") + b"\n"))

    def test_carbonCopyCarriesId(self):
        """
        XEP-0313 §3.5: a carbon copy (XEP-0280) of a received message
        carries the archive's stanza id in the forwarded message.
        """
        self.loadOther(CarbonsModule, "carbons")
        laptop = self.bind("bob@example.org", "laptop")
        self.iq(laptop, "<enable xmlns='urn:xmpp:carbons:2'/>")
        self.send(self.alice, "bob@example.org/phone", "copied")
        [delivered] = self.bob.take()
        [carbon] = laptop.take()
        [copied] = [m for m in carbon.iter(CLIENT_MESSAGE) if m is not carbon]
        self.assertEqual([s.get("id") for s in copied.findall(STANZA_ID)],
                         [s.get("id") for s in delivered.findall(STANZA_ID)])
        self.assertEqual(len(copied.findall(STANZA_ID)), 1)


class PrefsTests(MamTestCase):
    """
    XEP-0441: archiving preferences.
    """

    def setPrefs(self, session, default, always=(), never=()):
        def jids(name, values):
            return "<%s>%s</%s>" % (name, "".join("<jid>%s</jid>" % (v,) for v in values), name)
        return self.iq(session, "<prefs xmlns='%s' default='%s'>%s%s</prefs>"
                       % (NS_MAM, default, jids("always", always), jids("never", never)))

    def getPrefs(self, session):
        [reply] = self.iq(session, "<prefs xmlns='%s'/>" % (NS_MAM,), type="get")
        prefs = reply.find("{%s}prefs" % (NS_MAM,))
        return (prefs.get("default"),
                [j.text for j in prefs.findall("{%s}always/{%s}jid" % (NS_MAM, NS_MAM))],
                [j.text for j in prefs.findall("{%s}never/{%s}jid" % (NS_MAM, NS_MAM))])

    def test_prefsMatching(self):
        """
        L{ArchivingPrefs.listed}: bare entries match any resource, full
        ones only themselves, never before always.
        """
        from xmppframe.jid import parseJID
        prefs = ArchivingPrefs("roster", always=["a@x", "b@x/r"], never=["a@x/bad"])
        self.assertTrue(prefs.listed(parseJID("a@x/any")))
        self.assertFalse(prefs.listed(parseJID("a@x/bad")))
        self.assertTrue(prefs.listed(parseJID("b@x/r")))
        self.assertIsNone(prefs.listed(parseJID("b@x/other")))
        self.assertRaises(ValueError, ArchivingPrefs, "sometimes")

    def test_default(self):
        """
        XEP-0441 §2.1: the prefs, with empty lists, are always answered.
        """
        self.assertEqual(self.getPrefs(self.alice), ("always", [], []))

    def test_set(self):
        """
        XEP-0441 §2.1: the applied preferences come back, prepared.
        """
        [reply] = self.setPrefs(self.alice, "roster", ["Romeo@Montague.example"], ["bob@example.org"])
        self.assertEqual(reply.get("type"), "result")
        self.assertEqual(reply.find("{%s}prefs" % (NS_MAM,)).get("default"), "roster")
        self.assertEqual(self.getPrefs(self.alice),
                         ("roster", ["romeo@montague.example"], ["bob@example.org"]))

    def test_survivesRestart(self):
        self.setPrefs(self.alice, "never", ["carol@example.org"])
        self.restart()
        self.assertEqual(self.getPrefs(self.alice), ("never", ["carol@example.org"], []))
        self.send(self.alice, "bob@example.org", "no")
        self.send(self.alice, "carol@example.org", "yes")
        self.assertEqual(self.archive("alice"), ["yes"])

    def test_bad(self):
        """
        XEP-0441 §2.1.1: an unknown or missing default, or a bad JID, is
        refused and changes nothing.
        """
        [reply] = self.setPrefs(self.alice, "sometimes")
        self.assertEqual(stanzaErrorCondition(reply), "bad-request")
        [reply] = self.iq(self.alice, "<prefs xmlns='%s'/>" % (NS_MAM,))
        self.assertEqual(stanzaErrorCondition(reply), "bad-request")
        [reply] = self.setPrefs(self.alice, "never", ["@bad"])
        self.assertEqual(stanzaErrorCondition(reply), "jid-malformed")
        self.assertEqual(self.getPrefs(self.alice), ("always", [], []))

    def test_never(self):
        """
        Default never: nothing archived, and no stanza id given.
        """
        self.setPrefs(self.bob, "never")
        self.send(self.alice, "bob@example.org", "unarchived")
        self.assertEqual(self.archive("bob"), [])
        self.assertEqual(self.bob.take()[0].findall(STANZA_ID), [])
        self.assertEqual(self.archive("alice"), ["unarchived"])

    def test_lists(self):
        """
        XEP-0441 §2.3.1: a bare JID in a list matches every resource, a
        full one only itself; never wins over always.
        """
        laptop = self.bind("carol@example.org", "laptop")
        phone = self.bind("carol@example.org", "phone")
        self.setPrefs(self.bob, "never", ["carol@example.org/laptop", "alice@example.org"],
                      ["alice@example.org"])
        self.send(laptop, "bob@example.org", "laptop")
        self.send(phone, "bob@example.org", "phone")
        self.send(self.alice, "bob@example.org", "alice")
        self.assertEqual(self.archive("bob"), ["laptop"])

    def test_outgoingTarget(self):
        """
        XEP-0441 §2.3.2: for outgoing messages the 'to' is matched.
        """
        self.setPrefs(self.alice, "always", never=["bob@example.org"])
        self.send(self.alice, "bob@example.org/phone", "no")
        self.send(self.alice, "carol@example.org", "yes")
        self.assertEqual(self.archive("alice"), ["yes"])

    def test_rosterWithoutRosterModule(self):
        """
        Default roster without a roster module: nobody is in the roster.
        """
        self.setPrefs(self.bob, "roster")
        self.send(self.alice, "bob@example.org", "who?")
        self.assertEqual(self.archive("bob"), [])

    def test_roster(self):
        """
        XEP-0441 §2.1.1: default roster archives only contacts in the
        roster, by bare JID.
        """
        roster = FakeRoster()
        self.host.services.provide(IRoster, roster)
        roster.contacts["bob"] = {"alice@example.org"}
        self.setPrefs(self.bob, "roster")
        self.send(self.alice, "bob@example.org", "friend")
        self.send(self.bind("carol@example.org", "x"), "bob@example.org", "stranger")
        self.assertEqual(self.archive("bob"), ["friend"])
        [friend, stranger] = self.bob.take()
        self.assertEqual(len(friend.findall(STANZA_ID)), 1)
        self.assertEqual(stranger.findall(STANZA_ID), [])

    def test_rosterLater(self):
        """
        When the roster answers later (a database read), the message waits
        for it (the router holds it, and what its sender sends after it)
        and is delivered with its stanza id (XEP-0313 §3.5); others go on.
        """
        roster = FakeRoster()
        self.host.services.provide(IRoster, roster)
        roster.contacts["bob"] = {"alice@example.org"}
        roster.later = True
        self.setPrefs(self.bob, "roster", never=["carol@example.org"])
        self.send(self.alice, "bob@example.org", "first")
        self.send(self.bind("carol@example.org", "x"), "bob@example.org", "never")
        self.send(self.alice, "bob@example.org", "second")
        [never] = self.bob.take()
        self.assertEqual(never.findtext(BODY), "never")
        self.assertEqual(self.archive("bob"), [])
        roster.answer()
        [first, second] = self.bob.take()
        self.assertEqual([first.findtext(BODY), second.findtext(BODY)], ["first", "second"])
        self.assertEqual(self.archive("bob"), ["first", "second"])
        self.assertEqual([m.find(STANZA_ID).get("id") for m in (first, second)],
                         self.query(self.bob).ids)
        # The roster was asked once: its answer is remembered.
        self.assertEqual(roster.pending, [])

    def test_rosterChangeFollowed(self):
        """
        What the roster said is kept current by its changes
        (L{ROSTER_CHANGED}): a contact removed from the roster is no longer
        archived under the roster default (XEP-0441 §2.1.1).
        """
        roster = FakeRoster()
        self.host.services.provide(IRoster, roster)
        roster.contacts["bob"] = {"alice@example.org"}
        self.setPrefs(self.bob, "roster")
        self.send(self.alice, "bob@example.org", "friend")
        alice = self.router.jids.parse("alice@example.org")
        self.host.events.fireAll(ROSTER_CHANGED, RosterChange("bob", alice, None))
        self.send(self.alice, "bob@example.org", "stranger now")
        self.assertEqual(self.archive("bob"), ["friend"])

    def test_queryWaitsForWrites(self):
        """
        A query sees every message archived before it: it waits for the
        account's writes still under way.
        """
        gate = defer.Deferred()
        store = self.module.store
        append = store.append

        def slowAppend(*args, **kwargs):
            return gate.addCallback(lambda _: append(*args, **kwargs))
        self.patch(store, "append", slowAppend)
        self.send(self.alice, "bob@example.org", "pending")
        [delivered] = self.bob.take()
        self.assertEqual(len(delivered.findall(STANZA_ID)), 1)
        self.assertEqual(self.iq(self.bob, "<query xmlns='%s'/>" % (NS_MAM,)), [])
        gate.callback(None)
        [result, reply] = self.bob.take()
        self.assertEqual(reply.get("type"), "result")
        self.assertEqual(Page([result], reply.find(FIN)).bodies, ["pending"])

    def test_defaultOption(self):
        """
        The default_archiving option applies to accounts without prefs.
        """
        self.restart({"default_archiving": "never"})
        self.assertEqual(self.getPrefs(self.alice), ("never", [], []))
        self.send(self.alice, "bob@example.org", "x")
        self.assertEqual(self.archive("alice"), [])


class RetentionTests(MamTestCase):
    """
    XEP-0313 §3.2: the oldest messages are deleted, by age and by number.
    """

    options = {"retention_days": 2, "max_messages": 0, "cleanup_interval": 3600}

    def test_byAge(self):
        for n in range(3):
            self.send(self.alice, "bob@example.org", "old%d" % (n,))
        self.clock.advance(86400)
        self.send(self.alice, "bob@example.org", "new")
        self.clock.advance(86400 - 3600)
        self.assertEqual(self.archive("alice"), ["old0", "old1", "old2", "new"])
        self.clock.advance(3600 + 10)
        self.assertEqual(self.archive("alice"), ["new"])
        self.assertEqual(self.archive("bob"), ["new"])
        # The timer is set again after each run.
        self.clock.advance(86400 * 2)
        self.assertEqual(self.archive("alice"), [])

    def test_byCount(self):
        self.restart({"retention_days": 0, "max_messages": 3, "cleanup_interval": 60})
        for n in range(5):
            self.send(self.alice, "bob@example.org", "m%d" % (n,), tick=0)
        self.clock.advance(60)
        self.assertEqual(self.archive("alice"), ["m2", "m3", "m4"])

    def test_idsStayValid(self):
        """
        XEP-0313 §3.2: ids are not reused, and a deleted one is unknown.
        """
        self.send(self.alice, "bob@example.org", "old")
        oldId = self.query().ids[0]
        self.clock.advance(3 * 86400)
        self.send(self.alice, "bob@example.org", "new")
        self.assertNotEqual(self.query().ids, [oldId])
        self.assertEqual(self.queryError(form(after_id=oldId)), "item-not-found")

    def test_unloadStopsTimer(self):
        self.successResultOf(self.module.unload())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_noLimitsNoTimer(self):
        self.restart({"retention_days": 0, "max_messages": 0})
        self.assertEqual(self.clock.getDelayedCalls(), [])
