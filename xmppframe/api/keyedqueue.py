"""
One serial queue of Deferred work per key (usually an account), so that
the work for one key runs one piece at a time, in the order it was asked
for, while different keys never wait for each other.

Modules need this whenever a change is read-check-write over storage that
may answer later: two roster sets, two private-storage sets, or a message
being stored while stored ones are delivered, must not interleave for one
account, or the second would act on what the first is about to change.

A key's queue exists only while it has work queued or running, so a host
with many idle accounts holds nothing for them.
"""

from twisted.internet import defer

__all__ = ["KeyedQueue"]


def _nothing():
    """
    The work queued to learn when the work before it has finished.
    """


class _Queue:
    """
    The lock of one key, and how many jobs are queued or running on it.
    The count, not the lock's state, says when the key is idle: a job's
    caller is told of its result after the lock has already passed on.
    """

    __slots__ = ("lock", "jobs")

    def __init__(self):
        self.lock = defer.DeferredLock()
        self.jobs = 0


class KeyedQueue:
    """
    Serial queues of work, one per key, each forgotten when it is empty.

    Guarantees:
      - the jobs of one key run one at a time, in the order of L{run};
      - a job that fails (raises, or returns a failing Deferred) does not
        stop the jobs queued after it: its failure goes to its own caller
        only, through the Deferred L{run} returned;
      - a key is forgotten as soon as the last of its jobs has finished,
        before that job's caller sees the result.
    """

    def __init__(self):
        self._queues = {}

    def run(self, key, work, *args, **kwargs):
        """
        Call C{work(*args, **kwargs)} once the jobs already queued for
        C{key} have finished, and hold C{key}'s queue until its result is
        ready.

        @param work: a callable returning a plain value, a Deferred or a
            coroutine (an C{async def} function may be passed as it is).
        @return: a Deferred firing with C{work}'s result or failure.
        """
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
        queue.jobs += 1
        d = queue.lock.run(work, *args, **kwargs)
        d.addBoth(self._finished, key, queue)
        return d

    def _finished(self, result, key, queue):
        queue.jobs -= 1
        if not queue.jobs:
            del self._queues[key]
        return result

    def busy(self, key):
        """
        Whether C{key} has work queued or running.
        """
        return key in self._queues

    def idle(self, key):
        """
        Wait for the work queued for C{key} so far.  Waiting is not work:
        it does not make C{key} busy, and work queued after this call is
        not waited for.

        @return: a Deferred firing with C{None} once every job queued for
            C{key} before this call has finished (successfully or not).
        """
        queue = self._queues.get(key)
        if queue is None:
            return defer.succeed(None)
        return queue.lock.run(_nothing)

    def drain(self):
        """
        Wait for the work queued so far for every key, for instance before
        closing the storage that work writes to.

        @return: a Deferred firing with C{None} once every job queued before
            this call has finished.
        """
        waits = [self.idle(key) for key in list(self._queues)]
        return defer.gatherResults(waits).addCallback(lambda _: None)

    def __len__(self):
        """
        @return: how many keys have work queued or running.
        """
        return len(self._queues)
