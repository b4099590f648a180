"""
Tests for L{xmppframe.events.ROSTER_CHANGED}: the roster module tells the
host's other modules of every stored roster change (RFC 6121 §2), and the
privacy module keeps its 'subscription' and 'group' rules (XEP-0016 §2.1,
§2.2 rule 9) current from it, without reading the roster again.
"""

from twisted.internet import defer
from twisted.trial import unittest

from xmppframe.events import ACCOUNT_REMOVED, ROSTER_CHANGED, RosterChange
from xmppframe.interfaces import IRoster
from xmppframe.modules.roster import RosterModule
from xmppframe.rosteritem import RosterItem

from tests import test_privacy, test_roster
from tests.test_roster import BOB, NURSE, ROMEO, itemXML


class RosterChangeTests(unittest.TestCase):

    def test_fields(self):
        """
        The event value says whose roster, which contact, and the new item.
        """
        item = RosterItem(BOB, subscription="to")
        change = RosterChange("alice", BOB, item)
        self.assertEqual((change.user, change.contact, change.item), ("alice", BOB, item))
        self.assertIn("alice", repr(change))


class _FailingWrites:
    """
    A map store whose writes fail, as a full disk would.
    """

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def set(self, user, key, value):
        return defer.fail(OSError("disk full"))

    def delete(self, user, key):
        return defer.fail(OSError("disk full"))


class RosterFiresTests(test_roster.RosterTestCase):
    """
    The roster module fires L{ROSTER_CHANGED} once per stored change, after
    the item is written.
    """

    def setUp(self):
        test_roster.RosterTestCase.setUp(self)
        self.changes = []
        self.host.events.hook(ROSTER_CHANGED, self.record)

    def record(self, change):
        # What the store holds when the event fires: the change is durable.
        stored = []
        self.module._items.get(change.user, change.contact.full).addCallback(stored.append)
        self.changes.append((change.user, change.contact, change.item, stored[0]))

    @defer.inlineCallbacks
    def test_updateSubscription(self):
        """
        An IRoster subscription change (what RFC 6121 §3 subscription
        handling calls) fires with the new item, already stored.
        """
        item = yield self.module.updateSubscription("alice", BOB, subscription="to")
        [(user, contact, fired, stored)] = self.changes
        self.assertEqual((user, contact, fired), ("alice", BOB, item))
        self.assertEqual(fired.subscription, "to")
        self.assertEqual(stored["subscription"], "to")

    @defer.inlineCallbacks
    def test_noChangeNoEvent(self):
        """
        A change that changes nothing stores nothing and fires nothing.
        """
        yield self.module.updateSubscription("alice", BOB, subscription="to")
        del self.changes[:]
        yield self.module.updateSubscription("alice", BOB, subscription="to")
        self.assertEqual(self.changes, [])

    @defer.inlineCallbacks
    def test_removeItem(self):
        """
        A removal fires with C{None}, once the item is gone.
        """
        yield self.module.updateSubscription("alice", BOB, subscription="both")
        del self.changes[:]
        yield self.module.removeItem("alice", "bob@example.org")
        self.assertEqual(self.changes, [("alice", BOB, None, None)])

    def test_rosterSetAndRemove(self):
        """
        A client's roster set (RFC 6121 §2.3) and remove (§2.5) fire too.
        """
        self.rosterSet(self.home, itemXML(NURSE, name="Nurse", groups=("Servants",)))
        [(user, contact, item, stored)] = self.changes
        self.assertEqual((user, contact), ("alice", NURSE))
        self.assertEqual((item.name, item.groups), ("Nurse", ("Servants",)))
        self.assertEqual(stored["name"], "Nurse")
        self.rosterSet(self.home, itemXML(NURSE, subscription="remove"), id="s2")
        self.assertEqual(self.changes[1:], [("alice", NURSE, None, None)])

    def test_failedWriteFiresNothing(self):
        """
        A change that could not be stored is not announced.
        """
        self.module._items = _FailingWrites(self.module._items)
        self.rosterSet(self.home, itemXML(NURSE))
        self.assertError(self.home, "internal-server-error")
        self.assertEqual(self.changes, [])
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    @defer.inlineCallbacks
    def test_accountRemoved(self):
        """
        XEP-0077 §3.2: a removed account's items go, each announced.
        """
        self.rosterSet(self.home, itemXML(NURSE))
        yield self.module.updateSubscription("alice", ROMEO, subscription="from")
        del self.changes[:]
        self.host.events.fireAll(ACCOUNT_REMOVED, "alice")
        self.assertEqual(sorted((u, str(c), i) for u, c, i, _ in self.changes), [
            ("alice", "nurse@example.com", None), ("alice", "romeo@example.net", None)])


class PrivacyFollowsRosterTests(test_privacy.PrivacyHarness):
    """
    The privacy module with the real roster module: rules that name roster
    facts (XEP-0016 §2.1 'subscription' and 'group' items) follow roster
    changes at once (§2.2 rule 9) without reading the roster again.
    """

    def setUp(self):
        test_privacy.PrivacyHarness.setUp(self)
        self.host.services.withdraw(IRoster, self.roster)
        self.roster = self.loadModule(RosterModule)
        self.addCleanup(self.roster.unload)
        self.alice = self.connect("alice@example.org/home")
        self.bob = self.connect("bob@example.org/phone")
        self.rosterReads = 0
        getItems = self.roster.getItems

        def countingGetItems(user):
            self.rosterReads += 1
            return getItems(user)
        self.roster.getItems = countingGetItems

    def message(self):
        """
        Bob writes to Alice: C{True} if she got it.
        """
        self.bob.take()
        self.send(self.bob, "<message to='alice@example.org/home'><body>x</body></message>")
        return len(self.alice.take()) == 1

    @defer.inlineCallbacks
    def test_subscriptionRule(self):
        """
        Messages from contacts with no subscription are denied; once Bob's
        subscription is 'both' they pass, and once his item is removed they
        are denied again.
        """
        self.setList(self.alice, "rules", "<item type='subscription' value='none' "
                                          "action='deny' order='1'><message/></item>")
        self.setDefault(self.alice, "rules")
        self.alice.take()
        self.assertFalse(self.message())
        reads = self.rosterReads
        yield self.roster.updateSubscription("alice", "bob@example.org", subscription="both")
        self.assertTrue(self.message())
        yield self.roster.removeItem("alice", "bob@example.org")
        self.assertFalse(self.message())
        self.assertEqual(self.rosterReads, reads)

    def test_groupRule(self):
        """
        A 'group' rule applies to a contact the user moves into the group
        with a roster set (RFC 6121 §2.4), and stops when he leaves it.
        """
        self.send(self.alice, "<iq type='set' id='r1'><query xmlns='jabber:iq:roster'>%s"
                              "</query></iq>" % (itemXML("carol@example.org", groups=("Muted",)),))
        self.alice.take()
        self.setList(self.alice, "rules", "<item type='group' value='Muted' "
                                          "action='deny' order='1'><message/></item>")
        self.setDefault(self.alice, "rules")
        self.alice.take()
        self.assertTrue(self.message())
        reads = self.rosterReads
        self.send(self.alice, "<iq type='set' id='r2'><query xmlns='jabber:iq:roster'>%s"
                              "</query></iq>" % (itemXML("bob@example.org", groups=("Muted",)),))
        self.alice.take()
        self.assertFalse(self.message())
        self.send(self.alice, "<iq type='set' id='r3'><query xmlns='jabber:iq:roster'>%s"
                              "</query></iq>" % (itemXML("bob@example.org"),))
        self.alice.take()
        self.assertTrue(self.message())
        self.assertEqual(self.rosterReads, reads)
