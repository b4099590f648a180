"""
L{xmppframe.api.durability}: what a client is told after a stanza it sent
waits until that stanza's storage writes are committed (issue 15:
"answered" means "stored").
"""

from twisted.internet import defer
from twisted.trial import unittest

from xmppframe.api import durability
from xmppframe.api.testing import ModuleHarness
from xmppframe.modules.offline import OfflineModule
from xmppframe.modules.ping import PingModule


class FenceTests(unittest.TestCase):

    def setUp(self):
        self.harness = ModuleHarness("example.org")
        self.api = self.harness.api("test")
        self.alice = self.harness.client("alice@example.org/home", available=True)
        self.bob = self.harness.client("bob@example.org/phone", available=True)

    def eventFrom(self, session):
        class Event:
            origin = session
        return Event()

    def message(self, body):
        return self.harness.send(self.bob, "<message to='alice@example.org/home'>"
                                           "<body>%s</body></message>" % (body,))

    def test_heldUntilCommitted(self):
        """
        While a write of Alice's is pending, what she is sent waits, in
        order, and goes out once it is committed.
        """
        write = defer.Deferred()
        self.api.durable(self.eventFrom(self.alice), write)
        self.message("one")
        self.message("two")
        self.assertEqual(self.alice.take(), [])
        write.callback(None)
        self.assertEqual([m.findtext("{jabber:client}body") for m in self.alice.take()],
                         ["one", "two"])
        self.assertEqual(self.alice.sendFilters, [])

    def test_failedWriteReleases(self):
        """
        A write that fails releases the hold too (its failure is the
        module's to answer), and the failure reaches the write's own
        callbacks.
        """
        write = defer.Deferred()
        self.api.durable(self.eventFrom(self.alice), write)
        self.message("one")
        write.errback(ValueError("disk full"))
        self.assertEqual(len(self.alice.take()), 1)
        self.failureResultOf(write, ValueError)

    def test_everyWrite(self):
        first, second = defer.Deferred(), defer.Deferred()
        self.api.durable(self.eventFrom(self.alice), first)
        self.api.durable(self.eventFrom(self.alice), second)
        self.message("one")
        first.callback(None)
        self.assertEqual(self.alice.take(), [])
        second.callback(None)
        self.assertEqual(len(self.alice.take()), 1)

    def test_othersNotHeld(self):
        write = defer.Deferred()
        self.api.durable(self.eventFrom(self.alice), write)
        self.harness.send(self.alice, "<message to='bob@example.org/phone'><body>hi</body>"
                                      "</message>")
        self.assertEqual(len(self.bob.take()), 1)

    def test_noSession(self):
        """
        A stanza from a peer server or a component has no session to hold.
        """
        write = defer.Deferred()
        self.assertIs(self.api.durable(self.eventFrom(None), write), write)

    def test_bounded(self):
        """
        Past L{durability.MAX_HELD} held stanzas (storage has stopped
        answering), the session is closed rather than memory growing.
        """
        self.patch(durability, "MAX_HELD", 3)
        self.api.durable(self.eventFrom(self.alice), defer.Deferred())
        for n in range(4):
            self.message(str(n))
        self.assertEqual(self.alice.closed[0], "resource-constraint")


class OfflineThenPingTests(unittest.TestCase):
    """
    The case of the issue: messages to an offline account, then a ping;
    the ping is answered only once the messages are stored.
    """

    def test_pingAfterStore(self):
        harness = ModuleHarness("example.org")
        offline = harness.load(OfflineModule)
        harness.load(PingModule)
        writes = []
        append = offline.store.append

        def slowAppend(*args, **kwargs):
            d = defer.Deferred()
            writes.append((d, args, kwargs))
            return d
        offline.store.append = slowAppend
        alice = harness.client("alice@example.org/home", available=True)
        for n in range(3):
            harness.send(alice, "<message to='bob@example.org' type='chat'><body>%d</body>"
                                "</message>" % (n,))
        harness.send(alice, "<iq type='get' id='p1' to='example.org'>"
                            "<ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertEqual(alice.take(), [])
        while writes:
            d, args, kwargs = writes.pop(0)
            append(*args, **kwargs).chainDeferred(d)
            if writes:
                self.assertEqual(alice.take(), [])
        [pong] = alice.take()
        self.assertEqual((pong.get("id"), pong.get("type")), ("p1", "result"))
        self.assertEqual(self.successResultOf(offline.store.count("bob")), 3)
