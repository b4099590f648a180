"""
Assembly of a server from a validated config: storage, router, session
manager, virtual hosts, TLS, and the c2s listeners.

L{Server} holds the long-lived objects and nothing else; L{ServerService}
runs one under a Twisted service hierarchy.  Both can be built in code, so
another Twisted application can embed a server without twistd.
"""

import errno
import json
import os
import re
import socket

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from xmppframe.auth import StorageAuthProvider
from xmppframe.config import ConfigError, validateModuleOptions
from xmppframe.host import VirtualHost
from xmppframe.installation import keepsDatabaseFile, recordDatabase
from xmppframe.api.module import ModuleAPI
from xmppframe.moduleloader import availableModules, loadOrder
from xmppframe.preflight import preflight
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.storage import StorageError, storageFromConfig
from xmppframe.streams.c2s import C2SFactory, FeaturesCache, directTLSFactory
from xmppframe.streams.component import ComponentFactory, ComponentRegistry
from xmppframe.streams.context import StreamContext
from xmppframe.streams.negotiation import BindResponder, SASLResponder, StartTLSResponder
from xmppframe.streams.s2smanager import S2SManager
from xmppframe.streams.throttle import AuthFailureThrottle
from xmppframe.streams.tls import ServerTLSContext, ensureHostCertificate
from xmppframe.streams.write import WriteCoalescer


class StartError(Exception):
    """
    The server cannot start; C{str()} of it is one line that names the
    configuration key at fault and says why.
    """


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
            factories = self.moduleFactories()
        for host in self.hosts.values():
            for name in loadOrder(host.config.modules, factories):
                options = validateModuleOptions(
                    self.config, host.name, name, getattr(factories[name], "optionSchema", {}))
                api = ModuleAPI(name, host, self.router, self.sessions,
                                self.storage, self.reactor, options)
                module = factories[name](api)
                await defer.maybeDeferred(module.load)
                host.modules[name] = module

    def moduleFactories(self):
        """
        @return: name -> L{IModuleFactory}: the installed module plugins and
            L{extraModules}.
        """
        factories = availableModules()
        factories.update(self.extraModules)
        return factories

    def preflight(self):
        """
        Check that this server's configuration can be served here
        (L{xmppframe.preflight}): data directory, certificates, modules.

        @raise ConfigError: one line naming every key at fault.
        """
        preflight(self.config, self.moduleFactories())

    async def openStorage(self):
        """
        Open storage; once the configured database file is open, record
        it in the data directory (L{xmppframe.installation}), so that a
        later start refuses to make a new one in its place.

        @raise StartError: naming C{storage.path} when it cannot be opened.
        """
        try:
            await self.storage.open()
        except StorageError as e:
            if keepsDatabaseFile(self.config):
                raise StartError("storage.path: %s" % (e,))
            raise
        if getattr(self.storage, "path", None) == self.config.storage.path:
            recordDatabase(self.config, created=getattr(self.storage, "created", False))

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
        server.preflight()
        server.prepareTLS()
        await server.openStorage()
        await server.loadModules()
        config = server.config
        listeners = [
            ("c2s", "c2s.listen", config.c2s.listen, server.c2sFactory(),
             config.c2s.listen_optional),
            ("c2s-tls", "c2s.listen_tls", config.c2s.listen_tls, server.c2sDirectTLSFactory(),
             config.c2s.listen_optional),
        ]
        if server.components.domains:
            # XEP-0114 components: listen only when one is configured.
            listeners.append(("component", "components.listen", config.components.listen,
                              server.componentFactory(), config.components.listen_optional))
        if config.s2s.enabled:
            listeners += [
                ("s2s", "s2s.listen", config.s2s.listen, server.s2s.factory(),
                 config.s2s.listen_optional),
                ("s2s-tls", "s2s.listen_tls", config.s2s.listen_tls,
                 server.s2s.directTLSFactory(), config.s2s.listen_optional)]
        else:
            self._log.info("Federation is disabled ([s2s] enabled = false)")
        for kind, key, descriptions, factory, optional in listeners:
            for index, description in enumerate(descriptions):
                await self._listen(kind, "%s[%d]" % (key, index), description, factory,
                                   optional)
        self._log.info("xmppframe serving {hosts}", hosts=", ".join(server.hosts))
        self.ready.callback(self)

    async def _listen(self, kind, key, description, factory, optional):
        """
        Open one listener.  One that cannot be opened stops the start,
        unless its section says C{listen_optional = true}: then it is
        logged and skipped.

        @param key: the configuration key of C{description}, for messages.
        @raise StartError: naming C{key} and saying why.
        """
        reactor = self.server.reactor
        try:
            try:
                port = await serverFromString(reactor, description).listen(factory)
            except CannotListenError as e:
                fallback = _ipv4Fallback(description, e)
                if fallback is None:
                    raise
                self._log.warn(
                    "{key}: IPv6 is not available on this system; listening for {kind} on "
                    "IPv4 only ({fallback})", key=key, kind=kind, fallback=fallback)
                port = await serverFromString(reactor, fallback).listen(factory)
        except CannotListenError as e:
            message = "%s: cannot listen on %s: %s" % (key, json.dumps(description),
                                                       whyNotListening(e))
            if not optional:
                raise StartError(message)
            self._log.warn("{message} (skipped: listen_optional is true)", message=message)
            return
        self.ports.setdefault(kind, []).append(port)
        address = port.getHost()
        self._log.info("Listening for {kind} on {address}:{port}", kind=kind,
                       address=address.host, port=address.port)
        if getattr(address, "host", None) == "::" and _ipv6Only(port):
            self._log.warn(
                "{key}: this system makes IPv6 sockets IPv6-only (net.ipv6.bindv6only), "
                "so IPv4 clients cannot connect on port {port}: add a listener such as "
                "\"tcp:{port}\"", key=key, port=address.port)

    def _startFailed(self, failure):
        """
        Log why the start failed, in one line, close the listeners opened
        so far (a server that failed to start serves no one), and fail
        L{ready}.
        """
        for ports in self.ports.values():
            for port in ports:
                port.stopListening()
        self.ports.clear()
        self._log.error("xmppframe could not start: {error}",
                        error=startFailureMessage(failure.value))
        if not self.ready.called:
            self.ready.errback(failure)
            return None
        return failure

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


def startFailureMessage(error):
    """
    The one line that says why the start failed with C{error}.
    """
    if isinstance(error, (StartError, ConfigError)):
        return str(error).removeprefix("config error: ")
    return str(error) or type(error).__name__


_ANY_IPV6 = re.compile(r"^tcp6:(\d+):interface=\\:\\:$")


def _ipv4Fallback(description, error):
    """
    Where a listener on every IPv6 address (the default) listens instead
    on a system without IPv6: every IPv4 address, on the same port.
    """
    match = _ANY_IPV6.match(description)
    code = getattr(error.socketError, "errno", None)
    if match is None or code not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
        return None
    return "tcp:%s" % (match.group(1),)


def _ipv6Only(port):
    """
    Whether the IPv6 socket of C{port} refuses IPv4-mapped connections.
    """
    fileno = getattr(port, "fileno", None)
    if fileno is None or not hasattr(socket, "IPV6_V6ONLY"):
        return False
    try:
        with socket.fromfd(fileno(), socket.AF_INET6, socket.SOCK_STREAM) as sock:
            return bool(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
    except OSError:
        return False


def whyNotListening(error):
    """
    Say in words why a listener could not be opened.

    @param error: a L{CannotListenError}.
    """
    cause = error.socketError
    code = getattr(cause, "errno", None)
    interface = error.interface or "every address"
    if isinstance(cause, socket.gaierror):
        return "%s is neither an address nor a name of this machine" % (interface,)
    if code == errno.EADDRINUSE:
        return "port %s is already in use (by another program, or another server)" % (
            error.port,)
    if code == errno.EADDRNOTAVAIL:
        return "%s is not an address of this machine" % (interface,)
    if code == errno.EACCES:
        return ("permission denied (ports below 1024 need privileges: run as root with "
                "--uid and --gid, or grant CAP_NET_BIND_SERVICE)")
    if code == errno.EAFNOSUPPORT:
        return "this system does not support that address family (IPv6?)"
    if code is not None and code > 0:
        return os.strerror(code).lower()
    return str(cause) or type(cause).__name__
