"""
Tests for L{xmppframe.modules.version}: Software Version (XEP-0092).
"""

from zope.interface.verify import verifyObject

from twisted.trial import unittest

import xmppframe
from xmppframe.api.testing import ModuleHarness, stanzaErrorCondition
from xmppframe.config import ConfigError, parseConfig, validateModuleOptions
from xmppframe.interfaces import IModule
from xmppframe.modules.version import VersionModule, operatingSystem
from xmppframe.xml import namespaces as NS

QUERY = "<iq type='get' id='version_1' to='%s'><query xmlns='jabber:iq:version'/></iq>"


class VersionTests(unittest.TestCase):

    def setUp(self):
        self.harness = ModuleHarness("capulet.com")
        self.host = self.harness.host
        self.romeo = self.harness.client("romeo@capulet.com/orchard")

    def load(self, **options):
        return self.harness.load(VersionModule, options)

    def ask(self, to="capulet.com"):
        return self.harness.ask(self.romeo, QUERY % (to,))

    def fields(self, reply):
        self.assertEqual(reply.get("type"), "result")
        self.assertEqual(reply.get("id"), "version_1")
        [query] = reply
        self.assertEqual(query.tag, NS.qname(NS.VERSION, "query"))
        return {child.tag.partition("}")[2]: child.text for child in query}

    def test_module(self):
        module = self.load()
        self.assertTrue(verifyObject(IModule, module))
        self.assertEqual(module.xeps, ("XEP-0092",))
        self.assertIn("jabber:iq:version", self.host.features())

    def test_nameAndVersion(self):
        """
        XEP-0092 §2: name and version, REQUIRED; no OS by default (§6).
        """
        self.load()
        self.assertEqual(self.fields(self.ask()),
                         {"name": "xmppframe", "version": xmppframe.__version__})

    def test_showOS(self):
        """
        XEP-0092 §6: the OS only when the administrator allows it.
        """
        self.load(show_os=True)
        fields = self.fields(self.ask())
        self.assertEqual(fields["os"], operatingSystem())
        self.assertTrue(fields["os"])

    def test_badOption(self):
        """
        The config check refuses a show_os that is not a boolean, naming
        the key.
        """
        config = parseConfig({"hosts": {"example.org": {
            "modules": ["version"], "options": {"version": {"show_os": "yes"}}}}}, ".")
        e = self.assertRaises(ConfigError, validateModuleOptions, config, "example.org",
                              "version", VersionModule.optionSchema)
        self.assertIn('hosts."example.org".options.version.show_os', str(e))

    def test_accountNotAnswered(self):
        """
        A version query to an account is not the server's to answer
        (XEP-0092 §1): with no client to take it, service-unavailable.
        """
        self.load()
        self.assertEqual(stanzaErrorCondition(self.ask("juliet@capulet.com")),
                         "service-unavailable")

    def test_unload(self):
        self.load().unload()
        self.assertNotIn("jabber:iq:version", self.host.features())
        self.assertEqual(stanzaErrorCondition(self.ask()), "service-unavailable")
