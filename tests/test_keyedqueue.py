"""
Tests for L{xmppframe.api.keyedqueue}: one serial queue of work per key.
"""

from twisted.internet import defer
from twisted.trial import unittest

from xmppframe.api.keyedqueue import KeyedQueue


class Jobs:
    """
    Work whose Deferreds the test fires by hand, remembering the order in
    which the jobs started.
    """

    def __init__(self):
        self.started = []
        self.pending = {}

    def __call__(self, name):
        self.started.append(name)
        d = self.pending[name] = defer.Deferred()
        return d

    def finish(self, name, result=None):
        self.pending.pop(name).callback(result)

    def fail(self, name, exception):
        self.pending.pop(name).errback(exception)


class QueueTestCase(unittest.TestCase):
    """
    A fresh queue, and work that finishes when the test says.
    """

    def setUp(self):
        self.queue = KeyedQueue()
        self.jobs = Jobs()


class OrderingTests(QueueTestCase):

    def test_oneAtATimeInOrder(self):
        """
        The jobs of one key run one after the other, in the order they
        were queued, each only once the one before has finished.
        """
        results = [self.queue.run("alice", self.jobs, name) for name in "abc"]
        self.assertEqual(self.jobs.started, ["a"])
        self.jobs.finish("a", 1)
        self.assertEqual(self.jobs.started, ["a", "b"])
        self.assertEqual(self.successResultOf(results[0]), 1)
        self.assertNoResult(results[1])
        self.jobs.finish("b", 2)
        self.jobs.finish("c", 3)
        self.assertEqual([self.successResultOf(d) for d in results[1:]], [2, 3])

    def test_keysDoNotWait(self):
        """
        Work for another key runs at once, whatever the first key's queue
        holds.
        """
        self.queue.run("alice", self.jobs, "a1")
        self.queue.run("alice", self.jobs, "a2")
        bob = self.queue.run("bob", self.jobs, "b1")
        self.assertEqual(self.jobs.started, ["a1", "b1"])
        self.jobs.finish("b1", "done")
        self.assertEqual(self.successResultOf(bob), "done")

    def test_argumentsAndPlainValues(self):
        """
        The work gets the positional and keyword arguments; a plain return
        value is the result.
        """
        d = self.queue.run("alice", lambda a, b=None: (a, b), 1, b=2)
        self.assertEqual(self.successResultOf(d), (1, 2))

    def test_coroutine(self):
        """
        An C{async def} function may be queued as it is; the queue waits
        for the coroutine to end.
        """
        gate = defer.Deferred()

        async def work(value):
            await gate
            return value

        first = self.queue.run("alice", work, "first")
        second = self.queue.run("alice", lambda: "second")
        self.assertNoResult(first)
        self.assertNoResult(second)
        gate.callback(None)
        self.assertEqual(self.successResultOf(first), "first")
        self.assertEqual(self.successResultOf(second), "second")


class FailureTests(QueueTestCase):

    def test_failingDeferred(self):
        """
        A job whose Deferred fails gives its caller the failure; the next
        job still runs.
        """
        first = self.queue.run("alice", self.jobs, "a")
        second = self.queue.run("alice", self.jobs, "b")
        self.jobs.fail("a", ValueError("broken"))
        self.failureResultOf(first, ValueError)
        self.assertEqual(self.jobs.started, ["a", "b"])
        self.jobs.finish("b", "fine")
        self.assertEqual(self.successResultOf(second), "fine")

    def test_raising(self):
        """
        A job that raises is a failure of its own Deferred, not of the
        caller of L{KeyedQueue.run}, and does not block the queue.
        """
        def broken():
            raise KeyError("missing")

        first = self.queue.run("alice", broken)
        second = self.queue.run("alice", lambda: "fine")
        self.failureResultOf(first, KeyError)
        self.assertEqual(self.successResultOf(second), "fine")
        self.assertEqual(len(self.queue), 0)


class ForgettingTests(QueueTestCase):

    def test_emptyQueueForgotten(self):
        """
        A key is kept while it has work, and forgotten when the last of its
        jobs has finished, whether it succeeded or failed.
        """
        self.assertEqual(len(self.queue), 0)
        self.assertFalse(self.queue.busy("alice"))
        first = self.queue.run("alice", self.jobs, "a")
        self.queue.run("alice", self.jobs, "b")
        self.queue.run("bob", self.jobs, "c")
        self.assertEqual(len(self.queue), 2)
        self.assertTrue(self.queue.busy("alice"))
        self.jobs.fail("a", ValueError())
        self.failureResultOf(first)
        self.assertTrue(self.queue.busy("alice"))
        self.jobs.finish("b")
        self.assertFalse(self.queue.busy("alice"))
        self.assertEqual(len(self.queue), 1)
        self.jobs.finish("c")
        self.assertEqual(len(self.queue), 0)

    def test_forgottenBeforeCallerSeesResult(self):
        """
        The caller of the last job sees its key already idle, and work it
        queues from there runs at once.
        """
        seen = []
        d = self.queue.run("alice", self.jobs, "a")

        def callerSees(result):
            seen.append(self.queue.busy("alice"))
            return self.queue.run("alice", self.jobs, "b")

        d.addCallback(callerSees)
        self.jobs.finish("a")
        self.assertEqual(seen, [False])
        self.assertEqual(self.jobs.started, ["a", "b"])
        self.jobs.finish("b", "again")
        self.assertEqual(self.successResultOf(d), "again")
        self.assertEqual(len(self.queue), 0)

    def test_jobsOfSynchronousWork(self):
        """
        Work that finishes at once leaves nothing behind.
        """
        for _ in range(3):
            self.successResultOf(self.queue.run("alice", lambda: None))
        self.assertEqual(len(self.queue), 0)


class WaitingTests(QueueTestCase):

    def test_idleWithoutWork(self):
        """
        A key with no work is idle now.
        """
        self.assertIsNone(self.successResultOf(self.queue.idle("alice")))

    def test_idleWaitsForWorkSoFar(self):
        """
        L{KeyedQueue.idle} fires once the jobs queued before it have
        finished, failed ones included, and does not wait for later ones;
        waiting does not make the key busy.
        """
        self.queue.run("alice", self.jobs, "a").addErrback(lambda _: None)
        self.queue.run("alice", self.jobs, "b")
        idle = self.queue.idle("alice")
        self.queue.run("alice", self.jobs, "c")
        self.jobs.fail("a", ValueError())
        self.assertNoResult(idle)
        self.jobs.finish("b")
        self.assertIsNone(self.successResultOf(idle))
        self.assertEqual(self.jobs.started, ["a", "b", "c"])
        self.assertTrue(self.queue.busy("alice"))
        self.jobs.finish("c")
        self.assertFalse(self.queue.busy("alice"))

    def test_idleOnly(self):
        """
        A key whose only pending entry is a wait is not busy.
        """
        self.queue.run("alice", self.jobs, "a")
        idle = self.queue.idle("alice")
        self.jobs.finish("a")
        self.successResultOf(idle)
        self.assertEqual(len(self.queue), 0)

    def test_drain(self):
        """
        L{KeyedQueue.drain} fires once the work queued so far for every key
        has finished.
        """
        self.queue.run("alice", self.jobs, "a")
        self.queue.run("bob", self.jobs, "b")
        drained = self.queue.drain()
        self.queue.run("carol", self.jobs, "c")
        self.jobs.finish("a")
        self.assertNoResult(drained)
        self.jobs.finish("b")
        self.assertIsNone(self.successResultOf(drained))
        self.assertTrue(self.queue.busy("carol"))

    def test_drainNothing(self):
        """
        With no work queued, L{KeyedQueue.drain} fires at once.
        """
        self.assertIsNone(self.successResultOf(self.queue.drain()))
