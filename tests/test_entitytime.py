"""
Tests for L{xmppframe.modules.entitytime}: Entity Time (XEP-0202) with
XEP-0082 dates, on a fake clock.
"""

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe.api.testing import ModuleHarness
from xmppframe.interfaces import IModule
from xmppframe.modules.entitytime import EntityTimeModule, utcDateTime
from xmppframe.xml import namespaces as NS

#: 2006-12-19T17:58:35Z, the time of the XEP-0202 §3 example.
EXAMPLE_TIME = 1166551115.25


class EntityTimeTests(unittest.TestCase):

    def setUp(self):
        self.harness = ModuleHarness("capulet.com")
        self.harness.advance(EXAMPLE_TIME)
        self.host = self.harness.host
        self.module = self.harness.load(EntityTimeModule)
        self.romeo = self.harness.client("romeo@capulet.com/orchard")

    def ask(self):
        reply = self.harness.ask(self.romeo, (
            "<iq type='get' id='time_1' to='capulet.com'><time xmlns='urn:xmpp:time'/></iq>"))
        self.assertEqual(reply.get("type"), "result")
        self.assertEqual(reply.get("id"), "time_1")
        self.assertEqual(reply.get("from"), "capulet.com")
        [time] = reply
        self.assertEqual(time.tag, NS.qname(NS.TIME, "time"))
        return {child.tag.partition("}")[2]: child.text for child in time}

    def test_module(self):
        self.assertTrue(verifyObject(IModule, self.module))
        self.assertEqual(self.module.xeps, ("XEP-0202",))
        self.assertEqual(self.module.name, "time")
        self.assertIn("urn:xmpp:time", self.host.features())

    def test_answer(self):
        """
        XEP-0202 §3: tzo and utc, the time in UTC as XEP-0082 §3.2 says.
        """
        self.assertEqual(self.ask(), {"tzo": "+00:00", "utc": "2006-12-19T17:58:35Z"})

    def test_clock(self):
        """
        The time is the reactor's, so it moves with it.
        """
        self.harness.advance(3600 * 24 + 1)
        self.assertEqual(self.ask()["utc"], "2006-12-20T17:58:36Z")

    def test_utcDateTime(self):
        self.assertEqual(utcDateTime(0), "1970-01-01T00:00:00Z")
        self.assertEqual(utcDateTime(1031699305.75), "2002-09-10T23:08:25Z")
