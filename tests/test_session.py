"""
Tests for L{xmppframe.session.SessionManager}: resource binding
(RFC 6120 §7) and session lookup.
"""

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe.events import SESSION_BOUND, SESSION_ENDED
from xmppframe.interfaces import IClientSession, ISessionManager
from xmppframe.jid import parseJID
from xmppframe.session import SessionManager

from tests.fakes import FakeSession, makeHost


class SessionManagerTests(unittest.TestCase):

    def setUp(self):
        self.manager = SessionManager()
        self.host = makeHost("example.org")
        self.bound = []
        self.ended = []
        self.host.events.hook(SESSION_BOUND, self.bound.append)
        self.host.events.hook(SESSION_ENDED, self.ended.append)

    def session(self, jid="alice@example.org"):
        return FakeSession(jid, host=self.host, manager=self.manager)

    def test_interfaces(self):
        self.assertTrue(verifyObject(ISessionManager, self.manager))
        self.assertTrue(verifyObject(IClientSession, self.session()))

    def test_bindGivenResource(self):
        """
        RFC 6120 §7.6.2.2: the client's resourcepart is used, and the
        session's JID becomes the full JID.
        """
        session = self.session()
        full = self.manager.bind(session, "home")
        self.assertEqual(full, parseJID("alice@example.org/home"))
        self.assertEqual(session.jid, full)
        self.assertIs(self.manager.sessionFor(full), session)
        self.assertEqual(len(self.manager), 1)

    def test_bindGeneratedResource(self):
        """
        RFC 6120 §7.6.2.1: with no resourcepart the server generates one,
        unique among the account's resources.
        """
        first, second = self.session(), self.session()
        a = self.manager.bind(first, None)
        b = self.manager.bind(second, None)
        self.assertTrue(a.resource)
        self.assertTrue(b.resource)
        self.assertNotEqual(a.resource, b.resource)
        self.assertEqual(a.bare, parseJID("alice@example.org"))
        self.assertIs(self.manager.sessionFor(a), first)
        self.assertIs(self.manager.sessionFor(b), second)

    def test_bindFromFullJID(self):
        """
        Binding a session whose JID already has a resource uses only its
        bare part.
        """
        session = self.session("alice@example.org/old")
        full = self.manager.bind(session, "new")
        self.assertEqual(full, parseJID("alice@example.org/new"))

    def test_conflictReplacesOld(self):
        """
        RFC 6120 §7.7.2.2 option 3: the newer session wins; the older one
        is closed with a C{conflict} stream error and marked replaced.
        """
        old, new = self.session(), self.session()
        self.manager.bind(old, "home")
        full = self.manager.bind(new, "home")
        self.assertEqual(old.closed[0], "conflict")
        self.assertTrue(old.replaced)
        self.assertFalse(new.replaced)
        self.assertIsNone(new.closed)
        self.assertIs(self.manager.sessionFor(full), new)
        self.assertEqual(self.manager.sessionsFor(full.bare), (new,))
        self.assertEqual(len(self.manager), 1)

    def test_conflictOldUnbindLeavesNew(self):
        """
        When the replaced session unbinds itself later (as a stream does
        once it has closed), the new session stays bound and SESSION_ENDED
        is not fired a second time for the old one.
        """
        old = FakeSession("alice@example.org", host=self.host)  # no auto-unbind
        new = self.session()
        self.manager.bind(old, "home")
        self.manager.bind(new, "home")
        self.manager.unbind(old)
        self.assertIs(self.manager.sessionFor(parseJID("alice@example.org/home")), new)
        self.assertEqual(self.ended, [old])

    def test_rebindSameSession(self):
        """
        Binding a session to the resource it already holds does not close
        it.
        """
        session = self.session()
        self.manager.bind(session, "home")
        self.manager.bind(session, "home")
        self.assertIsNone(session.closed)
        self.assertEqual(len(self.manager), 1)

    def test_unbind(self):
        session = self.session()
        full = self.manager.bind(session, "home")
        self.manager.unbind(session)
        self.assertIsNone(self.manager.sessionFor(full))
        self.assertEqual(self.manager.sessionsFor(full.bare), ())
        self.assertEqual(len(self.manager), 0)
        self.assertEqual(list(self.manager.allSessions()), [])

    def test_unbindUnbound(self):
        """
        Unbinding a session that never bound (or twice) does nothing.
        """
        session = self.session()
        self.manager.unbind(session)
        noJID = FakeSession("alice@example.org", host=self.host)
        noJID.jid = None
        self.manager.unbind(noJID)
        self.manager.bind(session, "home")
        self.manager.unbind(session)
        self.manager.unbind(session)
        self.assertEqual(self.ended, [session])

    def test_sessionsForBindOrder(self):
        """
        L{SessionManager.sessionsFor} lists an account's sessions in bind
        order, and nothing of other accounts.
        """
        a, b, c = self.session(), self.session(), self.session()
        other = self.session("bob@example.org")
        self.manager.bind(a, "a")
        self.manager.bind(b, "b")
        self.manager.bind(other, "a")
        self.manager.bind(c, "c")
        self.assertEqual(self.manager.sessionsFor(parseJID("alice@example.org")), (a, b, c))
        self.assertEqual(self.manager.sessionsFor(parseJID("bob@example.org")), (other,))
        self.assertEqual(self.manager.sessionsFor(parseJID("carol@example.org")), ())

    def test_sessionsForIsASnapshot(self):
        """
        The answer is a tuple, which callers cannot change and which later
        binds and unbinds leave as it was: code may iterate over it while
        sending, even if a send ends a session.
        """
        session = self.session()
        full = self.manager.bind(session, "home")
        answer = self.manager.sessionsFor(full.bare)
        self.assertIsInstance(answer, tuple)
        other = self.session()
        self.manager.bind(other, "work")
        self.manager.unbind(session)
        self.assertEqual(answer, (session,))
        self.assertEqual(self.manager.sessionsFor(full.bare), (other,))

    def test_knownJID(self):
        """
        The exact text of a bound full JID, and of the bare JID of an
        account with a bound session, maps to the prepared JID; anything
        else (another spelling, an unbound resource) is left to the JID
        cache.
        """
        home, work = self.session(), self.session()
        homeJID = self.manager.bind(home, "home")
        workJID = self.manager.bind(work, "work")
        self.assertIs(self.manager.knownJID("alice@example.org/home"), homeJID)
        self.assertEqual(self.manager.knownJID("alice@example.org"), homeJID.bare)
        self.assertIsNone(self.manager.knownJID("Alice@example.org/home"))
        self.assertIsNone(self.manager.knownJID("alice@example.org/phone"))
        self.manager.unbind(home)
        self.assertIsNone(self.manager.knownJID("alice@example.org/home"))
        self.assertEqual(self.manager.knownJID("alice@example.org"), workJID.bare)
        self.manager.unbind(work)
        self.assertIsNone(self.manager.knownJID("alice@example.org"))

    def test_knownJIDAfterConflict(self):
        """
        A session replaced by one with the same full JID (RFC 6120
        §7.7.2.2) leaves the JID known for its successor.
        """
        old, new = self.session(), self.session()
        self.manager.bind(old, "home")
        full = self.manager.bind(new, "home")
        self.assertEqual(self.manager.knownJID("alice@example.org/home"), full)
        self.manager.unbind(old)
        self.assertEqual(self.manager.knownJID("alice@example.org/home"), full)

    def test_sessionForUnknown(self):
        self.manager.bind(self.session(), "home")
        self.assertIsNone(self.manager.sessionFor(parseJID("alice@example.org/work")))
        self.assertIsNone(self.manager.sessionFor(parseJID("bob@example.org/home")))

    def test_allSessions(self):
        a, b = self.session(), self.session("bob@example.org")
        self.manager.bind(a, "x")
        self.manager.bind(b, "y")
        self.assertEqual(set(self.manager.allSessions()), {a, b})

    def test_allSessionsWhileUnbinding(self):
        """
        Sessions may be unbound while L{SessionManager.allSessions} is being
        iterated (as on shutdown, closing each).
        """
        sessions = [self.session("u%d@example.org" % i) for i in range(3)]
        for s in sessions:
            self.manager.bind(s, "r")
        for s in self.manager.allSessions():
            s.close("system-shutdown")
        self.assertEqual(len(self.manager), 0)
        self.assertEqual([s.closed[0] for s in sessions], ["system-shutdown"] * 3)

    def test_eventsFired(self):
        """
        SESSION_BOUND and SESSION_ENDED are fired on the session's host bus
        with the session.
        """
        session = self.session()
        self.manager.bind(session, "home")
        self.assertEqual(self.bound, [session])
        self.assertEqual(self.ended, [])
        self.manager.unbind(session)
        self.assertEqual(self.ended, [session])

    def test_conflictEventsOrder(self):
        """
        A session replaced on conflict (RFC 6120 §7.7.2.2) ends: its
        SESSION_ENDED comes before its successor's SESSION_BOUND, and while
        it is handled the successor is not yet in the table, so modules
        tidying up after the old session do not touch the new one.
        """
        old, new = self.session(), self.session()
        self.manager.bind(old, "home")
        order = []

        def onEnded(session):
            order.append(("ended", session, session.replaced,
                          self.manager.sessionsFor(session.jid.bare)))

        def onBound(session):
            order.append(("bound", session))

        self.host.events.hook(SESSION_ENDED, onEnded)
        self.host.events.hook(SESSION_BOUND, onBound)
        self.manager.bind(new, "home")
        self.assertEqual(order, [("ended", old, True, ()), ("bound", new)])
        self.manager.unbind(new)
        self.assertEqual(self.ended, [old, new])

    def test_noHost(self):
        """
        A session without a host (a test or an embedded use) binds without
        firing events.
        """
        session = FakeSession("alice@example.org")
        full = self.manager.bind(session, "home")
        self.manager.unbind(session)
        self.assertIsNone(self.manager.sessionFor(full))
        self.assertEqual(self.bound, [])
