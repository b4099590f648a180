"""
Tests for L{xmppframe.api.testing}: the fakes the module harness offers.
"""

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe.api.testing import FakeAccounts, FakeRoster, ModuleHarness
from xmppframe.interfaces import IRoster
from xmppframe.jid import parseJID


class FakeRosterTests(unittest.TestCase):

    def test_interface(self):
        self.assertTrue(verifyObject(IRoster, FakeRoster()))

    def test_pausedUser(self):
        """
        Calls for a paused user wait for release; others answer at once.
        """
        roster = FakeRoster()
        roster.setItem("alice", "bob@example.org", subscription="both")
        roster.paused = {"alice"}
        bob = parseJID("bob@example.org")
        waiting = roster.getItem("alice", bob)
        self.assertNoResult(waiting)
        self.assertIsNone(self.successResultOf(roster.getItem("carol", bob)))
        roster.release()
        self.assertEqual(self.successResultOf(waiting).subscription, "both")

    def test_pushes(self):
        """
        A change is pushed once; the same change again is not.
        """
        roster = FakeRoster()
        bob = parseJID("bob@example.org/desk")
        for _ in range(2):
            roster.updateSubscription("alice", bob, subscription="to")
        [(user, item)] = roster.pushes
        self.assertEqual((user, item.jid, item.subscription), ("alice", bob.bare, "to"))


class FakeAccountsTests(unittest.TestCase):

    def test_paused(self):
        accounts = FakeAccounts({"alice"})
        accounts.paused = True
        exists = accounts.userExists("alice")
        self.assertNoResult(exists)
        accounts.release()
        self.assertTrue(self.successResultOf(exists))
        self.assertEqual(self.successResultOf(accounts.listUsers()), ["alice"])


class HarnessTests(unittest.TestCase):

    def test_askWantsOneReply(self):
        """
        L{ModuleHarness.ask} fails when the session got no reply (a headline to
        an account without sessions is dropped, RFC 6121 §8.5.2.2.1).
        """
        harness = ModuleHarness()
        alice = harness.client("alice@example.org/home", available=True)
        self.assertRaises(AssertionError, harness.ask, alice,
                          "<message to='bob@example.org' type='headline'/>")
