"""
Assembly of a server from a validated config: storage, router, session
manager, virtual hosts, TLS, and the c2s listeners.

L{Server} holds the long-lived objects and nothing else; L{ServerService}
runs one under a Twisted service hierarchy.  Both can be built in code, so
another Twisted application can embed a server without twistd.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from xmppframe.auth import StorageAuthProvider
from xmppframe.config import validateModuleOptions
from xmppframe.host import VirtualHost
from xmppframe.api.module import ModuleAPI
from xmppframe.modules import availableModules, loadOrder
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.storage import storageFromConfig
from xmppframe.streams.c2s import C2SFactory, FeaturesCache, directTLSFactory
from xmppframe.streams.component import ComponentFactory, ComponentRegistry
from xmppframe.streams.context import StreamContext
from xmppframe.streams.negotiation import BindResponder, SASLResponder, StartTLSResponder
from xmppframe.streams.s2smanager import S2SManager
from xmppframe.streams.throttle import AuthFailureThrottle
from xmppframe.streams.tls import ServerTLSContext, ensureHostCertificate
from xmppframe.streams.write import WriteCoalescer


class Server:
    """
    The objects of one running server.

    @ivar config: the L{xmppframe.config.Config}.
    @ivar router: the L{xmppframe.interfaces.IRouter}.
    @ivar sessions: the L{xmppframe.interfaces.ISessionManager}.
    @ivar hosts: domain -> L{VirtualHost}.
    @ivar context: the L{StreamContext}: all that the streams (c2s, s2s,
        components) see of the server.
    @ivar streams: every open stream, bound or not (for shutdown).
    """

    _log = Logger()

    def __init__(self, config, reactor, storage=None):
        self.config = config
        self.reactor = reactor
        self.storage = storage if storage is not None else storageFromConfig(
            config.storage.driver, config.storage.path, reactor=reactor)
        self.sessions = SessionManager()
        self.router = Router(self.sessions, deliverToAllOfEqualPriority=(
            config.routing.deliver_to_all_of_equal_priority))
        self.hosts = {}
        for hostConfig in config.hosts:
            auth = StorageAuthProvider(self.storage, hostConfig.name,
                                       config.auth.scram_iterations, reactor=reactor)
            host = VirtualHost(hostConfig, auth, self.storage)
            self.hosts[host.name] = host
            self.router.addHost(host)
        self.defaultHost = self.hosts[config.hosts[0].name]
        #: The external components of C{[components]} (XEP-0114).
        self.components = ComponentRegistry(
            self.router, config.components.secrets, self.hosts)
        self.context = StreamContext(
            reactor=reactor, router=self.router, sessions=self.sessions,
            hosts=self.hosts, defaultHost=self.defaultHost,
            c2sConfig=config.c2s, s2sConfig=config.s2s,
            componentsConfig=config.components, dataDir=config.data_dir,
            responders=(StartTLSResponder(), SASLResponder(), BindResponder()),
            # Client streams' features, by what they depend on.
            featuresCache=FeaturesCache(),
            authThrottle=AuthFailureThrottle(
                reactor, config.auth.failure_delay, config.auth.failure_delay_max),
            # Batches each connection's stanzas of a reactor turn into one write.
            writes=WriteCoalescer(reactor),
            components=self.components)
        self.streams = self.context.streams
        #: Federation (RFC 6120 s2s streams): the router's way to other domains.
        self.s2s = S2SManager(self.context)
        self.router.remote = self.s2s
        #: name -> L{IModuleFactory} given in code (embedding, tests),
        #: added to the installed module plugins by L{loadModules}.
        self.extraModules = {}

    def prepareTLS(self):
        """
        Load each host's certificate, generating a self-signed one into the
        data directory for hosts that have none configured.
        """
        certificates = {}
        for name, host in self.hosts.items():
            certPath, keyPath, generated = ensureHostCertificate(
                name, host.config.certificate or None, host.config.key or None,
                self.config.data_dir)
            if generated:
                self._log.warn(
                    "Generated a self-signed certificate for {host} at {path}; "
                    "clients will not trust it: configure a real one",
                    host=name, path=certPath)
            certificates[name] = (certPath, keyPath)
        self.context.tlsContext = ServerTLSContext(certificates, self.defaultHost.name)
        self.s2s.prepareTLS(certificates, self.defaultHost.name)

    async def loadModules(self, factories=None):
        """
        Load each host's configured modules, dependencies first.

        @param factories: name -> L{IModuleFactory}; the installed module
            plugins by default.
        """
        if factories is None:
            factories = availableModules()
            factories.update(self.extraModules)
        for host in self.hosts.values():
            for name in loadOrder(host.config.modules, factories):
                options = validateModuleOptions(
                    self.config, host.name, name, getattr(factories[name], "optionSchema", {}))
                api = ModuleAPI(name, host, self.router, self.sessions,
                                self.storage, self.reactor, options)
                module = factories[name](api)
                await defer.maybeDeferred(module.load)
                host.modules[name] = module

    async def unloadModules(self):
        for host in self.hosts.values():
            for name in reversed(list(host.modules)):
                await defer.maybeDeferred(host.modules.pop(name).unload)

    def hostFor(self, domain):
        """
        The host serving C{domain} as a client wrote it in a stream header.
        """
        return self.context.hostFor(domain)

    def c2sFactory(self):
        return C2SFactory(self.context)

    def componentFactory(self):
        return ComponentFactory(self.context)

    def c2sDirectTLSFactory(self):
        return directTLSFactory(self.context)


class ServerService(Service):
    """
    Runs a L{Server}: opens storage, then listens; on stop, closes every
    stream with C{system-shutdown} (RFC 6120 §4.9.3.21) and closes storage.

    @ivar ports: the listening ports, by kind ('c2s', 'c2s-tls', 's2s', 's2s-tls').
    @ivar ready: a Deferred that fires when the listeners are up.
    """

    _log = Logger()

    def __init__(self, server):
        self.server = server
        self.ports = {}
        self.ready = defer.Deferred()

    def startService(self):
        Service.startService(self)
        d = defer.ensureDeferred(self._start())
        d.addErrback(self._startFailed)

    async def _start(self):
        server = self.server
        server.prepareTLS()
        await server.storage.open()
        await server.loadModules()
        config = server.config.c2s
        reactor = server.reactor
        for kind, descriptions, factory in (
                ("c2s", config.listen, server.c2sFactory()),
                ("c2s-tls", config.listen_tls, server.c2sDirectTLSFactory()),
                # XEP-0114 components: listen only when one is configured.
                ("component", server.config.components.listen
                 if server.components.domains else (), server.componentFactory())):
            for description in descriptions:
                port = await serverFromString(reactor, description).listen(factory)
                self.ports.setdefault(kind, []).append(port)
                address = port.getHost()
                self._log.info("Listening for {kind} on {address}:{port}", kind=kind,
                               address=address.host, port=address.port)
        await self._listenS2S()
        self._log.info("xmppframe serving {hosts}", hosts=", ".join(server.hosts))
        self.ready.callback(self)

    async def _listenS2S(self):
        """
        Federation listeners.  A port that cannot be bound is logged and
        skipped rather than fatal: the clients are still served, and
        outbound federation still works (peers just cannot connect in).
        """
        server = self.server
        config = server.config.s2s
        for kind, descriptions, factory in (
                ("s2s", config.listen, server.s2s.factory()),
                ("s2s-tls", config.listen_tls, server.s2s.directTLSFactory())):
            for description in descriptions:
                try:
                    port = await serverFromString(server.reactor, description).listen(factory)
                except CannotListenError as e:
                    self._log.error("Cannot listen for {kind} on {description}: {error}",
                                    kind=kind, description=description, error=e)
                    continue
                self.ports.setdefault(kind, []).append(port)
                address = port.getHost()
                self._log.info("Listening for {kind} on {address}:{port}", kind=kind,
                               address=address.host, port=address.port)

    def _startFailed(self, failure):
        self._log.error("xmppframe could not start: {error}", error=failure.getErrorMessage())
        if not self.ready.called:
            self.ready.errback(failure)
        else:
            return failure
        if self.server.reactor.running:
            self.server.reactor.stop()

    def port(self, kind="c2s"):
        """
        The TCP port number of the first listener of C{kind}.
        """
        return self.ports[kind][0].getHost().port

    def stopService(self):
        if not self.running:
            return defer.succeed(None)
        Service.stopService(self)
        return defer.ensureDeferred(self._stop())

    async def _stop(self):
        server = self.server
        for ports in self.ports.values():
            for port in ports:
                await port.stopListening()
        self.ports.clear()
        server.s2s.stop()
        for stream in list(server.streams):
            stream.close("system-shutdown", "The server is shutting down")
        for stream in list(server.streams):
            stream.transport.loseConnection()
        await server.unloadModules()
        await server.storage.close()
