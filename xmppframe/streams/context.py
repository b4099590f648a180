"""
What the server's streams may use of the server: one L{StreamContext},
built by the assembly (L{xmppframe.server.Server}) and shared by every
listener's factory and every stream it makes.

A stream sees the router, the session table, the hosts, its part of the
config, the TLS context, the shared write batcher and the login throttle,
and nothing else of the server: not its storage, not its modules, not the
other kinds of stream.  So a stream can be built in a test from a context
of fakes, and what a stream depends on is written down here, in one place.

A stream reads what it uses on its stanza path (the router, the write
batcher) into attributes of its own when it is made: nothing is looked up
through the context per stanza.
"""

from xmppframe.jid import InvalidJID, prepareDomainpart

__all__ = ["StreamContext"]


class StreamContext:
    """
    The server as its streams see it.

    @ivar reactor: the reactor the streams' timers run on.
    @ivar router: the L{xmppframe.interfaces.IRouter}: c2s streams hand it
        their clients' stanzas (C{process}); s2s and component streams route
        what their authenticated peers send (C{route}); every stream parses
        the addresses it checks with its C{jids}.
    @ivar sessions: the L{xmppframe.interfaces.ISessionManager} that c2s
        streams bind their resources in and unbind from when they end.
    @ivar hosts: domain -> L{xmppframe.host.VirtualHost}, the served
        domains (see L{hostFor}).
    @ivar defaultHost: the host that speaks for a stream whose header names
        none, or names one not served (the first configured host).
    @ivar c2sConfig: the L{xmppframe.config.C2SConfig}: client streams'
        limits and timeouts (component streams share the stanza size,
        pending-bytes and close-grace limits).
    @ivar s2sConfig: the L{xmppframe.config.S2SConfig}: federation's limits,
        timeouts, routes, trust store and dialback secret.
    @ivar componentsConfig: the L{xmppframe.config.ComponentsConfig}.
    @ivar dataDir: the data directory, where the dialback secret is kept
        when none is configured.
    @ivar tlsContext: the receiving side's TLS context for client streams
        (a L{xmppframe.streams.tls.ServerTLSContext}), or C{None} until the
        server has loaded its certificates: STARTTLS is offered only with
        one.
    @ivar responders: the core c2s stream feature responders (STARTTLS,
        SASL, bind), offered before each host's own.
    @ivar featuresCache: the L{xmppframe.streams.c2s.FeaturesCache} of
        client streams' serialized features.
    @ivar authThrottle: the L{xmppframe.streams.throttle.AuthFailureThrottle}
        that slows down failed logins from one address.
    @ivar writes: the L{xmppframe.streams.write.WriteCoalescer} that batches
        every stream's stanzas of a reactor turn into one write.
    @ivar components: the L{xmppframe.streams.component.ComponentRegistry}
        of the configured external components.
    @ivar streams: every open stream, negotiated or not, of every kind: the
        server closes them on shutdown.
    """

    def __init__(self, reactor, router, sessions, hosts, defaultHost, c2sConfig,
                 s2sConfig, componentsConfig, dataDir, responders, featuresCache,
                 authThrottle, writes, components=None, tlsContext=None):
        self.reactor = reactor
        self.router = router
        self.sessions = sessions
        self.hosts = hosts
        self.defaultHost = defaultHost
        self.c2sConfig = c2sConfig
        self.s2sConfig = s2sConfig
        self.componentsConfig = componentsConfig
        self.dataDir = dataDir
        self.responders = responders
        self.featuresCache = featuresCache
        self.authThrottle = authThrottle
        self.writes = writes
        self.components = components
        self.tlsContext = tlsContext
        self.streams = set()

    def hostFor(self, domain):
        """
        The host serving C{domain} as a peer wrote it in a stream header
        (prepared here when it is not already in its prepared form), or
        C{None} when no host serves it.
        """
        host = self.hosts.get(domain)
        if host is not None:
            return host
        try:
            return self.hosts.get(prepareDomainpart(domain))
        except InvalidJID:
            return None

    def streamStarted(self, stream):
        """
        C{stream} has started reading: it is closed on shutdown.
        """
        self.streams.add(stream)

    def streamEnded(self, stream):
        """
        C{stream}'s connection is gone.
        """
        self.streams.discard(stream)
