"""
Tests for L{xmppframe.modules.disco}: service discovery (XEP-0030) of the
server and of accounts, and the server's contact addresses (XEP-0157) as
an extended information form (XEP-0128).
"""

from lxml import etree

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe.api.module import Module
from xmppframe.api.testing import (
    FakeRoster, ModuleHarness, parseStanza as parse, stanzaErrorCondition)
from xmppframe.config import ConfigError, parseConfig, validateModuleOptions
from xmppframe.xml.dataforms import Form, findForm
from xmppframe.events import iqResponseEvent
from xmppframe.interfaces import IModule, IRoster
from xmppframe.modules.disco import DiscoModule
from xmppframe.modules.ping import PingModule
from xmppframe.xml import namespaces as NS

INFO = "{%s}" % (NS.DISCO_INFO,)
ITEMS = "{%s}" % (NS.DISCO_ITEMS,)


class AccountFeatureModule(Module):
    """
    A module with an account-level feature and a server item.
    """

    name = "pep-like"

    def load(self):
        self.api.addAccountFeature("urn:example:account")
        self.api.addDiscoItem("pubsub.example.org", "Publish-Subscribe")


class DiscoTestCase(unittest.TestCase):

    options = {}

    def setUp(self):
        self.harness = ModuleHarness("example.org", users=("alice", "bob", "carol"))
        self.router = self.harness.router
        self.host = self.harness.host
        self.disco = self.loadModule(DiscoModule, self.options)
        self.loadModule(PingModule)
        self.alice = self.connect("alice@example.org/home")

    def loadModule(self, cls, options=None):
        return self.harness.load(cls, options)

    def connect(self, jid):
        return self.harness.client(jid, available=True)

    def ask(self, kind, to="example.org", node=None, session=None, type="get"):
        """
        Send a disco#info or disco#items query (XEP-0030 §3.1, §4.1) and
        return the answer.
        """
        session = session or self.alice
        namespace = NS.DISCO_INFO if kind == "info" else NS.DISCO_ITEMS
        attributes = "" if node is None else " node='%s'" % (node,)
        toAttribute = "" if to is None else " to='%s'" % (to,)
        reply = self.harness.ask(
            session, "<iq type='%s' id='d1'%s><query xmlns='%s'%s/></iq>"
            % (type, toAttribute, namespace, attributes))
        self.assertEqual(reply.get("id"), "d1")
        return reply

    def result(self, kind, **kwargs):
        reply = self.ask(kind, **kwargs)
        self.assertEqual(reply.get("type"), "result", etree.tostring(reply))
        [query] = reply
        return query

    def error(self, kind, **kwargs):
        return stanzaErrorCondition(self.ask(kind, **kwargs))


def identities(query):
    return [(i.get("category"), i.get("type"), i.get("name"))
            for i in query.iter(INFO + "identity")]


def features(query):
    return [f.get("var") for f in query.iter(INFO + "feature")]


class ServerInfoTests(DiscoTestCase):

    def test_interface(self):
        self.assertTrue(verifyObject(IModule, self.disco))

    def test_info(self):
        """
        XEP-0030 §3.1: the server's identity (server/im) and the features
        its loaded modules registered, disco's own namespaces included,
        each once and sorted; no form when no contact address is set.
        """
        query = self.result("info")
        self.assertEqual(query.tag, INFO + "query")
        self.assertIsNone(query.get("node"))
        self.assertEqual(identities(query), [("server", "im", "xmppframe")])
        self.assertEqual(features(query), sorted(
            [NS.DISCO_INFO, NS.DISCO_ITEMS, NS.PING]))
        self.assertIsNone(findForm(query))

    def test_featuresFollowModules(self):
        """
        Features come from the loaded modules: a module loaded later adds
        its features, and unloading it takes them away.
        """
        self.host.modules["ping"].unload()
        self.assertNotIn(NS.PING, features(self.result("info")))
        self.loadModule(PingModule)
        self.assertIn(NS.PING, features(self.result("info")))

    def test_resourceOfServer(self):
        """
        RFC 6120 §10.5.2: a resource of the domain is the server too.
        """
        self.assertIn(NS.DISCO_INFO, features(self.result("info", to="example.org/x")))

    def test_unknownNode(self):
        """
        XEP-0030 §7: item-not-found for a node that does not exist.
        """
        self.assertEqual(self.error("info", node="nothing"), "item-not-found")
        self.assertEqual(self.error("items", node="nothing"), "item-not-found")

    def test_nodeProviders(self):
        """
        Modules answer nodes of their own; the node is mirrored (§3.2).
        """
        from xmppframe.xml.disco import infoQuery, itemsQuery

        def info(node):
            if node == "urn:example:node":
                return infoQuery([("automation", "command-list", None)], [], node=node)

        def items(node):
            if node == "urn:example:node":
                return itemsQuery([("example.org", "one", "One")], node=node)

        self.disco.addInfoNodeProvider(info)
        self.disco.addItemsNodeProvider(items)
        query = self.result("info", node="urn:example:node")
        self.assertEqual(query.get("node"), "urn:example:node")
        self.assertEqual(identities(query), [("automation", "command-list", None)])
        query = self.result("items", node="urn:example:node")
        self.assertEqual([(i.get("jid"), i.get("node"), i.get("name")) for i in query],
                         [("example.org", "one", "One")])
        self.disco.removeInfoNodeProvider(info)
        self.disco.removeItemsNodeProvider(items)
        self.assertEqual(self.error("info", node="urn:example:node"), "item-not-found")

    def test_set(self):
        """
        XEP-0030 defines only 'get'.
        """
        self.assertEqual(self.error("info", type="set"), "service-unavailable")


class ServerItemsTests(DiscoTestCase):

    def test_empty(self):
        """
        XEP-0030 §7: no items is an empty result, not an error.
        """
        query = self.result("items")
        self.assertEqual(query.tag, ITEMS + "query")
        self.assertEqual(len(query), 0)

    def test_items(self):
        """
        §4.1: items that modules and components register, in order, and
        gone when the module is unloaded.
        """
        module = self.loadModule(AccountFeatureModule)
        self.host.addDiscoItem("conference.example.org")
        query = self.result("items")
        self.assertEqual([(i.get("jid"), i.get("name")) for i in query],
                         [("pubsub.example.org", "Publish-Subscribe"),
                          ("conference.example.org", None)])
        module.unload()
        self.host.removeDiscoItem("conference.example.org")
        self.assertEqual(len(self.result("items")), 0)


class ContactAddressesTests(DiscoTestCase):
    """
    XEP-0157 §3 through XEP-0128 §2: a form of FORM_TYPE
    http://jabber.org/network/serverinfo in the server's disco#info.
    """

    options = {
        "abuse": ("mailto:abuse@example.org", "xmpp:abuse@example.org"),
        "support": ("https://example.org/support",),
        "status": ("https://status.example.org",),
    }

    def test_form(self):
        query = self.result("info")
        x = findForm(query, NS.SERVERINFO)
        self.assertIsNotNone(x)
        form = Form.fromElement(x)
        self.assertEqual(form.type, "result")
        self.assertEqual(form.formTypeField.type, "hidden")
        self.assertEqual([f.var for f in form.fields],
                         ["abuse-addresses", "status-addresses", "support-addresses"])
        self.assertEqual(form.values("abuse-addresses"),
                         ("mailto:abuse@example.org", "xmpp:abuse@example.org"))
        self.assertEqual(form.field("support-addresses").type, "list-multi")
        # The form comes after identities and features (XEP-0128 §2).
        self.assertEqual(etree.QName(query[-1]).localname, "x")

    def test_extraForms(self):
        """
        Other modules add forms of their own.
        """
        extra = Form("result", "urn:example:info", []).toElement()
        self.disco.addInfoForm(lambda: extra)
        query = self.result("info")
        self.assertIsNotNone(findForm(query, NS.SERVERINFO))
        self.assertIsNotNone(findForm(query, "urn:example:info"))
        # Asking again gives the form again.
        self.assertIsNotNone(findForm(self.result("info"), "urn:example:info"))


class OptionTests(unittest.TestCase):

    def validate(self, options):
        config = parseConfig({"hosts": {"example.org": {
            "modules": ["disco"], "options": {"disco": options}}}}, ".")
        return validateModuleOptions(config, "example.org", "disco", DiscoModule.optionSchema)

    def test_defaults(self):
        self.assertEqual(self.validate({})["abuse"], ())

    def test_notURIs(self):
        """
        XEP-0157 §3: addresses are URIs; a bare address is refused, naming
        the key.
        """
        e = self.assertRaises(ConfigError, self.validate, {"admin": ["admin@example.org"]})
        self.assertIn('hosts."example.org".options.disco.admin', str(e))
        self.assertIn("'admin@example.org'", str(e))
        self.assertRaises(ConfigError, self.validate, {"adminz": []})


class AccountInfoTests(DiscoTestCase):
    """
    XEP-0030 §3 answered by the server on behalf of accounts, under the
    §8 rules against harvesting accounts and presence.
    """

    def setUp(self):
        DiscoTestCase.setUp(self)
        roster = FakeRoster()
        roster.setItem("alice", "bob@example.org", subscription="from")
        roster.setItem("alice", "carol@example.org", subscription="to")
        self.harness.provide(IRoster, roster)
        self.loadModule(AccountFeatureModule)
        self.bob = self.connect("bob@example.org/phone")
        self.carol = self.connect("carol@example.org/pda")

    def assertAccountInfo(self, query):
        self.assertEqual(identities(query), [("account", "registered", None)])
        self.assertEqual(features(query), sorted(
            [NS.DISCO_INFO, NS.DISCO_ITEMS, "urn:example:account"]))

    def test_self(self):
        """
        An account asking about itself, with its bare JID or without 'to'
        (RFC 6120 §10.3.3), gets the account identity and the account-level
        features, not the server's.
        """
        self.assertAccountInfo(self.result("info", to="alice@example.org"))
        self.assertAccountInfo(self.result("info", to=None))
        self.assertEqual(len(self.result("items", to=None)), 0)

    def test_subscribed(self):
        """
        §8 rule 1.2: a contact with a 'from' or 'both' subscription.
        """
        self.assertAccountInfo(self.result("info", to="alice@example.org", session=self.bob))

    def test_notSubscribed(self):
        """
        §8 rule 1.2: others get service-unavailable for info, and an
        empty result for items (rule 2.2), even with a node.
        """
        for session in (self.carol, self.connect("dave@elsewhere.example/x")):
            self.assertEqual(self.error("info", to="alice@example.org", session=session),
                             "service-unavailable")
            query = self.result("items", to="alice@example.org", session=session)
            self.assertEqual(len(query), 0)
            query = self.result("items", to="alice@example.org", node="n", session=session)
            self.assertEqual((len(query), query.get("node")), (0, "n"))

    def test_noSuchAccount(self):
        """
        §8 rules 1.1 and 2.1: a missing account looks like a hidden one.
        """
        self.assertEqual(self.error("info", to="nobody@example.org"), "service-unavailable")
        self.assertEqual(self.error("info", to="nobody@example.org", node="x"),
                         "service-unavailable")
        self.assertEqual(len(self.result("items", to="nobody@example.org")), 0)

    def test_unknownNode(self):
        self.assertEqual(self.error("info", to="alice@example.org", node="x"), "item-not-found")
        self.assertEqual(self.error("items", to=None, node="x"), "item-not-found")

    def test_withoutRoster(self):
        """
        Without a roster service nobody else can be shown to be
        authorized.
        """
        self.harness.withdraw(IRoster)
        self.assertEqual(self.error("info", to="alice@example.org", session=self.bob),
                         "service-unavailable")

    def test_unloadRemovesAccountFeatures(self):
        self.host.modules["pep-like"].unload()
        self.disco.unload()
        self.assertEqual(self.host.accountFeatures(), frozenset())
        self.assertEqual(self.host.features(), frozenset({NS.PING}))


class ServerQueryTests(DiscoTestCase):
    """
    The server asking about one of its accounts (e.g. a module on its
    behalf) is trusted (XEP-0030 §8 "otherwise trusted").
    """

    def test_serverAsks(self):
        self.loadModule(AccountFeatureModule)
        answers = []
        self.host.events.hook(iqResponseEvent("host"), answers.append)
        self.router.route(parse(
            "<iq type='get' id='s1' from='example.org' to='alice@example.org'>"
            "<query xmlns='%s'/></iq>" % (NS.DISCO_INFO,)))
        [event] = answers
        self.assertEqual(event.stanza.get("type"), "result")
        self.assertIn("urn:example:account", features(event.stanza[0]))
