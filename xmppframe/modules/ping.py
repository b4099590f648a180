"""
XMPP Ping (XEP-0199), both ways.

The server answers pings.  Clients ping their server to check the
connection (XEP-0199 §4.2), either addressed to the server or to their
own bare JID, which the server answers on the account's behalf; the test
suite also uses the answer to know that everything sent before the ping
has been processed.

The server pings silent clients.  A TCP connection can die without either
end noticing (RFC 6120 §4.6.1), and a live one can carry a broken stream
(§4.6.2).  So a client stream that has received no data for C{interval}
seconds is sent a ping from the server's domain (XEP-0199 §4.1), and if
nothing at all arrives from it within C{timeout} seconds its stream is
closed with a C{connection-timeout} stream error (RFC 6120 §4.6.2,
§4.9.3.4).  What counts as an answer:

  - an iq result, or an iq error: a client that does not support the
    namespace answers C{service-unavailable} (XEP-0199 §4.1), and that
    proves the stream works as well as a pong does;
  - any other data received after the ping: the stream is alive, and
    XEP-0199 §6 warns that some clients never answer unsupported iqs,
    which must not cost them their connection.

RFC 6120 §4.6.4 recommends checks "not more than once every 5 minutes",
hence the default C{interval} of 300 seconds; 0 turns the server's pings
off.

Cost.  There is no timer per connection: one looping call per host scans
the host's bound sessions every C{interval / 2} seconds (so a session is
pinged after between C{interval} and 1.5 x C{interval} of silence) and
compares each session's C{lastActivity} with the clock.  A ping is sent
with C{api.request}, which matches the answer (its id, and that it comes
from the session's own full JID, RFC 6120 §8.2.3), but with no timeout of
its own: outstanding pings are kept in the order they were sent, and as
the timeout is the same for all, that is also the order of their
deadlines, so a single delayed call, set for the oldest one, is all the
timeout checking needs; a ping past its deadline is cancelled.  A timer
per request would put one more delayed call per idle connection in the
reactor, for nothing.  What the request does cost is routing the ping
(the router finds the session) instead of writing it to the session:
measured with 20,000 bound sessions, sending a ping takes about 45 µs
instead of 17 µs, and taking its answer the same (10-15 µs).  At one ping
per idle session per C{interval} that is some 10 ms of CPU a second for
100,000 idle sessions, and it buys the one answer-matching rule every
module shares.
"""

import secrets
from collections import OrderedDict

from twisted.internet.defer import CancelledError
from twisted.internet.task import LoopingCall

from xmppframe.api import SESSION_ENDED, atLeast, Module, ModuleOption
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement, makeStanza

__all__ = ["PingModule", "PING_ID_PREFIX"]

#: The id of every ping the server sends starts with this.
PING_ID_PREFIX = "ping-"

DEFAULT_INTERVAL = 300
DEFAULT_TIMEOUT = 60


def _positive(value):
    if value <= 0:
        return "must be greater than 0, got %s" % (value,)


def _isNumber(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Ping:
    """
    A ping the server sent and awaits an answer to: C{answer} is the
    Deferred of C{api.request}.
    """

    __slots__ = ("session", "sentAt", "deadline", "answer")

    def __init__(self, session, sentAt, deadline):
        self.session = session
        self.sentAt = sentAt
        self.deadline = deadline
        self.answer = None


class PingModule(Module):
    """
    Answers pings to the server, and pings client sessions that have gone
    silent (XEP-0199 §4.1, §4.2).
    """

    name = "ping"
    summary = "the server answers pings, and pings quiet clients"
    xeps = ("XEP-0199",)
    optionSchema = {
        "interval": ModuleOption(
            "number", DEFAULT_INTERVAL, atLeast(0),
            help="Seconds a client may be silent before the server pings it "
                 "(XEP-0199 §4.1); 0 turns server pings off."),
        "timeout": ModuleOption(
            "number", DEFAULT_TIMEOUT, _positive,
            help="Seconds a pinged client has to answer before its stream is "
                 "closed with connection-timeout (RFC 6120 §4.6.2)."),
    }

    def __init__(self, api):
        Module.__init__(self, api)
        # id -> _Ping, oldest first (and so earliest deadline first).
        self._pending = OrderedDict()
        # session -> the id of its outstanding ping.
        self._pingOf = {}
        # session -> when it was first seen or last answered, for sessions
        # that do not tell their lastActivity.
        self._seen = {}
        self._scanner = None
        self._expiry = None

    def load(self):
        self.interval = self.api.options["interval"]
        self.timeout = self.api.options["timeout"]
        self.api.addFeature(NS.PING)
        for target in ("host", "self"):
            # XEP-0199 §4.2: a ping to the server, or to the client's own
            # bare JID which the server answers on the account's behalf.
            self.api.hookIQ("get", target, (NS.PING, "ping"), self.pong)
        if self.interval > 0:
            self.api.hook(SESSION_ENDED, self._forget)
            self._scanner = LoopingCall(self.scan)
            self._scanner.clock = self.api.reactor
            d = self._scanner.start(self.interval / 2.0, now=False)
            d.addErrback(lambda failure: self.api.log.failure(
                "ping: the silence scan stopped", failure))

    def unload(self):
        if self._scanner is not None and self._scanner.running:
            self._scanner.stop()
        self._scanner = None
        if self._expiry is not None and self._expiry.active():
            self._expiry.cancel()
        self._expiry = None
        for ping in list(self._pending.values()):
            ping.answer.cancel()
        self._pending.clear()
        self._pingOf.clear()
        self._seen.clear()
        Module.unload(self)

    # Answering

    def pong(self, event):
        return True

    # Pinging

    @property
    def pending(self):
        """
        How many pings are awaiting an answer.
        """
        return len(self._pending)

    def scan(self):
        """
        Ping every bound client session of this host that has been silent
        for C{interval} seconds and is not already being pinged.
        """
        now = self.api.reactor.seconds()
        host = self.api.host
        for session in self.api.sessions.allSessions():
            if (session.host is not host or session.kind != "c2s"
                    or session in self._pingOf or getattr(session, "closing", False)):
                continue
            if now - self._lastActivity(session, now) >= self.interval:
                self.pingSession(session)

    def pingSession(self, session):
        """
        Send C{session} a ping from the server (XEP-0199 §4.1) now; its
        stream is closed if nothing arrives from it within C{timeout}.
        """
        if session in self._pingOf:
            return
        now = self.api.reactor.seconds()
        id = PING_ID_PREFIX + secrets.token_hex(8)
        while id in self._pending:
            id = PING_ID_PREFIX + secrets.token_hex(8)
        stanza = makeStanza("iq", to=session.jid.full, from_=self.api.host.name,
                            type="get", id=id)
        stanza.append(makeElement(NS.PING, "ping"))
        ping = self._pending[id] = _Ping(session, now, now + self.timeout)
        self._pingOf[session] = id
        # No timeout of the request's own: see "Cost" above.
        ping.answer = self.api.request(stanza, None)
        ping.answer.addCallbacks(self._answered, self._notAnswered,
                                 callbackArgs=(session,), errbackArgs=(session,))
        ping.answer.addErrback(lambda failure: self.api.log.failure(
            "ping: taking the answer of {jid} failed", failure, jid=session.jid))
        self._scheduleExpiry()

    def _lastActivity(self, session, now):
        last = getattr(session, "lastActivity", None)
        if last is None:
            last = self._seen.setdefault(session, now)
        return last

    def _answered(self, result, session):
        """
        A result from the pinged session ends the wait (XEP-0199 §4.1).
        """
        self._done(session)
        if getattr(session, "lastActivity", None) is None:
            self._seen[session] = self.api.reactor.seconds()

    def _notAnswered(self, failure, session):
        """
        An error answer ends the wait as well as a result does (a client
        without ping support says service-unavailable, §4.1); a
        cancelled ping (past its deadline, or its session gone) is
        already forgotten.
        """
        if failure.check(CancelledError):
            return None
        failure.trap(StanzaError)
        self._answered(None, session)

    def _done(self, session):
        """
        Forget the ping of C{session}; @return: it, or C{None}.
        """
        id = self._pingOf.pop(session, None)
        if id is not None:
            return self._pending.pop(id)
        return None

    def _forget(self, session):
        """
        C{SESSION_ENDED}: nothing more to wait for from C{session}.
        """
        ping = self._done(session)
        if ping is not None:
            ping.answer.cancel()
        self._seen.pop(session, None)

    # Timeouts

    def _scheduleExpiry(self):
        if not self._pending or (self._expiry is not None and self._expiry.active()):
            return
        first = next(iter(self._pending.values()))
        delay = max(0.0, first.deadline - self.api.reactor.seconds())
        self._expiry = self.api.reactor.callLater(delay, self._expire)

    def _expire(self):
        """
        Close the streams of the sessions whose pings are past their
        deadline with nothing received since (RFC 6120 §4.6.2).
        """
        self._expiry = None
        now = self.api.reactor.seconds()
        while self._pending:
            id, ping = next(iter(self._pending.items()))
            if ping.deadline > now:
                break
            session = ping.session
            self._done(session)
            ping.answer.cancel()
            last = getattr(session, "lastActivity", None)
            if last is not None and last > ping.sentAt:
                continue
            self.api.log.debug("ping: {jid} did not answer within {timeout} s",
                               jid=session.jid, timeout=self.timeout)
            try:
                session.close("connection-timeout", "No answer to ping (XEP-0199)")
            except Exception:
                self.api.log.failure("ping: closing {jid} failed", jid=session.jid)
        self._scheduleExpiry()
