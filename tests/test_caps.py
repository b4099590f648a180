"""
Tests for L{xmppframe.modules.caps}: entity capabilities (XEP-0115).  The
verification string algorithm is checked against the XEP's own examples
(§5.2, §5.3); the server's caps against its disco#info; clients' caps are
verified (§5.4) and cached in memory and in storage.
"""

from zope.interface.verify import verifyObject

from twisted.internet import task
from twisted.trial import unittest

from xmppframe.xml.dataforms import Field, Form
from xmppframe.events import outboundEvent
from xmppframe.interfaces import IModule
from xmppframe.api.module import Module, ModuleAPI
from xmppframe.modules.caps import (
    MalformedInfo, CapsModule, DiscoInfo, readDiscoInfo, verificationString)
from xmppframe.modules.disco import DiscoModule
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.xml import namespaces as NS

from tests.fakes import FakeSession, makeHost, parse, stanzaErrorCondition

CAPS = NS.CAPS

MUC = "http://jabber.org/protocol/muc"
SIMPLE_FEATURES = (CAPS, NS.DISCO_INFO, NS.DISCO_ITEMS, MUC)
SIMPLE_VER = "QgayPKawpkPSDYmwT/WM94uAlu0="
PSI_NODE = "http://psi-im.org"

#: The disco#info result of XEP-0115 §5.3, as the XEP gives it (the
#: names have a plain space: the no-break space shown in the XEP's
#: intermediate strings is typography, and does not give the XEP's ver).
COMPLEX_QUERY = """\
<query xmlns='http://jabber.org/protocol/disco#info'
       node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='\u03a8 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'>
      <value>urn:xmpp:dataforms:softwareinfo</value>
    </field>
    <field var='ip_version' type='text-multi' >
      <value>ipv4</value>
      <value>ipv6</value>
    </field>
    <field var='os'>
      <value>Mac</value>
    </field>
    <field var='os_version'>
      <value>10.5.1</value>
    </field>
    <field var='software'>
      <value>Psi</value>
    </field>
    <field var='software_version'>
      <value>0.11</value>
    </field>
  </x>
</query>"""
COMPLEX_VER = "q07IKJEyjvHSyhy//CH0CxmKi8w="


def simpleQuery(node=None, extra="", features=SIMPLE_FEATURES):
    """
    The entity of XEP-0115 §5.2 as a disco#info result.
    """
    return (
        "<query xmlns='%s'%s><identity category='client' type='pc' name='Exodus 0.9.1'/>%s%s"
        "</query>" % (NS.DISCO_INFO, "" if node is None else " node='%s'" % (node,),
                      "".join("<feature var='%s'/>" % (f,) for f in features), extra))


def queryElement(text):
    return parse("<iq type='result' id='x'>%s</iq>" % (text,))[0]


def ver(text, hash="sha-1"):
    return verificationString(readDiscoInfo(queryElement(text)), hash)


class VerificationStringTests(unittest.TestCase):
    """
    XEP-0115 §5.1 generation, §5.4 processing.
    """

    def test_simple(self):
        """
        §5.2: one identity, four features.
        """
        info = DiscoInfo((("client", "pc", "", "Exodus 0.9.1"),), SIMPLE_FEATURES)
        self.assertEqual(verificationString(info), SIMPLE_VER)
        self.assertEqual(ver(simpleQuery()), SIMPLE_VER)

    def test_complex(self):
        """
        §5.3: identities in two languages and an extended form (XEP-0128),
        whose fields and values are sorted.
        """
        info = readDiscoInfo(queryElement(COMPLEX_QUERY))
        self.assertEqual(info.identities, (("client", "pc", "en", "Psi 0.11"),
                                           ("client", "pc", "el", "\u03a8 0.11")))
        self.assertEqual(info.forms[0][0], "urn:xmpp:dataforms:softwareinfo")
        self.assertEqual(verificationString(info), COMPLEX_VER)

    def test_orderDoesNotMatter(self):
        reordered = simpleQuery(features=tuple(reversed(SIMPLE_FEATURES)))
        self.assertEqual(ver(reordered), SIMPLE_VER)

    def test_otherHashes(self):
        self.assertEqual(len(ver(simpleQuery(), "sha-256")), 44)
        self.assertRaises(KeyError, ver, simpleQuery(), "md5")

    def test_duplicates(self):
        """
        §5.4 3.3–3.5: duplicate identities, features, FORM_TYPEs, or a
        FORM_TYPE with different values make the result ill-formed.
        """
        form = ("<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' "
                "type='hidden'>%s</field></x>")
        for extra in [
                "<identity category='client' type='pc' name='Exodus 0.9.1'/>",
                "<feature var='%s'/>" % (MUC,),
                (form % "<value>urn:a</value>") * 2,
                form % "<value>urn:a</value><value>urn:b</value>",
                "<identity type='pc'/>"]:
            self.assertRaises(MalformedInfo, readDiscoInfo, queryElement(simpleQuery(extra=extra)))

    def test_formsIgnored(self):
        """
        §5.4 3.6: forms without a hidden FORM_TYPE are left out.
        """
        for extra in [
                "<x xmlns='jabber:x:data' type='result'><field var='a'><value>1</value>"
                "</field></x>",
                "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'>"
                "<value>urn:a</value></field></x>"]:
            self.assertEqual(ver(simpleQuery(extra=extra)), SIMPLE_VER)

    def test_sameFormTypeValueTwice(self):
        """
        §5.4 3.5 refuses only different values.
        """
        extra = ("<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' "
                 "type='hidden'><value>urn:a</value><value>urn:a</value></field></x>")
        self.assertEqual(readDiscoInfo(queryElement(simpleQuery(extra=extra))).forms,
                         (("urn:a", ()),))


class FeatureModule(Module):
    """
    A module with one feature, for the server's disco#info to change.
    """

    name = "feature"

    def load(self):
        self.api.addFeature("urn:example:feature")


class CapsTestCase(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = makeHost("example.org")
        self.storage = self.host.storage
        self.router.addHost(self.host)
        self.disco = self.loadModule(DiscoModule)
        self.loadModule(FeatureModule)
        self.caps = self.loadModule(CapsModule, {"cache_size": 2})
        self.alice = self.connect("alice@example.org/home")

    def loadModule(self, cls, options=None):
        api = ModuleAPI(cls.name, self.host, self.router, self.sessions,
                        self.storage, self.clock, options)
        module = cls(api)
        module.load()
        self.host.modules[cls.name] = module
        return module

    def connect(self, jid):
        session = FakeSession(jid, host=self.host, manager=self.sessions)
        self.sessions.bind(session, session.jid.resource)
        return session


class OwnCapsTests(CapsTestCase):
    """
    The server's own capabilities (§6.3).
    """

    def test_interface(self):
        self.assertTrue(verifyObject(IModule, self.caps))

    def test_ver(self):
        """
        The ver is the hash of the server's disco#info, which lists the
        caps feature (§11.2).
        """
        info = self.disco.serverInfo()
        self.assertIn(CAPS, [f.get("var") for f in info])
        self.assertEqual(self.caps.ownVer(), verificationString(readDiscoInfo(info)))

    def test_verFollowsFeatures(self):
        before = self.caps.ownVer()
        self.host.modules["feature"].unload()
        self.assertNotEqual(self.caps.ownVer(), before)

    def test_verFollowsExtendedForms(self):
        """
        The ver is kept between logins but follows what an extended form
        provider (XEP-0128) returns, and identities.
        """
        before = self.caps.ownVer()
        self.assertEqual(self.caps.ownVer(), before)
        answer = ["41"]

        def provider():
            return Form("result", "urn:example:info",
                        [Field("answer", values=tuple(answer))]).toElement()

        self.disco.addInfoForm(provider)
        withForm = self.caps.ownVer()
        self.assertNotEqual(withForm, before)
        answer[0] = "42"
        self.assertNotEqual(self.caps.ownVer(), withForm)
        self.assertEqual(self.caps.ownVer(),
                         verificationString(readDiscoInfo(self.disco.serverInfo())))
        self.disco.removeInfoForm(provider)
        self.assertEqual(self.caps.ownVer(), before)
        self.host.addIdentity("pubsub", "pep", "")
        self.assertNotEqual(self.caps.ownVer(), before)

    def test_streamFeature(self):
        """
        Offered after authentication only, handling nothing.
        """
        [responder] = self.host.responders

        class Stream:
            authenticated = None

        stream = Stream()
        self.assertEqual(responder.offer(stream), [])
        stream.authenticated = "alice"
        [c] = responder.offer(stream)
        self.assertEqual(c.tag, "{%s}c" % (CAPS,))
        self.assertEqual(dict(c.attrib), {
            "hash": "sha-1", "node": "https://xmppframe.example/caps",
            "ver": self.caps.ownVer()})
        self.assertEqual(responder.handlers(stream), {})

    def test_streamFeatureKeyFollowsVer(self):
        """
        The key under which client streams' features are cached changes with
        the ver, so that no stream is offered an old one.
        """
        [responder] = self.host.responders

        class Stream:
            authenticated = "alice"

        before = responder.offerKey(Stream())
        self.host.modules["feature"].unload()
        self.assertNotEqual(responder.offerKey(Stream()), before)
        Stream.authenticated = None
        self.assertEqual(responder.offerKey(Stream()), False)

    def test_nodeQuery(self):
        """
        §6.2: disco#info to node#ver is answered as the server's own,
        with the node mirrored; an old ver is an unknown node.
        """
        node = "https://xmppframe.example/caps#" + self.caps.ownVer()
        self.router.process(self.alice, parse(
            "<iq type='get' id='n1' to='example.org'><query xmlns='%s' node='%s'/></iq>"
            % (NS.DISCO_INFO, node)))
        [reply] = self.alice.take()
        self.assertEqual(reply.get("type"), "result")
        self.assertEqual(reply[0].get("node"), node)
        self.assertEqual(verificationString(readDiscoInfo(reply[0])), self.caps.ownVer())
        self.router.process(self.alice, parse(
            "<iq type='get' id='n2' to='example.org'><query xmlns='%s' node='%s'/></iq>"
            % (NS.DISCO_INFO, "https://xmppframe.example/caps#old")))
        [reply] = self.alice.take()
        self.assertEqual(stanzaErrorCondition(reply), "item-not-found")

    def test_unload(self):
        self.caps.unload()
        self.assertEqual(self.host.responders, [])
        self.assertNotIn(CAPS, self.host.features())
        self.assertFalse(self.host.events.hasHandlers(outboundEvent("presence")))
        node = "https://xmppframe.example/caps#" + self.caps.ownVer()
        self.router.process(self.alice, parse(
            "<iq type='get' id='n1' to='example.org'><query xmlns='%s' node='%s'/></iq>"
            % (NS.DISCO_INFO, node)))
        [reply] = self.alice.take()
        self.assertEqual(stanzaErrorCondition(reply), "item-not-found")


class ClientCapsTests(CapsTestCase):
    """
    §5.4: a client's caps are verified with one disco#info query and
    cached.
    """

    def presence(self, session, ver=SIMPLE_VER, hash="sha-1", node=PSI_NODE, type=None):
        attributes = " type='%s'" % (type,) if type else ""
        c = "" if ver is None else "<c xmlns='%s' hash='%s' node='%s' ver='%s'/>" % (
            CAPS, hash, node, ver)
        self.router.process(session, parse("<presence%s>%s</presence>" % (attributes, c)))

    def takeQuery(self, session, ver=SIMPLE_VER, node=PSI_NODE):
        """
        The server's disco#info query to C{session} (§5.4 3.1).
        """
        [iq] = [s for s in session.take() if s.tag == "{jabber:client}iq"]
        self.assertEqual((iq.get("type"), iq.get("from"), iq.get("to")),
                         ("get", "example.org", session.jid.full))
        [query] = iq
        self.assertEqual(query.tag, "{%s}query" % (NS.DISCO_INFO,))
        self.assertEqual(query.get("node"), "%s#%s" % (node, ver))
        return iq

    def answer(self, session, iq, query=None, type="result"):
        payload = query if query is not None else simpleQuery(iq[0].get("node"))
        self.router.process(session, parse(
            "<iq type='%s' id='%s' to='example.org'>%s</iq>" % (type, iq.get("id"), payload)))

    def noQuery(self, session):
        self.assertEqual([s for s in session.take() if s.tag == "{jabber:client}iq"], [])

    def stored(self, ver=SIMPLE_VER):
        return self.successResultOf(self.storage.keyValue("example.org", "caps").get(
            "sha-1 " + ver))

    def test_verified(self):
        """
        §5.4 3.7–3.8: a matching answer is cached, in memory and in the
        store; the query is not answered by the server itself.
        """
        self.assertIsNone(self.caps.featuresOf(self.alice.jid))
        self.presence(self.alice)
        iq = self.takeQuery(self.alice)
        self.assertIsNone(self.caps.featuresOf(self.alice.jid))
        self.answer(self.alice, iq)
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(self.caps.featuresOf(self.alice.jid), set(SIMPLE_FEATURES))
        self.assertEqual(self.caps.featuresOf("alice@example.org/home"), set(SIMPLE_FEATURES))
        self.assertEqual(self.stored()["features"], sorted(SIMPLE_FEATURES))

    def test_askedOnce(self):
        """
        A ver already known is not asked again: the same client repeating
        it, another client advertising it, or a client advertising it while
        the first query is under way.
        """
        bob = self.connect("bob@example.org/phone")
        self.presence(self.alice)
        iq = self.takeQuery(self.alice)
        self.presence(bob)
        self.presence(self.alice)
        self.noQuery(bob)
        self.noQuery(self.alice)
        self.answer(self.alice, iq)
        self.assertEqual(self.caps.featuresOf(bob.jid), set(SIMPLE_FEATURES))
        carol = self.connect("carol@example.org/pda")
        self.presence(carol)
        self.noQuery(carol)
        self.assertEqual(self.caps.featuresOf(carol.jid), set(SIMPLE_FEATURES))

    def test_complex(self):
        self.presence(self.alice, ver=COMPLEX_VER)
        iq = self.takeQuery(self.alice, ver=COMPLEX_VER)
        self.answer(self.alice, iq, COMPLEX_QUERY)
        self.assertEqual(self.caps.featuresOf(self.alice.jid), set(SIMPLE_FEATURES))

    def test_mismatch(self):
        """
        §5.4 3.9: an answer that does not hash to the ver is not cached,
        and another client advertising the ver is asked.
        """
        bob = self.connect("bob@example.org/phone")
        self.presence(self.alice)
        self.presence(bob)
        iq = self.takeQuery(self.alice)
        self.noQuery(bob)
        self.answer(self.alice, iq, simpleQuery(features=(CAPS,)))
        self.assertIsNone(self.caps.featuresOf(self.alice.jid))
        self.assertIsNone(self.stored())
        iq = self.takeQuery(bob)
        self.answer(bob, iq)
        self.assertEqual(self.caps.featuresOf(bob.jid), set(SIMPLE_FEATURES))
        self.assertEqual(self.caps.featuresOf(self.alice.jid), set(SIMPLE_FEATURES))

    def test_failedNotAskedAgain(self):
        self.presence(self.alice)
        self.answer(self.alice, self.takeQuery(self.alice), type="error")
        self.presence(self.alice)
        self.noQuery(self.alice)
        self.assertIsNone(self.caps.featuresOf(self.alice.jid))

    def test_illFormed(self):
        """
        §5.4 3.3: duplicate features make the answer ill-formed, even when
        the hash would match without them.
        """
        self.presence(self.alice)
        iq = self.takeQuery(self.alice)
        self.answer(self.alice, iq, simpleQuery(extra="<feature var='%s'/>" % (MUC,)))
        self.assertIsNone(self.caps.featuresOf(self.alice.jid))
        self.assertIsNone(self.stored())

    def test_timeout(self):
        """
        A client that does not answer: the query is given up, and a late
        answer is not taken.
        """
        self.presence(self.alice)
        iq = self.takeQuery(self.alice)
        self.clock.advance(30)
        self.answer(self.alice, iq)
        self.assertIsNone(self.caps.featuresOf(self.alice.jid))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timeoutAsksAnother(self):
        """
        §5.4 3.9: a client that does not answer in time counts as a failed
        answer: another client advertising the ver is asked.
        """
        bob = self.connect("bob@example.org/phone")
        self.presence(self.alice)
        self.presence(bob)
        self.takeQuery(self.alice)
        self.clock.advance(30)
        self.answer(bob, self.takeQuery(bob))
        self.assertEqual(self.caps.featuresOf(bob.jid), set(SIMPLE_FEATURES))

    def test_queriesAreRequests(self):
        """
        The query waits in the host's request tracker (C{api.request}),
        which gives up after C{query_timeout}.
        """
        self.presence(self.alice)
        self.takeQuery(self.alice)
        self.assertEqual(len(self.host.services.requests), 1)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_unloadWhileAsking(self):
        """
        Unloaded with a query under way: the query is dropped, its timer
        with it, and nobody else is asked.
        """
        bob = self.connect("bob@example.org/phone")
        self.presence(self.alice)
        self.presence(bob)
        iq = self.takeQuery(self.alice)
        self.caps.unload()
        self.assertEqual(len(self.host.services.requests), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.noQuery(bob)
        self.answer(self.alice, iq)
        self.assertIsNone(self.caps.featuresOf(self.alice.jid))

    def test_answerFromSomeoneElse(self):
        """
        Only the client asked can answer, whatever id another one uses.
        """
        mallory = self.connect("mallory@example.org/x")
        self.presence(self.alice)
        iq = self.takeQuery(self.alice)
        self.answer(mallory, iq, simpleQuery(features=(CAPS,)))
        self.answer(self.alice, iq)
        self.assertEqual(self.caps.featuresOf(self.alice.jid), set(SIMPLE_FEATURES))

    def test_unsupportedHash(self):
        """
        §5.4 step 2: a hash the server does not know is asked about, and
        the answer kept for that client only.
        """
        self.presence(self.alice, hash="md5", ver="abc")
        iq = self.takeQuery(self.alice, ver="abc")
        self.answer(self.alice, iq)
        self.assertEqual(self.caps.featuresOf(self.alice.jid), set(SIMPLE_FEATURES))
        bob = self.connect("bob@example.org/phone")
        self.presence(bob, hash="md5", ver="abc")
        self.takeQuery(bob, ver="abc")
        self.assertIsNone(self.successResultOf(
            self.storage.keyValue("example.org", "caps").get("md5 abc")))

    def test_legacy(self):
        """
        §5.4 step 1: without 'hash', the legacy format, nothing is asked.
        """
        self.router.process(self.alice, parse(
            "<presence><c xmlns='%s' node='%s' ver='0.11'/></presence>" % (CAPS, PSI_NODE)))
        self.noQuery(self.alice)

    def test_forgotten(self):
        """
        A client's caps go with its unavailable presence or its session.
        """
        bob = self.connect("bob@example.org/phone")
        self.presence(self.alice)
        self.answer(self.alice, self.takeQuery(self.alice))
        self.presence(bob)
        self.presence(self.alice, type="unavailable", ver=None)
        self.assertIsNone(self.caps.featuresOf(self.alice.jid))
        bob.close()
        self.assertIsNone(self.caps.featuresOf(bob.jid))

    def test_presenceWithoutCaps(self):
        self.presence(self.alice, ver=None)
        self.noQuery(self.alice)
        self.assertIsNone(self.caps.featuresOf(self.alice.jid))

    def test_storeSurvivesRestart(self):
        """
        §8.2 recommends caching across presence sessions: a new module on
        the same storage knows the ver without asking.
        """
        self.presence(self.alice)
        self.answer(self.alice, self.takeQuery(self.alice))
        self.caps.unload()
        del self.host.modules["caps"]
        self.caps = self.loadModule(CapsModule)
        bob = self.connect("bob@example.org/phone")
        self.presence(bob)
        self.noQuery(bob)
        self.assertEqual(self.caps.featuresOf(bob.jid), set(SIMPLE_FEATURES))

    def test_boundedMemory(self):
        """
        The in-memory cache keeps C{cache_size} vers; older ones are read
        back from the store.
        """
        for index, (known, query) in enumerate([(SIMPLE_VER, None),
                                                (COMPLEX_VER, COMPLEX_QUERY)]):
            session = self.connect("user%d@example.org/r" % (index,))
            self.presence(session, ver=known)
            self.answer(session, self.takeQuery(session, ver=known), query)
        otherQuery = simpleQuery(features=(CAPS,))
        otherVer = ver(otherQuery)
        session = self.connect("user9@example.org/r")
        self.presence(session, ver=otherVer)
        self.answer(session, self.takeQuery(session, ver=otherVer), otherQuery)
        self.assertEqual(len(self.caps._cache), 2)
        self.presence(self.alice)
        self.noQuery(self.alice)
        self.assertEqual(self.caps.featuresOf(self.alice.jid), set(SIMPLE_FEATURES))
