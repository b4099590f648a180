"""
Tests for L{xmppframe.modules.entitytime}: Entity Time (XEP-0202) with
XEP-0082 dates, on a fake clock.
"""

from zope.interface.verify import verifyObject

from twisted.internet import task
from twisted.trial import unittest

from xmppframe.interfaces import IModule
from xmppframe.api.module import ModuleAPI
from xmppframe.modules.entitytime import TIME, EntityTimeModule, utcDateTime
from xmppframe.router import Router
from xmppframe.session import SessionManager

from tests.fakes import FakeSession, makeHost, parse

#: 2006-12-19T17:58:35Z, the time of the XEP-0202 §3 example.
EXAMPLE_TIME = 1166551115.25


class EntityTimeTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(EXAMPLE_TIME)
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = makeHost("capulet.com")
        self.router.addHost(self.host)
        api = ModuleAPI("time", self.host, self.router, self.sessions,
                        self.host.storage, self.clock)
        self.module = EntityTimeModule(api)
        self.module.load()
        self.romeo = FakeSession("romeo@capulet.com", host=self.host, manager=self.sessions)
        self.sessions.bind(self.romeo, "orchard")

    def ask(self):
        self.router.process(self.romeo, parse(
            "<iq type='get' id='time_1' to='capulet.com'><time xmlns='urn:xmpp:time'/></iq>"))
        [reply] = self.romeo.take()
        self.assertEqual(reply.get("type"), "result")
        self.assertEqual(reply.get("id"), "time_1")
        self.assertEqual(reply.get("from"), "capulet.com")
        [time] = reply
        self.assertEqual(time.tag, "{%s}time" % (TIME,))
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
        self.clock.advance(3600 * 24 + 1)
        self.assertEqual(self.ask()["utc"], "2006-12-20T17:58:36Z")

    def test_utcDateTime(self):
        self.assertEqual(utcDateTime(0), "1970-01-01T00:00:00Z")
        self.assertEqual(utcDateTime(1031699305.75), "2002-09-10T23:08:25Z")
