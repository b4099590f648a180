"""
Tests for L{xmppframe.modules.private}: Private XML Storage (XEP-0049)
through the real router, with fake sessions and the in-memory store.
"""

from zope.interface.verify import verifyObject

from twisted.internet import defer
from twisted.trial import unittest

from xmppframe.api.testing import ModuleHarness, StanzaAssertions, parseStanza as parse
from xmppframe.interfaces import IModule
from xmppframe.modules.private import PrivateStorageModule, isReservedNamespace
from xmppframe.xml import namespaces as NS

QUERY_TAG = NS.qname(NS.PRIVATE, "query")

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


class PrivateTestCase(StanzaAssertions, unittest.TestCase):

    options = {}

    def setUp(self):
        self.harness = ModuleHarness("shakespeare.lit")
        self.router = self.harness.router
        self.host = self.harness.host
        self.module = self.harness.load(PrivateStorageModule, self.options)
        self.hamlet = self.harness.client("hamlet@shakespeare.lit/denmark", available=True)
        self.macbeth = self.harness.client("macbeth@shakespeare.lit/scotland", available=True)

    def send(self, xml, session=None):
        return self.harness.ask(session or self.hamlet, xml)

    def store(self, payload, id="s1", to=""):
        return self.send("<iq type='set' id='%s'%s><query xmlns='jabber:iq:private'>%s</query></iq>"
                         % (id, " to='%s'" % (to,) if to else "", payload))

    def retrieve(self, payload, id="g1"):
        return self.send("<iq type='get' id='%s'><query xmlns='jabber:iq:private'>%s</query></iq>"
                         % (id, payload))

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
        self.assertIn(NS.PRIVATE, self.host.features())

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
        self.assertStanzaError(reply, "forbidden", "1003")
        reply = self.send("<iq type='get' id='1004' to='macbeth@shakespeare.lit'>"
                          "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/>"
                          "</query></iq>")
        self.assertStanzaError(reply, "forbidden", "1004")
        self.assertEqual(self.macbeth.take(), [])

    def test_emptyQuery(self):
        """
        XEP-0049 §2: at least one child, else not-acceptable.
        """
        self.assertStanzaError(self.retrieve(""), "not-acceptable", "g1")
        self.assertStanzaError(self.store(""), "not-acceptable", "s1")

    def test_getTwo(self):
        """
        XEP-0049 §2: one namespace per get.
        """
        reply = self.retrieve("<a xmlns='urn:one'/><b xmlns='urn:two'/>")
        self.assertStanzaError(reply, "bad-request", "g1")

    def test_reserved(self):
        """
        XEP-0049 §2: reserved namespaces are refused with not-acceptable.
        """
        reply = self.store("<vCard xmlns='vcard-temp'><FN>Hamlet</FN></vCard>", id="1005")
        self.assertStanzaError(reply, "not-acceptable", "1005")
        reply = self.retrieve("<query xmlns='jabber:iq:roster'/>")
        self.assertStanzaError(reply, "not-acceptable", "g1")
        # A child without a namespace of its own is in jabber:iq:private.
        self.assertStanzaError(self.store("<prefs>x</prefs>"), "not-acceptable", "s1")
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
        self.assertStanzaError(reply, "not-acceptable", "g1")

    def test_reservedAmongOthersStoresNothing(self):
        reply = self.store(EXODUS + "<q xmlns='jabber:iq:last'/>")
        self.assertStanzaError(reply, "not-acceptable", "s1")
        self.assertEqual(self.successResultOf(self.module.data.items("hamlet")), {})

    def test_sameNameTwice(self):
        reply = self.store(EXODUS + EXODUS)
        self.assertStanzaError(reply, "bad-request", "s1")


class SizeLimitTests(PrivateTestCase):

    options = {"max_size": 200}

    def test_overLimit(self):
        """
        All an account stores together is limited; a set past it is
        refused with not-acceptable (RFC 6120 §8.3.3.9) and stores nothing.
        """
        self.assertResult(self.store("<a xmlns='urn:one'>%s</a>" % ("x" * 100,)), "s1")
        reply = self.store("<b xmlns='urn:one'>%s</b><c xmlns='urn:one'/>" % ("y" * 100,), id="s2")
        self.assertStanzaError(reply, "not-acceptable", "s2")
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
        self.assertRaises(ValueError,
                          self.harness.create(PrivateStorageModule, {"max_size": "big"}).load)

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
        self.assertStanzaError(second, "not-acceptable", "s2")
        self.assertEqual(len(self.module._queues), 0)
