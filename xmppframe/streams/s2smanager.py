"""
Federation: the object the router hands stanzas for other domains to
(C{router.remote}), and the keeper of the s2s streams.

One outbound stream per (local domain, remote domain) pair, except that a
stream authenticated by dialback also carries the other local domains'
stanzas to the same remote domain, each pair added with a dialback request
of its own (XEP-0220 "Multiplexing Sender Domains").  While a stream is
being set up, stanzas wait in a bounded queue; when the peer cannot be
reached, times out or refuses us, each waiting stanza is bounced to its
sender (RFC 6120 §8.3.3.13 remote-server-not-found, §8.3.3.14
remote-server-timeout), and errors are never answered with errors
(§8.3.1).  A failed pair is not retried until a back-off delay has passed;
stanzas for it are bounced at once meanwhile.

The texts of those bounces are read by people, in their clients: they say
what happened in words ("could not connect to conference.example"); the
technical reason (an errno, a DNS error) goes to the server's log.  With
C{[s2s] enabled = false} every stanza for another domain bounces at once
with C{remote-server-not-found}, without a DNS lookup or a connection.
"""

from collections import deque

from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint, clientFromString, wrapClientTLS
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from xmppframe.errors import StanzaError
from xmppframe.jid import InvalidJID
from xmppframe.streams.dialback import loadSecret
from xmppframe.streams.resolve import resolveServer, splitRoute
from xmppframe.streams.s2s import (
    CertificateVerifier, S2SClientTLSCreator, S2SFactory, S2SOutStream, S2SServerTLSContext,
    s2sDirectTLSFactory, toClientNamespace, toServerNamespace)
from xmppframe.xml.stanza import errorReply, isError

__all__ = ["S2SManager", "DialbackVerificationFailed"]

#: Back-off after a failed connection: first delay and ceiling, seconds.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


class DialbackVerificationFailed(Exception):
    """
    The authoritative server could not be asked (XEP-0220 §2.4 'error').
    """


class _Unreachable(ConnectionError):
    """
    No connection to a remote domain could be made.

    @ivar text: what to tell the senders whose stanzas bounce.
    @ivar reason: the technical cause, for the log.
    """

    def __init__(self, text, reason):
        ConnectionError.__init__(self, text)
        self.text = text
        self.reason = reason


def _reason(error):
    """
    The technical cause of a failed connection, for the log.
    """
    if isinstance(error, _Unreachable):
        return "%s: %s" % (error.text, error.reason)
    return str(error) or type(error).__name__


def _textFor(error, remote):
    """
    What a sender is told when a connection to C{remote} failed with
    C{error}: words, never an errno string.
    """
    if isinstance(error, _Unreachable):
        return error.text
    return "could not connect to %s" % (remote,)


class _Route:
    """
    The outbound state of one (local, remote) domain pair.
    """

    def __init__(self, local, remote):
        self.local = local
        self.remote = remote
        self.queue = deque()
        self.stream = None
        self.connecting = False
        self.attempt = None
        self.timeout = None
        self.idleTimer = None
        self.lastUsed = 0.0
        self.failures = 0
        self.retryAt = 0.0
        self.lastCondition = "remote-server-not-found"


class _OutFactory(Factory):
    noisy = False

    def __init__(self, build):
        self._build = build

    def buildProtocol(self, addr):
        return self._build()


class S2SManager:
    """
    Federation for one server, seen through its
    L{xmppframe.streams.context.StreamContext}.

    @ivar routes: remote domain -> client endpoint description; starts as
        the config's C{[s2s.routes]}, and may be changed (tests point it at
        a peer's ephemeral port).
    @ivar secret: the dialback secret (XEP-0220 §2.4).
    @ivar verifier: the L{CertificateVerifier} for peers' certificates.
    @ivar serverTLS: the receiving side's TLS context (set by L{prepareTLS}).

    @ivar context: the L{xmppframe.streams.context.StreamContext}: the
        manager and its streams see nothing else of the server.

    @param resolver: an C{IResolver} for SRV lookups (Twisted's by default).
    """

    _log = Logger()

    def __init__(self, context, resolver=None):
        self.context = context
        self.config = context.s2sConfig
        self.reactor = context.reactor
        self.router = context.router
        self.resolver = resolver
        self.routes = dict(self.config.routes)
        self.verifier = CertificateVerifier(self.config.ca_file)
        self._secret = None
        self.serverTLS = None
        self._certificates = {}
        self._routes = {}
        self._verifications = {}
        self._stopped = False

    @property
    def secret(self):
        if self._secret is None:
            self._secret = loadSecret(self.config.dialback_secret, self.context.dataDir)
        return self._secret

    def prepareTLS(self, certificates, defaultName):
        """
        @param certificates: host name -> C{(certPath, keyPath)}, as the
            server loaded them.
        """
        self._certificates = dict(certificates)
        self.serverTLS = S2SServerTLSContext(certificates, defaultName)

    def updateCertificates(self, certificates, defaultName):
        """
        New certificates for the connections made from now on, both ways
        (a configuration reload); nothing changes when one does not load.
        """
        self.serverTLS.replace(certificates, defaultName)
        self._certificates = dict(certificates)

    def certificates(self):
        """
        Host name -> C{(certPath, keyPath)} in use.
        """
        return dict(self._certificates)

    def factory(self):
        return S2SFactory(self)

    def directTLSFactory(self):
        return s2sDirectTLSFactory(self)

    # Outbound: IRouter.remote

    def route(self, stanza, to):
        """
        Send C{stanza} (C{jabber:client}, owned by the router) to the
        remote domain of C{to}.
        """
        if not self.config.enabled:
            self._bounce(toServerNamespace(stanza), "remote-server-not-found",
                         "%s is on another server, and this server does not exchange "
                         "messages with other servers" % (to.domain,))
            return
        local = self._localDomainOf(stanza)
        if local is None:
            self._log.info("Dropped a stanza for {to} from no local domain", to=to)
            return
        route = self._routes.get((local, to.domain))
        if route is None:
            route = self._routes[(local, to.domain)] = _Route(local, to.domain)
        converted = toServerNamespace(stanza)
        stream = route.stream
        if stream is not None and stream.ready and not stream.closing and not route.connecting:
            route.lastUsed = self.reactor.seconds()
            stream.sendServerStanza(converted)
            return
        if not route.connecting and self.reactor.seconds() < route.retryAt:
            self._bounce(converted, route.lastCondition,
                         "could not connect to %s a moment ago; not retrying yet" % (to.domain,))
            return
        if len(route.queue) >= self.config.queue_size:
            self._bounce(converted, "resource-constraint",
                         "too many messages are waiting for %s" % (to.domain,))
            return
        route.queue.append(converted)
        if not route.connecting:
            self._connect(route)

    def _localDomainOf(self, stanza):
        sender = stanza.get("from")
        try:
            domain = self.router.jids.parse(sender).domain if sender else None
        except InvalidJID:
            domain = None
        if domain is not None and self.context.hostFor(domain) is not None:
            return domain
        return None

    def _connect(self, route):
        route.connecting = True
        route.timeout = self.reactor.callLater(
            self.config.connect_timeout, self._timedOut, route)
        shared = self._multiplexable(route)
        if shared is not None:
            route.stream = shared
            shared.routes[route.local] = route
            shared.requestDialback(route.local)
            return

        def build(directTLS):
            stream = S2SOutStream(self, route.local, route.remote, directTLS=directTLS,
                                  clientTLS=self._clientTLS(route.local, route.remote))
            stream.route = route
            stream.routes[route.local] = route
            route.stream = stream
            return stream

        route.attempt = defer.ensureDeferred(self._open(route.remote, build, route.local))
        route.attempt.addErrback(self._connectFailed, route)

    def _multiplexable(self, route):
        """
        An outbound stream to C{route.remote} that was opened for another
        local domain and may take C{route.local} as well, or C{None}.
        """
        for other in self._routes.values():
            stream = other.stream
            if (other is not route and other.remote == route.remote and stream is not None
                    and getattr(stream, "route", None) is other
                    and route.local not in getattr(stream, "routes", {route.local: None})
                    and getattr(stream, "canMultiplex", lambda: False)()):
                return stream
        return None

    def _clientTLS(self, local, remote):
        certPath, keyPath = self._certificates.get(local, (None, None))
        return S2SClientTLSCreator(remote, certPath, keyPath)

    async def _open(self, remote, build, local=None):
        """
        Connect to C{remote}: its static route, else each DNS target in
        turn (RFC 6120 §3.2).  C{build(directTLS)} makes the protocol.
        With Direct TLS (XEP-0368), C{local}'s certificate is the client
        certificate, as it is after STARTTLS.

        @raise ConnectionError: nothing could be reached.
        """
        description = self.routes.get(remote)
        if description is not None:
            description, directTLS = splitRoute(description)
            endpoint = clientFromString(self.reactor, description)
            if directTLS:
                endpoint = wrapClientTLS(self._clientTLS(local, remote), endpoint)
            return await endpoint.connect(_OutFactory(lambda: build(directTLS)))
        targets = await resolveServer(remote, self.resolver)
        if not targets:
            raise _Unreachable("%s has no XMPP service" % (remote,),
                               "its DNS says it offers none")
        lastError = None
        for target in targets:
            endpoint = HostnameEndpoint(self.reactor, target.host, target.port,
                                        timeout=self.config.connect_timeout)
            if target.directTLS:
                endpoint = wrapClientTLS(self._clientTLS(local, remote), endpoint)
            try:
                return await endpoint.connect(_OutFactory(lambda t=target: build(t.directTLS)))
            except defer.CancelledError:
                raise
            except Exception as e:
                lastError = e
                self._log.info("s2s: cannot connect to {host}:{port} for {domain}: {error}",
                               host=target.host, port=target.port, domain=remote, error=e)
        raise _Unreachable("could not connect to %s" % (remote,), lastError)

    def _connectFailed(self, failure, route):
        if failure.check(defer.CancelledError):
            return None
        self._log.info("s2s: cannot reach {domain}: {error}", domain=route.remote,
                       error=_reason(failure.value))
        self._failRoute(route, "remote-server-not-found", _textFor(failure.value, route.remote))
        return None

    def _timedOut(self, route):
        route.timeout = None
        self._log.info("s2s: {domain} did not answer within {seconds}s", domain=route.remote,
                       seconds=self.config.connect_timeout)
        stream = route.stream
        if stream is not None and getattr(stream, "route", route) is not route:
            # A multiplexed pair: give up on it, not on the shared stream.
            stream.routes.pop(route.local, None)
            self._failRoute(route, "remote-server-timeout",
                            "%s did not answer in time" % (route.remote,))
            return
        self._failRoute(route, "remote-server-timeout",
                        "%s did not answer in time" % (route.remote,))
        if route.attempt is not None and not route.attempt.called:
            route.attempt.cancel()
        if stream is not None and stream.transport is not None:
            stream.closing = True
            stream.transport.abortConnection()

    def _failRoute(self, route, condition, text):
        """
        Give up on the current attempt: bounce every queued stanza, and
        back off before the next one.
        """
        if not route.connecting:
            return
        route.connecting = False
        if route.timeout is not None and route.timeout.active():
            route.timeout.cancel()
        route.timeout = None
        route.stream = None
        route.failures += 1
        route.lastCondition = condition
        delay = min(BACKOFF_FIRST * 2 ** (route.failures - 1), BACKOFF_MAX)
        route.retryAt = self.reactor.seconds() + delay
        queued, route.queue = route.queue, deque()
        for stanza in queued:
            self._bounce(stanza, condition, text)

    def _bounce(self, serverStanza, condition, text):
        """
        Answer a stanza that could not go out with C{condition}, routed to
        its (local) sender; never for an error (RFC 6120 §8.3.1 rule 8).
        """
        if isError(serverStanza):
            return
        reply = errorReply(toClientNamespace(serverStanza), StanzaError(condition, text=text))
        if reply.get("to") is None or reply.get("from") is None:
            return
        self.router.route(reply)

    # Callbacks from outbound streams

    def _routesOf(self, stream):
        """
        The routes C{stream} carries or is being set up for.
        """
        routes = list(getattr(stream, "routes", {}).values())
        first = getattr(stream, "route", None)
        if first is not None and first not in routes:
            routes.insert(0, first)
        return routes

    def outboundReady(self, stream, local=None):
        """
        C{stream} is authenticated for the pair of C{local} (by default
        the domain it was opened for): send what waits.
        """
        if local is None:
            route = getattr(stream, "route", None)
        else:
            route = getattr(stream, "routes", {}).get(local)
        if route is None:
            return
        route.stream = stream
        route.connecting = False
        route.failures = 0
        route.retryAt = 0.0
        if route.timeout is not None and route.timeout.active():
            route.timeout.cancel()
        route.timeout = None
        route.lastUsed = self.reactor.seconds()
        queued, route.queue = route.queue, deque()
        for stanza in queued:
            stream.sendServerStanza(stanza)
        self._scheduleIdle(route)

    def multiplexFailed(self, stream, local, text):
        """
        The peer did not accept C{local} on the shared C{stream}: bounce
        what waits for that pair (the stream goes on for the others).
        """
        route = stream.routes.pop(local, None)
        if route is not None and route.stream is stream:
            self._failRoute(route, "remote-server-not-found", text)

    def outboundFailed(self, stream, condition, text):
        route = getattr(stream, "route", None)
        if route is not None and route.stream is stream:
            self._failRoute(route, condition, text)
        verification = self._verifications.pop(stream, None)
        if verification is not None:
            verification.errback(DialbackVerificationFailed(text))

    def outboundLost(self, stream):
        for route in self._routesOf(stream):
            if route.stream is not stream:
                continue
            if route.connecting:
                self._failRoute(route, "remote-server-not-found",
                                "the connection to %s closed while it was being set up"
                                % (route.remote,))
            route.stream = None
            if route.idleTimer is not None and route.idleTimer.active():
                route.idleTimer.cancel()
            route.idleTimer = None
            if not route.queue and not route.connecting:
                self._routes.pop((route.local, route.remote), None)
        verification = self._verifications.pop(stream, None)
        if verification is not None:
            verification.errback(DialbackVerificationFailed(
                "The authoritative server closed the connection"))

    def _scheduleIdle(self, route):
        idle = self.config.idle_timeout
        if idle <= 0:
            return

        def check():
            route.idleTimer = None
            stream = route.stream
            if stream is None or stream.closing:
                return
            # A shared stream is idle only when none of its pairs is used.
            lastUsed = max([route.lastUsed] + [other.lastUsed for other in self._routesOf(stream)
                                               if other.stream is stream])
            remaining = lastUsed + idle - self.reactor.seconds()
            if remaining > 0:
                route.idleTimer = self.reactor.callLater(remaining, check)
            else:
                self._log.info("s2s-out {remote} idle, closing", remote=route.remote)
                stream.close()

        route.idleTimer = self.reactor.callLater(idle, check)

    # Dialback verification (receiving server's side)

    def verifyDialback(self, receiving, originating, streamID, key):
        """
        Ask the authoritative server of C{originating} whether C{key} is
        its key for our stream C{streamID} (XEP-0220 §2.1.2, over a
        separate connection).

        @return: a Deferred firing C{True}/C{False}, or failing with
            L{DialbackVerificationFailed}.
        """
        result = defer.Deferred()
        holder = {}

        def build(directTLS):
            stream = S2SOutStream(self, receiving, originating, directTLS=directTLS,
                                  verify=(streamID, key),
                                  clientTLS=self._clientTLS(receiving, originating))
            holder["stream"] = stream
            self._verifications[stream] = result
            return stream

        attempt = defer.ensureDeferred(self._open(originating, build, receiving))
        timer = self.reactor.callLater(self.config.connect_timeout, self._verifyTimedOut,
                                       result, attempt, holder)

        def connectFailed(failure):
            if failure.check(defer.CancelledError):
                return None
            if not result.called:
                result.errback(DialbackVerificationFailed(failure.getErrorMessage()))
            return None

        attempt.addErrback(connectFailed)

        def done(value):
            if timer.active():
                timer.cancel()
            return value

        result.addBoth(done)
        return result

    def _verifyTimedOut(self, result, attempt, holder):
        if not attempt.called:
            attempt.cancel()
        stream = holder.get("stream")
        if stream is not None:
            self._verifications.pop(stream, None)
            if stream.transport is not None:
                stream.closing = True
                stream.transport.abortConnection()
        if not result.called:
            result.errback(DialbackVerificationFailed("The authoritative server did not answer"))

    def verifyAnswered(self, stream, valid):
        result = self._verifications.pop(stream, None)
        if result is not None and not result.called:
            result.callback(valid)

    # Inbound

    def received(self, stream, stanza):
        """
        A stanza (already C{jabber:client}, addresses checked) from an
        authenticated inbound stream: route it as the server's own, its
        'from' being vouched for by the stream's authentication.
        """
        try:
            self.router.route(stanza)
        except Exception:
            self._log.failure("Routing a stanza from {peer} failed", peer=stream.peerHost)

    # Lifecycle

    def stop(self):
        """
        Cancel timers and pending attempts, bouncing what waits (the
        server is shutting down).
        """
        self._stopped = True
        for route in list(self._routes.values()):
            if route.idleTimer is not None and route.idleTimer.active():
                route.idleTimer.cancel()
            route.idleTimer = None
            if route.connecting:
                self._failRoute(route, "remote-server-timeout", "The server is shutting down")
            if route.attempt is not None and not route.attempt.called:
                route.attempt.cancel()
        for stream, result in list(self._verifications.items()):
            if not result.called:
                result.errback(DialbackVerificationFailed("The server is shutting down"))
        self._verifications.clear()

    def outboundStreams(self):
        """
        The open outbound streams, for inspection, each once however
        many domain pairs it carries.
        """
        streams = []
        for route in self._routes.values():
            if route.stream is not None and route.stream not in streams:
                streams.append(route.stream)
        return streams
