"""
Tests for L{xmppframe.modules.version}: Software Version (XEP-0092).
"""

from zope.interface.verify import verifyObject

from twisted.internet import task
from twisted.trial import unittest

import xmppframe
from xmppframe.config import ConfigError, parseConfig, validateModuleOptions
from xmppframe.interfaces import IModule
from xmppframe.api.module import ModuleAPI
from xmppframe.modules.version import VERSION, VersionModule, operatingSystem
from xmppframe.router import Router
from xmppframe.session import SessionManager

from tests.fakes import FakeSession, makeHost, parse, stanzaErrorCondition

QUERY = "<iq type='get' id='version_1' to='%s'><query xmlns='jabber:iq:version'/></iq>"


class VersionTests(unittest.TestCase):

    def setUp(self):
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = makeHost("capulet.com")
        self.router.addHost(self.host)
        self.romeo = FakeSession("romeo@capulet.com", host=self.host, manager=self.sessions)
        self.sessions.bind(self.romeo, "orchard")

    def load(self, **options):
        api = ModuleAPI("version", self.host, self.router, self.sessions,
                        self.host.storage, task.Clock(), options)
        module = VersionModule(api)
        module.load()
        return module

    def ask(self, to="capulet.com"):
        self.router.process(self.romeo, parse(QUERY % (to,)))
        [reply] = self.romeo.take()
        return reply

    def fields(self, reply):
        self.assertEqual(reply.get("type"), "result")
        self.assertEqual(reply.get("id"), "version_1")
        [query] = reply
        self.assertEqual(query.tag, "{%s}query" % (VERSION,))
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
