"""
Tests for L{xmppframe.accounts}: the one account-removal cascade, through
the module harness.
"""

from twisted.internet import defer
from twisted.trial import unittest

from xmppframe.accounts import RemovalIncomplete
from xmppframe.api import ACCOUNT_REMOVED, Module, NoSuchUser
from xmppframe.api.testing import ModuleHarness
from xmppframe.modules.private import PrivateStorageModule
from xmppframe.modules.vcard import VCardModule


class Recorder(Module):
    """
    A module whose cleanup waits until the test lets it finish.
    """

    name = "recorder"

    def load(self):
        self.removed = []
        self.pending = defer.Deferred()
        self.sessionsAtCleanup = None
        self.api.hook(ACCOUNT_REMOVED, self.accountRemoved)

    def accountRemoved(self, user):
        self.removed.append(user)
        self.sessionsAtCleanup = self.api.sessions.sessionsFor(
            self.api.router.jids.parse("%s@%s" % (user, self.api.host.name)))
        return self.pending


class Failing(Module):
    name = "failing"

    def load(self):
        self.api.hook(ACCOUNT_REMOVED, self.accountRemoved)

    async def accountRemoved(self, user):
        raise RuntimeError("disk on fire")


class RemoveAccountTests(unittest.TestCase):

    def setUp(self):
        self.harness = ModuleHarness("example.org", users=("bob", "alice"))
        self.recorder = self.harness.load(Recorder)
        self.bob = self.harness.client("bob@example.org/phone", available=True)

    def test_order(self):
        """
        Credentials first, then the sessions closed with not-authorized
        (XEP-0077 §3.2), then ACCOUNT_REMOVED; the removal is done only
        when every cleanup is.
        """
        d = self.harness.removeAccount("bob")
        self.assertNotIn("bob", self.harness.accounts.users)
        self.assertEqual(self.bob.closed, ("not-authorized", "The account was removed"))
        self.assertEqual(self.recorder.removed, ["bob"])
        self.assertEqual(self.recorder.sessionsAtCleanup, ())
        self.assertNoResult(d)
        self.recorder.pending.callback(None)
        self.assertIsNone(self.successResultOf(d))

    def test_noSuchUser(self):
        """
        Removing an account that does not exist does nothing else.
        """
        self.failureResultOf(self.harness.removeAccount("nobody"), NoSuchUser)
        self.assertEqual(self.recorder.removed, [])

    def test_failedCleanup(self):
        """
        A module whose cleanup fails does not stop the others; the removal
        says it is incomplete.
        """
        self.harness.load(Failing)
        self.recorder.pending.callback(None)
        failure = self.failureResultOf(self.harness.removeAccount("bob"), RemovalIncomplete)
        self.assertIn("disk on fire", str(failure.value))
        self.assertEqual(self.recorder.removed, ["bob"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_vcardAndPrivate(self):
        """
        vcard and private, which kept their data before, drop it.
        """
        self.harness.load(VCardModule)
        self.harness.load(PrivateStorageModule)
        self.recorder.pending.callback(None)
        self.harness.ask(self.bob, "<iq type='set' id='v'><vCard xmlns='vcard-temp'>"
                                   "<FN>Bob</FN></vCard></iq>")
        self.harness.ask(self.bob, "<iq type='set' id='p'><query xmlns='jabber:iq:private'>"
                                   "<n xmlns='urn:example:n'>x</n></query></iq>")
        vcards = self.harness.storage.keyValue("example.org", "vcard")
        private = self.harness.storage.map("example.org", "private")
        self.assertIsNotNone(self.successResultOf(vcards.get("bob")))
        self.assertTrue(self.successResultOf(private.items("bob")))
        self.successResultOf(self.harness.removeAccount("bob"))
        self.assertIsNone(self.successResultOf(vcards.get("bob")))
        self.assertEqual(self.successResultOf(private.items("bob")), {})
