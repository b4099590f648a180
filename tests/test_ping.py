"""
Tests for L{xmppframe.modules.ping}: XMPP Ping (XEP-0199) both ways, the
server's pongs (§4.2) and its pings of silent clients (§4.1), with a fake
clock for the timing.
"""

from lxml import etree

from zope.interface.verify import verifyObject

from twisted.internet import task
from twisted.trial import unittest

from xmppframe.config import ConfigError, parseConfig, validateModuleOptions
from xmppframe.events import iqResponseEvent
from xmppframe.interfaces import IModule
from xmppframe.api.module import ModuleAPI
from xmppframe.modules.ping import PING_ID_PREFIX, PingModule
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.xml import namespaces as NS

from tests.fakes import FakeSession, makeHost, parse, stanzaErrorCondition


class ClientSession(FakeSession):
    """
    A fake client session that tells when data last arrived, as the c2s
    stream's C{lastActivity} does; L{receive} stands for data arriving.
    """

    def __init__(self, jid, clock, **kwargs):
        FakeSession.__init__(self, jid, **kwargs)
        self.clock = clock
        self.lastActivity = clock.seconds()

    def receive(self):
        self.lastActivity = self.clock.seconds()


class PingTestCase(unittest.TestCase):

    options = {"interval": 300, "timeout": 60}

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1000)
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = makeHost("capulet.lit")
        self.router.addHost(self.host)
        self.module = self.loadModule(self.host, self.options)
        self.juliet = self.bindSession("juliet@capulet.lit", "balcony")

    def loadModule(self, host, options):
        api = ModuleAPI("ping", host, self.router, self.sessions, host.storage,
                        self.clock, options)
        module = PingModule(api)
        module.load()
        self.addCleanup(module.unload)
        return module

    def bindSession(self, jid, resource, host=None):
        session = ClientSession(jid, self.clock, host=host or self.host, available=True,
                                manager=self.sessions)
        self.sessions.bind(session, resource)
        return session

    def answer(self, session, ping, type="result"):
        """
        C{session} answers C{ping} the way XEP-0199 §4.1 shows.
        """
        session.receive()
        if type == "result":
            xml = "<iq type='result' id='%s' to='capulet.lit'/>" % (ping.get("id"),)
        else:
            xml = ("<iq type='error' id='%s' to='capulet.lit'><ping xmlns='urn:xmpp:ping'/>"
                   "<error type='cancel'><service-unavailable "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                   % (ping.get("id"),))
        self.router.process(session, parse(xml))

    def assertPing(self, stanza, session):
        """
        C{stanza} is a ping from the server to C{session} (XEP-0199 §4.1).
        """
        self.assertEqual(etree.QName(stanza).localname, "iq")
        self.assertEqual(stanza.get("type"), "get")
        self.assertEqual(stanza.get("from"), "capulet.lit")
        self.assertEqual(stanza.get("to"), session.jid.full)
        self.assertTrue(stanza.get("id").startswith(PING_ID_PREFIX))
        [payload] = stanza
        self.assertEqual(payload.tag, "{%s}ping" % (NS.PING,))

    def nextPing(self, session):
        [stanza] = session.take()
        self.assertPing(stanza, session)
        return stanza


class PongTests(PingTestCase):

    def test_module(self):
        self.assertTrue(verifyObject(IModule, self.module))
        self.assertEqual(self.module.xeps, ("XEP-0199",))
        self.assertIn(NS.PING, self.host.features())

    def test_pongHost(self):
        """
        XEP-0199 §4.2: a ping to the server is answered with a result.
        """
        self.router.process(self.juliet, parse(
            "<iq type='get' id='c2s1' to='capulet.lit'><ping xmlns='urn:xmpp:ping'/></iq>"))
        [reply] = self.juliet.take()
        self.assertEqual((reply.get("type"), reply.get("id"), reply.get("from")),
                         ("result", "c2s1", "capulet.lit"))
        self.assertEqual(len(reply), 0)

    def test_pongSelf(self):
        """
        XEP-0199 §4.2 note: no 'to', or the client's own bare JID, is the
        server's to answer too.
        """
        for to in ("", " to='juliet@capulet.lit'"):
            self.router.process(self.juliet, parse(
                "<iq type='get' id='c2s1'%s><ping xmlns='urn:xmpp:ping'/></iq>" % (to,)))
            [reply] = self.juliet.take()
            self.assertEqual(reply.get("type"), "result")


class ServerPingTests(PingTestCase):

    def test_silentClientPinged(self):
        """
        XEP-0199 §4.1: a client silent for 'interval' seconds gets a ping
        from the server's domain; the scan runs every interval / 2.
        """
        self.clock.advance(150)
        self.assertEqual(self.juliet.take(), [])
        self.clock.advance(150)
        self.nextPing(self.juliet)
        self.assertEqual(self.module.pending, 1)

    def test_activeClientNotPinged(self):
        """
        Data received counts: a client that keeps talking is not pinged.
        """
        for _ in range(6):
            self.clock.advance(100)
            self.juliet.receive()
        self.assertEqual(self.juliet.take(), [])

    def test_answeredKeepsStream(self):
        """
        A result ends the wait; the stream stays, and the next silence
        brings the next ping.
        """
        self.clock.advance(300)
        ping = self.nextPing(self.juliet)
        self.clock.advance(5)
        self.answer(self.juliet, ping)
        self.assertEqual(self.juliet.take(), [], "the answer is consumed, not bounced")
        self.assertEqual(self.module.pending, 0)
        self.clock.advance(120)
        self.assertIsNone(self.juliet.closed)
        self.clock.advance(300)
        second = self.nextPing(self.juliet)
        self.assertNotEqual(second.get("id"), ping.get("id"))

    def test_errorAnswerCounts(self):
        """
        XEP-0199 §4.1: a client without ping support answers
        service-unavailable, which proves the stream as well.
        """
        self.clock.advance(300)
        self.answer(self.juliet, self.nextPing(self.juliet), type="error")
        self.clock.advance(120)
        self.assertIsNone(self.juliet.closed)
        self.assertEqual(self.module.pending, 0)

    def test_noAnswerCloses(self):
        """
        RFC 6120 §4.6.2: no answer within 'timeout' closes the stream with
        connection-timeout (§4.9.3.4).
        """
        self.clock.advance(300)
        self.nextPing(self.juliet)
        self.clock.advance(59)
        self.assertIsNone(self.juliet.closed)
        self.clock.advance(1)
        self.assertEqual(self.juliet.closed[0], "connection-timeout")
        self.assertEqual(self.module.pending, 0)
        self.assertEqual(self.sessions.sessionsFor(self.juliet.jid.bare), ())
        self.assertEqual(len(self.host.services.requests), 0, "the request is cancelled")

    def test_otherDataCounts(self):
        """
        XEP-0199 §6: some clients ignore the ping; data received after it
        still proves the stream alive.
        """
        self.clock.advance(300)
        self.nextPing(self.juliet)
        self.clock.advance(10)
        self.juliet.receive()
        self.clock.advance(60)
        self.assertIsNone(self.juliet.closed)
        self.assertEqual(self.module.pending, 0)

    def test_answerFromOtherSessionIgnored(self):
        """
        Only the pinged session can answer its ping.
        """
        romeo = self.bindSession("romeo@capulet.lit", "orchard")
        self.clock.advance(300)
        ping = self.nextPing(self.juliet)
        self.nextPing(romeo)
        self.router.process(romeo, parse("<iq type='result' id='%s' to='capulet.lit'/>"
                                         % (ping.get("id"),)))
        self.assertEqual(self.module.pending, 2)

    def test_answerWithoutTo(self):
        """
        An answer with no 'to' (RFC 6120 §10.3.3) is matched too.
        """
        self.clock.advance(300)
        ping = self.nextPing(self.juliet)
        self.router.process(self.juliet, parse("<iq type='result' id='%s'/>" % (ping.get("id"),)))
        self.assertEqual(self.module.pending, 0)

    def test_unknownAnswerNotClaimed(self):
        """
        An iq result that answers no ping is left to others.
        """
        seen = []
        self.host.events.hook(iqResponseEvent("host"), seen.append, priority=-10)
        self.router.process(self.juliet, parse("<iq type='result' id='other' to='capulet.lit'/>"))
        self.assertEqual(len(seen), 1)

    def test_endedSessionForgotten(self):
        """
        A session that ends while pinged is forgotten, not closed again.
        """
        self.clock.advance(300)
        self.nextPing(self.juliet)
        self.juliet.close()
        self.assertEqual(self.module.pending, 0)
        self.clock.advance(60)
        self.assertEqual(self.juliet.closed, (None, None))

    def test_onePingAtATime(self):
        """
        A session already pinged is not pinged again while it is awaited.
        """
        self.clock.advance(300)
        self.nextPing(self.juliet)
        self.module.scan()
        self.module.pingSession(self.juliet)
        self.assertEqual(self.juliet.take(), [])

    def test_oneTimerForManySessions(self):
        """
        No timer per connection: one scan and one deadline for the host.
        """
        sessions = [self.bindSession("user%d@capulet.lit" % (i,), "r") for i in range(50)]
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(300)
        self.assertEqual(self.module.pending, 51)
        self.assertEqual(len(self.clock.getDelayedCalls()), 2)
        for session in sessions[:25]:
            self.answer(session, self.nextPing(session))
        self.clock.advance(60)
        self.assertEqual(sum(1 for s in sessions if s.closed), 25)
        self.assertEqual(self.juliet.closed[0], "connection-timeout")
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_deadlinesInOrder(self):
        """
        Pings sent at different times expire at their own deadlines.
        """
        self.clock.advance(300)
        self.nextPing(self.juliet)
        self.clock.advance(30)
        romeo = self.bindSession("romeo@capulet.lit", "orchard")
        self.module.pingSession(romeo)
        self.nextPing(romeo)
        self.clock.advance(30)
        self.assertEqual(self.juliet.closed[0], "connection-timeout")
        self.assertIsNone(romeo.closed)
        self.clock.advance(30)
        self.assertEqual(romeo.closed[0], "connection-timeout")

    def test_otherHostsNotPinged(self):
        """
        Each host's module pings its own sessions only.
        """
        other = makeHost("montague.lit")
        self.router.addHost(other)
        romeo = self.bindSession("romeo@montague.lit", "orchard", host=other)
        self.clock.advance(300)
        self.nextPing(self.juliet)
        self.assertEqual(romeo.take(), [])

    def test_sessionWithoutLastActivity(self):
        """
        A session that cannot tell its last activity is pinged 'interval'
        after the module first sees it, and after each answer.
        """
        plain = FakeSession("nurse@capulet.lit", host=self.host, manager=self.sessions)
        self.sessions.bind(plain, "kitchen")
        self.clock.advance(150)
        self.assertEqual(plain.take(), [])
        self.clock.advance(300)
        ping = self.nextPing(plain)
        self.router.process(plain, parse("<iq type='result' id='%s' to='capulet.lit'/>"
                                         % (ping.get("id"),)))
        self.clock.advance(150)
        self.assertEqual(plain.take(), [])
        self.clock.advance(150)
        self.nextPing(plain)
        self.clock.advance(60)
        self.assertEqual(plain.closed[0], "connection-timeout")

    def test_answerFromOtherResourceIgnored(self):
        """
        Not even another session of the same account answers for the one
        pinged (RFC 6120 §8.2.3: the answer comes from the JID asked).
        """
        chamber = self.bindSession("juliet@capulet.lit", "chamber")
        self.clock.advance(300)
        ping = self.nextPing(self.juliet)
        self.nextPing(chamber)
        self.answer(chamber, ping)
        self.clock.advance(60)
        self.assertEqual(self.juliet.closed[0], "connection-timeout")

    def test_pingsAreRequests(self):
        """
        The module's pings wait in the host's request tracker
        (C{api.request}), with no timer of the tracker's.
        """
        self.clock.advance(300)
        ping = self.nextPing(self.juliet)
        self.assertEqual(len(self.host.services.requests), 1)
        self.assertEqual(len(self.clock.getDelayedCalls()), 2)
        self.answer(self.juliet, ping)
        self.assertEqual(len(self.host.services.requests), 0)

    def test_unloadStopsTimers(self):
        self.clock.advance(300)
        self.module.unload()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.host.services.requests), 0)
        self.clock.advance(1000)
        self.assertIsNone(self.juliet.closed)


class DisabledTests(PingTestCase):

    options = {"interval": 0}

    def test_noPings(self):
        """
        interval = 0 turns the server's pings off; pongs still work.
        """
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10000)
        self.assertEqual(self.juliet.take(), [])
        self.router.process(self.juliet, parse(
            "<iq type='get' id='c2s1' to='capulet.lit'><ping xmlns='urn:xmpp:ping'/></iq>"))
        [reply] = self.juliet.take()
        self.assertEqual(reply.get("type"), "result")

    def test_unknownAnswerBounced(self):
        """
        With no pings out, a stray answer is nobody's: dropped as the
        router drops it.
        """
        self.router.process(self.juliet, parse("<iq type='result' id='x' to='capulet.lit'/>"))
        self.assertEqual(self.juliet.take(), [])


class OptionTests(PingTestCase):

    def test_defaults(self):
        """
        RFC 6120 §4.6.4: checks at most every 5 minutes by default.
        """
        config = parseConfig({"hosts": {"capulet.lit": {"modules": ["ping"]}}}, ".")
        self.assertEqual(validateModuleOptions(config, "capulet.lit", "ping",
                                               PingModule.optionSchema),
                         {"interval": 300.0, "timeout": 60.0})

    def test_schemaRefuses(self):
        for options, key in (({"interval": -1}, "interval"), ({"timeout": 0}, "timeout"),
                             ({"interval": "often"}, "interval")):
            config = parseConfig({"hosts": {"capulet.lit": {
                "modules": ["ping"], "options": {"ping": options}}}}, ".")
            e = self.assertRaises(ConfigError, validateModuleOptions, config, "capulet.lit",
                                  "ping", PingModule.optionSchema)
            self.assertIn("options.ping." + key, str(e))

    def test_fractionalSeconds(self):
        self.module.unload()
        module = self.loadModule(self.host, {"interval": 0.5, "timeout": 0.25})
        self.clock.advance(0.5)
        self.nextPing(self.juliet)
        self.clock.advance(0.25)
        self.assertEqual(self.juliet.closed[0], "connection-timeout")
        self.assertEqual(module.pending, 0)


class ErrorReplyTests(PingTestCase):

    def test_pingToOtherAccount(self):
        """
        A ping to another account's bare JID is not the server's to answer
        (XEP-0199 §4.2 covers only the client's own): service-unavailable.
        """
        self.router.process(self.juliet, parse(
            "<iq type='get' id='p' to='romeo@capulet.lit'><ping xmlns='urn:xmpp:ping'/></iq>"))
        [reply] = self.juliet.take()
        self.assertEqual(stanzaErrorCondition(reply), "service-unavailable")
