"""
Iq requests the server sends, and the answers it waits for.

RFC 6120 §8.2.3: every iq get or set is answered by exactly one result or
error with the same id, from the entity it was sent to.  One tracker per
host remembers what it asked, matches answers by id and by who answers
(an answer from anyone else is not taken, so a client cannot answer for
another), and gives up after a timeout, so that every module that asks a
client or a server something (pings, disco queries for entity
capabilities, roster and privacy pushes) does it the same way.
"""

from copy import deepcopy
import itertools
import secrets

from twisted.internet import defer

from xmppframe.errors import StanzaError
from xmppframe.events import iqResponseEvent
from xmppframe.xml.stanza import makeStanza, stanzaErrorFromElement

from xmppframe.api.priorities import Priority

#: How long a push waits for its answer before forgetting it.
PUSH_TIMEOUT = 60.0


class RequestTimedOut(StanzaError):
    """
    The entity asked did not answer in time.
    """

    def __init__(self, to):
        StanzaError.__init__(self, "remote-server-timeout",
                             text="%s did not answer in time" % (to,))


class _Pending:
    __slots__ = ("to", "deferred", "timer")

    def __init__(self, to, deferred, timer):
        self.to = to
        self.deferred = deferred
        self.timer = timer


class RequestTracker:
    """
    The iq requests of one host that wait for an answer.

    @param sessions: the L{xmppframe.interfaces.ISessionManager}, whose
        bound JIDs are found without preparing their text again (a
        request to each of many clients, such as the ping module's, would
        otherwise run through the router's bounded JID cache).
    """

    def __init__(self, host, router, reactor, sessions=None):
        self._router = router
        self._sessions = sessions
        self._reactor = reactor
        self._pending = {}
        prefix = secrets.token_hex(4)
        self._ids = ("%s-%d" % (prefix, n) for n in itertools.count(1))
        #: Pushes carry ids with this prefix; their answers are absorbed.
        self._pushPrefix = "push-%s-" % (prefix,)
        self._pushes = itertools.count(1)
        self._hooks = [host.events.hook(iqResponseEvent(target), self._onAnswer, Priority.NOTE)
                       for target in ("host", "self", "bare")]

    def __len__(self):
        return len(self._pending)

    def request(self, iq, timeout):
        """
        Route C{iq}, a get or set with 'from' and 'to', and return a
        Deferred of the answer: the result iq, or a L{StanzaError} (the
        error the entity answered with, or L{RequestTimedOut}).  An iq
        without an id is given one.

        @param timeout: seconds to wait, or C{None} for no timer of the
            tracker's: the caller keeps its own deadline and cancels the
            Deferred when it gives up (the ping module, which checks the
            deadlines of all its pings with one timer).
        """
        if iq.get("type") not in ("get", "set"):
            raise ValueError("only an iq get or set is a request")
        if iq.get("to") is None or iq.get("from") is None:
            raise ValueError("a request needs 'to' and 'from'")
        to = self._jid(iq.get("to"))
        sender = self._jid(iq.get("from"))
        id = iq.get("id")
        if id is None:
            id = next(self._ids)
            iq.set("id", id)
        elif id in self._pending:
            raise ValueError("an iq with id %r is already waiting for its answer" % (id,))
        deferred = defer.Deferred(lambda d: self._forget(id))
        timer = None if timeout is None else self._reactor.callLater(
            timeout, self._timedOut, id)
        self._pending[id] = _Pending(to, deferred, timer)
        self._router.route(iq, to, sender)
        return deferred

    def _jid(self, text):
        known = self._sessions.knownJID(text) if self._sessions is not None else None
        return known if known is not None else self._router.jids.parse(text)

    def _forget(self, id):
        pending = self._pending.pop(id, None)
        if pending is not None and pending.timer is not None and pending.timer.active():
            pending.timer.cancel()
        return pending

    def _timedOut(self, id):
        pending = self._pending.pop(id, None)
        if pending is not None:
            pending.deferred.errback(RequestTimedOut(pending.to))

    def push(self, sessions, payload):
        """
        Send an iq set of a copy of C{payload} to each of C{sessions}, the
        bound sessions of one account, with no 'from' (it comes from the
        account's bare JID, RFC 6121 §2.1.6), and absorb their answers.
        """
        for session in sessions:
            iq = makeStanza("iq", to=session.jid.full, type="set",
                            id="%s%d" % (self._pushPrefix, next(self._pushes)))
            iq.append(deepcopy(payload))
            session.send(iq)

    def _onAnswer(self, event):
        id = event.stanza.get("id")
        if id is not None and id.startswith(self._pushPrefix):
            # RFC 6121 §2.1.6: the client answers a push with a result (or
            # an error, which the server SHOULD ignore): either ends here.
            return True if event.sender.bare == event.to.bare else None
        pending = self._pending.get(id)
        if pending is None or not self._answersFor(event.sender, pending.to):
            return None
        self._forget(id)
        stanza = event.stanza
        if stanza.get("type") == "result":
            pending.deferred.callback(stanza)
        else:
            try:
                error = stanzaErrorFromElement(stanza)
            except ValueError:
                error = StanzaError("undefined-condition", text="An error without <error/>")
            pending.deferred.errback(error)
        return True

    @staticmethod
    def _answersFor(sender, to):
        """
        Whether an answer from C{sender} answers a request sent to C{to}:
        the same JID, or, for a request to a bare JID or a domain, one of
        its resources (RFC 6120 §10.5.3.1: the server answers for an
        account, or a client for its bare JID).
        """
        if sender == to:
            return True
        return to.resource is None and sender.bare == to

    def cancelAll(self):
        for hook in self._hooks:
            hook.cancel()
        for id in list(self._pending):
            pending = self._forget(id)
            pending.deferred.errback(StanzaError("service-unavailable", text="shutting down"))
