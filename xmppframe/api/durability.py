"""
"Answered" means "stored": what a client is told after a stanza it sent
comes only once that stanza's storage writes are committed.

A client that sent messages to an offline contact and then got an answer
to a ping may believe the messages are safe: if the server died between
the answer and the commit, they would be lost although the client was
told something after them (and a stream-management ack, XEP-0198, says so
outright).  So a module that stores a stanza tells the API which write
makes it durable (L{ModuleAPI.durable}), and the sender's session holds
back everything the server would send it from then on, until every such
write has committed.  Processing goes on meanwhile: later stanzas are
routed and their writes queued (the database commits them in order), only
what the sender is told waits.

The hold is one of the session's C{sendFilters}, the same mechanism
client state indication uses, so it needs no table of its own: it lives
on the session while writes are pending and goes with it.
"""

from twisted.logger import Logger

#: Stanzas held for one session at most while its writes are pending;
#: past that (a database that has stopped answering) the session is
#: closed rather than the server's memory growing without bound.
MAX_HELD = 10000


class DurabilityFence:
    """
    A send filter that holds what a session is sent while writes of the
    stanzas it sent are pending.
    """

    _log = Logger()

    def __init__(self, session):
        self.session = session
        self.pending = set()
        self.held = []

    @classmethod
    def of(cls, session):
        """
        The fence of C{session}, put first among its send filters if it has
        none yet; C{None} for a session that cannot hold stanzas back.
        """
        filters = getattr(session, "sendFilters", None)
        if filters is None:
            return None
        for sendFilter in filters:
            if isinstance(sendFilter, cls):
                return sendFilter
        fence = cls(session)
        filters.insert(0, fence)
        return fence

    def add(self, write):
        """
        Hold the session's output until C{write} (a Deferred) has fired,
        however it fires; its result is passed on untouched.
        """
        self.pending.add(write)

        def settled(result):
            self._settled(write)
            return result
        write.addBoth(settled)

    def __call__(self, session, stanza):
        if not self.pending:
            return False
        if len(self.held) >= MAX_HELD:
            self._log.warn("{jid}: {count} stanzas wait for storage; closing the session",
                           jid=session.jid, count=len(self.held))
            session.close("resource-constraint", "Storage is not keeping up")
            return True
        self.held.append(stanza)
        return True

    def _settled(self, write):
        self.pending.discard(write)
        if self.pending:
            return
        filters = self.session.sendFilters
        if filters is not None and self in filters:
            filters.remove(self)
        held, self.held = self.held, []
        for stanza in held:
            self.session.send(stanza)
