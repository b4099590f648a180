"""
Tests for L{xmppframe.modules.private}: Private XML Storage (XEP-0049)
through the real router, with fake sessions and the in-memory store.
"""

from lxml import etree

from zope.interface.verify import verifyObject

from twisted.internet import defer, task
from twisted.trial import unittest

from xmppframe.interfaces import IModule
from xmppframe.api.module import ModuleAPI
from xmppframe.modules.private import PRIVATE, PrivateStorageModule, isReservedNamespace
from xmppframe.router import Router
from xmppframe.session import SessionManager

from tests.fakes import FakeSession, makeHost, parse, stanzaErrorCondition

QUERY_TAG = "{%s}query" % (PRIVATE,)

EXODUS = ("<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>")


class PausedMap:
    """
    A map store whose calls wait for L{release}: a slow database, to see
    that two sets of one account do not interleave.
    """

    def __init__(self, store):
        self.store = store
        self.waiting = []

    def _later(self, d):
        gated = defer.Deferred()
        self.waiting.append((d, gated))
        return gated

    def get(self, *args):
        return self._later(self.store.get(*args))

    def items(self, user):
        return self._later(self.store.items(user))

    def set(self, *args):
        return self._later(self.store.set(*args))

    def release(self):
        while self.waiting:
            d, gated = self.waiting.pop(0)
            d.chainDeferred(gated)


class PrivateTestCase(unittest.TestCase):

    options = {}

    def setUp(self):
        self.clock = task.Clock()
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = makeHost("shakespeare.lit")
        self.router.addHost(self.host)
        api = ModuleAPI("private", self.host, self.router, self.sessions,
                        self.host.storage, self.clock, self.options)
        self.module = PrivateStorageModule(api)
        self.module.load()
        self.hamlet = self.bindSession("hamlet@shakespeare.lit", "denmark")
        self.macbeth = self.bindSession("macbeth@shakespeare.lit", "scotland")

    def bindSession(self, jid, resource):
        session = FakeSession(jid, host=self.host, available=True, manager=self.sessions)
        self.sessions.bind(session, resource)
        return session

    def send(self, xml, session=None):
        session = session or self.hamlet
        self.router.process(session, parse(xml))
        [reply] = session.take()
        return reply

    def store(self, payload, id="s1", to=""):
        return self.send("<iq type='set' id='%s'%s><query xmlns='jabber:iq:private'>%s</query></iq>"
                         % (id, " to='%s'" % (to,) if to else "", payload))

    def retrieve(self, payload, id="g1"):
        return self.send("<iq type='get' id='%s'><query xmlns='jabber:iq:private'>%s</query></iq>"
                         % (id, payload))

    def assertResult(self, reply, id):
        self.assertEqual(reply.get("type"), "result", etree.tostring(reply))
        self.assertEqual(reply.get("id"), id)

    def assertError(self, reply, condition, id):
        self.assertEqual(stanzaErrorCondition(reply), condition, etree.tostring(reply))
        self.assertEqual(reply.get("id"), id)

    def answered(self, reply):
        """
        The one element in the query of a get's result.
        """
        self.assertResult(reply, reply.get("id"))
        [query] = reply
        self.assertEqual(query.tag, QUERY_TAG)
        [element] = query
        return element


class StoreRetrieveTests(PrivateTestCase):

    def test_module(self):
        self.assertTrue(verifyObject(IModule, self.module))
        self.assertEqual(self.module.xeps, ("XEP-0049",))
        self.assertIn(PRIVATE, self.host.features())

    def test_roundTrip(self):
        """
        XEP-0049 §2 examples 1 and 2: store, then retrieve by name.
        """
        reply = self.store(EXODUS, id="1001")
        self.assertResult(reply, "1001")
        self.assertEqual(len(reply), 0)
        element = self.answered(self.retrieve("<exodus xmlns='exodus:prefs'/>", id="1002"))
        self.assertEqual(element.tag, "{exodus:prefs}exodus")
        self.assertEqual(element.findtext("{exodus:prefs}defaultnick"), "Hamlet")

    def test_retrieveNothingStored(self):
        """
        Nothing stored under the name: the empty element asked for.
        """
        element = self.answered(self.retrieve("<storage xmlns='storage:bookmarks'/>"))
        self.assertEqual(element.tag, "{storage:bookmarks}storage")
        self.assertEqual(len(element), 0)

    def test_nameIsNamespaceAndLocalName(self):
        """
        Elements are told apart by namespace and local name together.
        """
        self.store("<a xmlns='urn:one'>1</a><b xmlns='urn:one'>2</b><a xmlns='urn:two'>3</a>")
        for xml, text in (("<a xmlns='urn:one'/>", "1"), ("<b xmlns='urn:one'/>", "2"),
                          ("<a xmlns='urn:two'/>", "3")):
            self.assertEqual(self.answered(self.retrieve(xml)).text, text)

    def test_replace(self):
        self.store(EXODUS)
        self.store("<exodus xmlns='exodus:prefs'><defaultnick>Yorick</defaultnick></exodus>")
        element = self.answered(self.retrieve("<exodus xmlns='exodus:prefs'/>"))
        self.assertEqual(element.findtext("{exodus:prefs}defaultnick"), "Yorick")

    def test_emptyDeletes(self):
        """
        Storing the empty element removes what was stored.
        """
        self.store(EXODUS)
        self.store("<exodus xmlns='exodus:prefs'/>")
        self.assertEqual(self.successResultOf(self.module.data.items("hamlet")), {})
        element = self.answered(self.retrieve("<exodus xmlns='exodus:prefs'/>"))
        self.assertEqual(len(element), 0)

    def test_perAccount(self):
        """
        XEP-0049 §5: each account sees only its own data.
        """
        self.store(EXODUS)
        element = self.answered(self.send(
            "<iq type='get' id='g2'><query xmlns='jabber:iq:private'>"
            "<exodus xmlns='exodus:prefs'/></query></iq>", self.macbeth))
        self.assertEqual(len(element), 0)

    def test_toOwnBareJID(self):
        reply = self.store(EXODUS, to="hamlet@shakespeare.lit")
        self.assertResult(reply, "s1")


class ErrorTests(PrivateTestCase):

    def test_otherAccount(self):
        """
        XEP-0049 §2: get or set of another account's data is forbidden.
        """
        reply = self.store(EXODUS, id="1003", to="macbeth@shakespeare.lit")
        self.assertError(reply, "forbidden", "1003")
        reply = self.send("<iq type='get' id='1004' to='macbeth@shakespeare.lit'>"
                          "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/>"
                          "</query></iq>")
        self.assertError(reply, "forbidden", "1004")
        self.assertEqual(self.macbeth.take(), [])

    def test_emptyQuery(self):
        """
        XEP-0049 §2: at least one child, else not-acceptable.
        """
        self.assertError(self.retrieve(""), "not-acceptable", "g1")
        self.assertError(self.store(""), "not-acceptable", "s1")

    def test_getTwo(self):
        """
        XEP-0049 §2: one namespace per get.
        """
        reply = self.retrieve("<a xmlns='urn:one'/><b xmlns='urn:two'/>")
        self.assertError(reply, "bad-request", "g1")

    def test_reserved(self):
        """
        XEP-0049 §2: reserved namespaces are refused with not-acceptable.
        """
        reply = self.store("<vCard xmlns='vcard-temp'><FN>Hamlet</FN></vCard>", id="1005")
        self.assertError(reply, "not-acceptable", "1005")
        reply = self.retrieve("<query xmlns='jabber:iq:roster'/>")
        self.assertError(reply, "not-acceptable", "g1")
        # A child without a namespace of its own is in jabber:iq:private.
        self.assertError(self.store("<prefs>x</prefs>"), "not-acceptable", "s1")
        self.assertEqual(self.successResultOf(self.module.data.items("hamlet")), {})

    def test_reservedNames(self):
        for namespace in ("jabber:iq:roster", "jabber:x:data", "vcard-temp",
                          "http://jabber.org/protocol/muc"):
            self.assertTrue(isReservedNamespace(namespace), namespace)
        for namespace in ("storage:bookmarks", "exodus:prefs", "urn:xmpp:bookmarks:1",
                          "https://jabber.org/x"):
            self.assertFalse(isReservedNamespace(namespace), namespace)

    def test_noNamespace(self):
        reply = self.retrieve("<prefs xmlns=''/>")
        self.assertError(reply, "not-acceptable", "g1")

    def test_reservedAmongOthersStoresNothing(self):
        reply = self.store(EXODUS + "<q xmlns='jabber:iq:last'/>")
        self.assertError(reply, "not-acceptable", "s1")
        self.assertEqual(self.successResultOf(self.module.data.items("hamlet")), {})

    def test_sameNameTwice(self):
        reply = self.store(EXODUS + EXODUS)
        self.assertError(reply, "bad-request", "s1")


class SizeLimitTests(PrivateTestCase):

    options = {"max_size": 200}

    def test_overLimit(self):
        """
        All an account stores together is limited; a set past it is
        refused with not-acceptable (RFC 6120 §8.3.3.9) and stores nothing.
        """
        self.assertResult(self.store("<a xmlns='urn:one'>%s</a>" % ("x" * 100,)), "s1")
        reply = self.store("<b xmlns='urn:one'>%s</b><c xmlns='urn:one'/>" % ("y" * 100,), id="s2")
        self.assertError(reply, "not-acceptable", "s2")
        self.assertEqual(list(self.successResultOf(self.module.data.items("hamlet"))),
                         ["{urn:one}a"])

    def test_replacingFreesSpace(self):
        """
        What a set replaces or deletes no longer counts.
        """
        self.assertResult(self.store("<a xmlns='urn:one'>%s</a>" % ("x" * 150,)), "s1")
        self.assertResult(self.store("<a xmlns='urn:one'/><b xmlns='urn:one'>%s</b>"
                                     % ("y" * 150,), id="s2"), "s2")
        self.assertEqual(list(self.successResultOf(self.module.data.items("hamlet"))),
                         ["{urn:one}b"])

    def test_badOption(self):
        api = ModuleAPI("private", self.host, self.router, self.sessions,
                        self.host.storage, self.clock, {"max_size": "big"})
        self.assertRaises(ValueError, PrivateStorageModule(api).load)

    def test_concurrentSets(self):
        """
        Two sets of one account run one after the other, so the second
        sees the first's data when checking the limit.
        """
        paused = PausedMap(self.module.data)
        self.module.data = paused
        for id, name in (("s1", "a"), ("s2", "b")):
            self.router.process(self.hamlet, parse(
                "<iq type='set' id='%s'><query xmlns='jabber:iq:private'>"
                "<%s xmlns='urn:one'>%s</%s></query></iq>" % (id, name, "x" * 150, name)))
        while paused.waiting:
            paused.release()
        first, second = self.hamlet.take()
        self.assertResult(first, "s1")
        self.assertError(second, "not-acceptable", "s2")
        self.assertEqual(len(self.module._queues), 0)
