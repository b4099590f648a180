"""
Retention (XEP-0313 §3.2): the oldest messages are deleted, by age
(C{retention_days}) and by number (C{max_messages}), never leaving holes,
by a periodic cleanup (one timer, every C{cleanup_interval} seconds).
"""

from twisted.internet import defer

__all__ = ["Retention"]

#: Items deleted or read per store call.
_BATCH = 500


class Retention:
    """
    The retention cleanup of one host's archives.

    @param retentionDays: days a message is kept; 0 keeps messages forever.
    @param maxMessages: most messages kept per account; 0: no limit.
    """

    def __init__(self, api, store, retentionDays, maxMessages, interval):
        self.api = api
        self.store = store
        self.retentionDays = retentionDays
        self.maxMessages = maxMessages
        self.interval = interval
        self._timer = None
        self._running = None
        self._started = False

    def start(self):
        """
        Run the cleanup every C{interval} seconds, if anything is limited.
        """
        self._started = True
        if self.retentionDays or self.maxMessages:
            self._schedule()

    def stop(self):
        """
        Stop the timer.

        @return: a Deferred that fires when a cleanup under way is done.
        """
        self._started = False
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._running is None:
            return defer.succeed(None)
        waiting = defer.Deferred()
        self._running.addBoth(lambda result: waiting.callback(None) or result)
        return waiting

    def _schedule(self):
        self._timer = self.api.reactor.callLater(self.interval, self._run)

    def _run(self):
        self._timer = None
        d = self._running = defer.ensureDeferred(self.cleanup())
        d.addErrback(lambda failure: self.api.log.failure("Archive cleanup failed", failure))

        def done(_):
            self._running = None
            if self._started:
                self._schedule()
        d.addCallback(done)

    async def cleanup(self):
        """
        Delete what the retention options no longer keep, oldest first and
        never leaving holes, for every account of the host.

        @return: the number of messages deleted.
        """
        auth = self.api.host.auth
        if auth is None:
            return 0
        deleted = 0
        cutoff = None
        if self.retentionDays:
            cutoff = self.api.reactor.seconds() - self.retentionDays * 86400
        for user in await auth.listUsers():
            if cutoff is not None:
                while True:
                    items = await self.store.query(user, end=cutoff, limit=_BATCH)
                    if not items:
                        break
                    await self.store.delete(user, [item.id for item in items])
                    deleted += len(items)
                    if len(items) < _BATCH:
                        break
            if self.maxMessages:
                excess = await self.store.count(user) - self.maxMessages
                while excess > 0:
                    items = await self.store.query(user, limit=min(excess, _BATCH))
                    if not items:
                        break
                    await self.store.delete(user, [item.id for item in items])
                    deleted += len(items)
                    excess -= len(items)
        return deleted
