"""
Tests for L{xmppframe.modules.vcard}: vcard-temp (XEP-0054) through the
real router, with fake sessions and the in-memory store.
"""

from lxml import etree

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe.api.testing import ModuleHarness, StanzaAssertions
from xmppframe.config import ConfigError, parseConfig, validateModuleOptions
from xmppframe.interfaces import IModule
from xmppframe.modules.vcard import VCardModule, parseServerVCard
from xmppframe.xml import namespaces as NS

VCARD_TAG = NS.qname(NS.VCARD, "vCard")

PETER = ("<vCard xmlns='vcard-temp'><FN>Peter Saint-Andre</FN>"
         "<N><FAMILY>Saint-Andre</FAMILY><GIVEN>Peter</GIVEN><MIDDLE/></N>"
         "<NICKNAME>stpeter</NICKNAME></vCard>")


class VCardTestCase(StanzaAssertions, unittest.TestCase):

    options = {}

    def setUp(self):
        self.harness = ModuleHarness("example.org", users=("alice", "bob", "carol"))
        self.router = self.harness.router
        self.host = self.harness.host
        self.module = self.harness.load(VCardModule, self.options)
        self.alice = self.harness.client("alice@example.org/home", available=True)
        self.bob = self.harness.client("bob@example.org/phone", available=True)

    def send(self, session, xml):
        return self.harness.ask(session, xml)

    def vcardOf(self, reply):
        [vcard] = reply
        self.assertEqual(vcard.tag, VCARD_TAG)
        return vcard


class OwnVCardTests(VCardTestCase):

    def test_module(self):
        self.assertTrue(verifyObject(IModule, self.module))
        self.assertEqual(self.module.xeps, ("XEP-0054",))

    def test_feature(self):
        """
        XEP-0054 §4: the host announces 'vcard-temp'; unloading removes it.
        """
        self.assertIn("vcard-temp", self.host.features())
        self.module.unload()
        self.assertNotIn("vcard-temp", self.host.features())

    def test_getOwnWithout(self):
        """
        XEP-0054 §3.1: no vCard yet is answered with an empty <vCard/>.
        """
        reply = self.send(self.alice, "<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>")
        self.assertResult(reply, "v1")
        vcard = self.vcardOf(reply)
        self.assertEqual(len(vcard), 0)

    def test_setThenGet(self):
        """
        XEP-0054 §3.2 then §3.1: the vCard set with no 'to' comes back.
        """
        reply = self.send(self.alice, "<iq type='set' id='v2'>%s</iq>" % (PETER,))
        self.assertResult(reply, "v2")
        self.assertEqual(len(reply), 0)
        reply = self.send(self.alice, "<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>")
        vcard = self.vcardOf(reply)
        self.assertEqual(vcard.findtext("{vcard-temp}FN"), "Peter Saint-Andre")
        self.assertEqual(vcard.findtext("{vcard-temp}N/{vcard-temp}GIVEN"), "Peter")

    def test_toOwnBareJID(self):
        """
        XEP-0054 §3.1/§3.2: addressed to the account's own bare JID is the
        same as no 'to'.
        """
        reply = self.send(self.alice, "<iq type='set' id='v2' to='alice@example.org'>%s</iq>"
                          % (PETER,))
        self.assertResult(reply, "v2")
        reply = self.send(self.alice, "<iq type='get' id='v1' to='alice@example.org'>"
                          "<vCard xmlns='vcard-temp'/></iq>")
        self.assertEqual(self.vcardOf(reply).findtext("{vcard-temp}NICKNAME"), "stpeter")

    def test_setReplacesWhole(self):
        """
        XEP-0054 §3.2: no partial updates; a set replaces the whole vCard.
        """
        self.send(self.alice, "<iq type='set' id='v2'>%s</iq>" % (PETER,))
        self.send(self.alice, "<iq type='set' id='v3'><vCard xmlns='vcard-temp'>"
                  "<DESC>new</DESC></vCard></iq>")
        vcard = self.vcardOf(self.send(
            self.alice, "<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>"))
        self.assertEqual([etree.QName(c).localname for c in vcard], ["DESC"])

    def test_setEmptyKept(self):
        """
        Issue 14 (slixmpp's test_vcard; Prosody and ejabberd alike): an
        empty vCard set replaces the old one and is stored and returned as
        an empty vCard, to the account and to others, not as no vCard.
        """
        self.send(self.alice, "<iq type='set' id='v2'>%s</iq>" % (PETER,))
        reply = self.send(self.alice, "<iq type='set' id='v3'><vCard xmlns='vcard-temp'/></iq>")
        self.assertResult(reply, "v3")
        stored = self.successResultOf(self.module.getVCard("alice"))
        self.assertEqual((stored.tag, len(stored)), (VCARD_TAG, 0))
        vcard = self.vcardOf(self.send(
            self.alice, "<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>"))
        self.assertEqual(len(vcard), 0)
        reply = self.send(self.bob, "<iq type='get' id='v4' to='alice@example.org'>"
                          "<vCard xmlns='vcard-temp'/></iq>")
        self.assertResult(reply, "v4")
        self.assertEqual(len(self.vcardOf(reply)), 0)

    def test_removed(self):
        """
        C{setVCard(user, None)} (an account's data going) leaves nothing.
        """
        self.send(self.alice, "<iq type='set' id='v2'>%s</iq>" % (PETER,))
        self.successResultOf(self.module.setVCard("alice", None))
        self.assertIsNone(self.successResultOf(self.module.getVCard("alice")))

    def test_storedAsText(self):
        """
        The store holds the serialized XML, without the stanza around it.
        """
        self.send(self.alice, "<iq type='set' id='v2'>%s</iq>" % (PETER,))
        stored = self.successResultOf(self.host.storage.keyValue("example.org", "vcard").get("alice"))
        self.assertIsInstance(stored, str)
        self.assertTrue(stored.startswith('<vCard xmlns="vcard-temp">'), stored)
        self.assertNotIn("jabber:client", stored)

    def test_foreignNamespacesKept(self):
        """
        Elements of other namespaces inside the vCard survive the round trip.
        """
        self.send(self.alice, "<iq type='set' id='v2'><vCard xmlns='vcard-temp'>"
                  "<x:extra xmlns:x='urn:example:x'>1</x:extra></vCard></iq>")
        vcard = self.vcardOf(self.send(
            self.alice, "<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>"))
        self.assertEqual(vcard.findtext("{urn:example:x}extra"), "1")


class SizeLimitTests(VCardTestCase):

    options = {"max_size": 200}

    def test_tooLarge(self):
        """
        A vCard over max_size is refused with not-acceptable
        (RFC 6120 §8.3.3.9) and the old one stays.
        """
        self.send(self.alice, "<iq type='set' id='v2'><vCard xmlns='vcard-temp'>"
                  "<FN>Alice</FN></vCard></iq>")
        reply = self.send(self.alice, "<iq type='set' id='v3'><vCard xmlns='vcard-temp'>"
                          "<DESC>%s</DESC></vCard></iq>" % ("x" * 300,))
        self.assertStanzaError(reply, "not-acceptable", "v3")
        vcard = self.vcardOf(self.send(
            self.alice, "<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>"))
        self.assertEqual(vcard.findtext("{vcard-temp}FN"), "Alice")

    def test_justUnder(self):
        reply = self.send(self.alice, "<iq type='set' id='v3'><vCard xmlns='vcard-temp'>"
                          "<DESC>%s</DESC></vCard></iq>" % ("x" * 150,))
        self.assertResult(reply, "v3")

    def test_schema(self):
        """
        The option schema refuses a bad max_size with the key's path.
        """
        config = parseConfig({"hosts": {"example.org": {
            "modules": ["vcard"], "options": {"vcard": {"max_size": -1}}}}}, ".")
        e = self.assertRaises(ConfigError, validateModuleOptions, config, "example.org",
                              "vcard", VCardModule.optionSchema)
        self.assertIn('hosts."example.org".options.vcard.max_size', str(e))
        config = parseConfig({"hosts": {"example.org": {"modules": ["vcard"]}}}, ".")
        self.assertEqual(validateModuleOptions(config, "example.org", "vcard",
                                               VCardModule.optionSchema)["max_size"], 65536)


class OtherVCardTests(VCardTestCase):

    def test_getOther(self):
        """
        XEP-0054 §3.3: another account's vCard, answered by the server
        from that account's bare JID.
        """
        self.send(self.bob, "<iq type='set' id='b1'><vCard xmlns='vcard-temp'>"
                  "<FN>Bob</FN></vCard></iq>")
        reply = self.send(self.alice, "<iq type='get' id='v3' to='bob@example.org'>"
                          "<vCard xmlns='vcard-temp'/></iq>")
        self.assertResult(reply, "v3")
        self.assertEqual(reply.get("from"), "bob@example.org")
        self.assertEqual(reply.get("to"), "alice@example.org/home")
        self.assertEqual(self.vcardOf(reply).findtext("{vcard-temp}FN"), "Bob")
        self.assertEqual(self.bob.take(), [], "the server answers, not Bob's client")

    def test_getOtherWithout(self):
        """
        XEP-0054 §3.3: an account with no vCard gets service-unavailable...
        """
        reply = self.send(self.alice, "<iq type='get' id='v3' to='carol@example.org'>"
                          "<vCard xmlns='vcard-temp'/></iq>")
        self.assertStanzaError(reply, "service-unavailable", "v3")

    def test_getNoSuchAccount(self):
        """
        ...and so does an account that does not exist (RFC 6121 §8.5.1),
        even with a vCard left behind.
        """
        self.successResultOf(self.module.setVCard("gone", etree.fromstring(PETER)))
        reply = self.send(self.alice, "<iq type='get' id='v3' to='gone@example.org'>"
                          "<vCard xmlns='vcard-temp'/></iq>")
        self.assertStanzaError(reply, "service-unavailable", "v3")

    def test_setOther(self):
        """
        XEP-0054 §3.2: setting another account's vCard is forbidden.
        """
        reply = self.send(self.alice, "<iq type='set' id='v2' to='bob@example.org'>%s</iq>"
                          % (PETER,))
        self.assertStanzaError(reply, "forbidden", "v2")
        self.assertIsNone(self.successResultOf(self.module.getVCard("bob")))


class ServerVCardTests(VCardTestCase):

    options = {"server_vcard": "<FN>Example Org</FN><URL>https://example.org/</URL>"}

    def test_getServer(self):
        """
        XEP-0054 §3.3 note: the server's own vCard, from the option.
        """
        reply = self.send(self.alice, "<iq type='get' id='s1' to='example.org'>"
                          "<vCard xmlns='vcard-temp'/></iq>")
        self.assertResult(reply, "s1")
        vcard = self.vcardOf(reply)
        self.assertEqual(vcard.findtext("{vcard-temp}FN"), "Example Org")
        self.assertEqual(vcard.findtext("{vcard-temp}URL"), "https://example.org/")

    def test_setServer(self):
        reply = self.send(self.alice, "<iq type='set' id='s2' to='example.org'>%s</iq>"
                          % (PETER,))
        self.assertStanzaError(reply, "forbidden", "s2")

    def test_parseWhole(self):
        vcard = parseServerVCard("<vCard xmlns='vcard-temp'><FN>X</FN></vCard>")
        self.assertEqual(vcard.tag, VCARD_TAG)
        self.assertEqual(vcard.findtext("{vcard-temp}FN"), "X")

    def test_parseEmpty(self):
        vcard = parseServerVCard("  ")
        self.assertEqual((vcard.tag, len(vcard)), (VCARD_TAG, 0))

    def test_parseBad(self):
        """
        Option text that is not well-formed is a clear error at load.
        """
        e = self.assertRaises(ValueError, parseServerVCard, "<FN>unclosed")
        self.assertIn("server_vcard", str(e))
        e = self.assertRaises(ValueError, parseServerVCard,
                              "<vCard xmlns='vcard-temp'/><FN>x</FN>")
        self.assertIn("server_vcard", str(e))

    def test_parseNoEntities(self):
        """
        Entities are not expanded (no DTD, no network).
        """
        self.assertRaises(ValueError, parseServerVCard, "<FN>&ext;</FN>")


class DefaultServerVCardTests(VCardTestCase):

    def test_emptyByDefault(self):
        reply = self.send(self.alice, "<iq type='get' id='s1' to='example.org'>"
                          "<vCard xmlns='vcard-temp'/></iq>")
        self.assertEqual(len(self.vcardOf(reply)), 0)
