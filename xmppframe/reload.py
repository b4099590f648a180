"""
Reloading the configuration of a running server (SIGHUP under twistd).

What a reload does, in this order:

  1. The log file is reopened under its name, so that a log rotation tool
     can move it away and signal the server (as for SIGUSR1's rotation).
  2. The configuration file is read and validated again, every host's
     module options included.  A configuration that does not validate is
     logged in one line and the running one is kept, whole.
  3. What can change without a restart is applied, one log line per
     change:
       - C{log_level};
       - the certificates: every host's certificate and key are loaded
         again (the same files renewed in place, or other files), for the
         connections made from then on; connections under way keep theirs;
       - hosts added to C{[hosts]}: served, with their modules loaded;
       - modules added to or removed from a host's C{modules}, and modules
         whose options changed (registration settings among them): each
         is unloaded and loaded again with its new options, through the
         same loader as at start-up, and so is every module loaded after
         it that depends on it;
     and what cannot (listeners, storage, a host removed, ...) is logged
     as needing a restart.

Clients stay connected throughout; the server's config object becomes the
new one.
"""

import signal

from twisted.internet import defer
from twisted.logger import Logger

from xmppframe.api.module import ModuleAPI
from xmppframe.auth import StorageAuthProvider
from xmppframe.config import ConfigError, loadConfig, validateModuleOptions
from xmppframe.host import VirtualHost
from xmppframe.moduleloader import ModuleLoadError, availableModules, loadOrder
from xmppframe.streams.tls import TLSConfigError, ensureHostCertificate

__all__ = ["Reloader"]

#: The sections and settings whose change needs a restart.
_RESTART_SETTINGS = ("data_dir", "storage", "auth", "c2s", "s2s", "routing", "components")


class Reloader:
    """
    Reloads the configuration of a L{xmppframe.server.ServerService}.

    @param service: the running service.
    @param logControl: the L{xmppframe.logobserver.LogControl} of its log,
        or C{None} when it has none (embedded, tests).
    """

    _log = Logger()

    def __init__(self, service, logControl=None):
        self.service = service
        self.logControl = logControl
        self._running = None
        #: Host name -> the certificate and key last loaded, as
        #: L{_certificateText}; read from the files the server started with
        #: at the first reload.
        self._loaded = None

    def installSignalHandler(self, reactor):
        """
        Reload on SIGHUP, in C{reactor}'s thread; the signal no longer
        terminates the process.
        """
        def onSignal(signum, frame):
            reactor.callFromThread(self.reload)
        signal.signal(signal.SIGHUP, onSignal)

    def reload(self):
        """
        Reload now; a reload asked for while one is under way runs after it.

        @return: Deferred firing with the list of changes logged (C{None}
            when the configuration was not reloaded).
        """
        previous = self._running
        d = defer.ensureDeferred(self._afterPrevious(previous))
        self._running = d
        return d

    async def _afterPrevious(self, previous):
        if previous is not None:
            await previous
        try:
            return await self._reload()
        except Exception:
            self._log.failure("Reloading the configuration failed")
            return None

    async def _reload(self):
        if self.logControl is not None and self.logControl.reopen():
            self._log.info("Reopened the log file")
        server = self.service.server
        if not self.service.ready.called:
            self._log.warn("Configuration not reloaded: the server is still starting")
            return None
        old = server.config
        if old.path is None:
            self._log.info("Configuration not reloaded: the server runs without a file")
            return None
        try:
            new = loadConfig(old.path)
            factories = self._factories()
            hostOptions = self._validate(new, factories)
            certificates = self._certificates(new)
        except (ConfigError, ModuleLoadError, TLSConfigError, OSError, ValueError) as e:
            self._log.error("Configuration not reloaded, keeping the running one: {error}",
                            error=str(e).replace("\n", "; "))
            return None
        if self._loaded is None:
            self._loaded = {name: self._certificateText(paths)
                            for name, paths in server.s2s.certificates().items()}
        changes = []

        def changed(text, **kwargs):
            changes.append(text.format(**kwargs))
            self._log.info("Reload: " + text, **kwargs)

        self._logLevel(old, new, changed)
        try:
            server.context.tlsContext.replace(certificates, server.defaultHost.name)
            server.s2s.updateCertificates(certificates, server.defaultHost.name)
        except Exception as e:
            self._log.error("Reload: the certificates did not load, keeping the old ones: {error}",
                            error=e)
        else:
            for name in sorted(certificates):
                if self._certificateText(certificates[name]) != self._loaded.get(name):
                    changed("certificate of {host} loaded from {path}", host=name,
                            path=certificates[name][0])
            self._loaded = {name: self._certificateText(paths)
                            for name, paths in certificates.items()}
        oldHosts = {host.name: host for host in old.hosts}
        for hostConfig in new.hosts:
            if hostConfig.name not in oldHosts:
                await self._addHost(server, hostConfig, hostOptions[hostConfig.name],
                                    factories, changed)
            else:
                await self._reloadModules(server.hosts[hostConfig.name], hostConfig,
                                          hostOptions[hostConfig.name], factories, changed)
        newNames = {host.name for host in new.hosts}
        for name in oldHosts:
            if name not in newNames:
                self._log.warn("Reload: host {host} is no longer configured; it is served "
                               "until a restart", host=name)
        for setting in _RESTART_SETTINGS:
            if getattr(old, setting) != getattr(new, setting):
                self._log.warn("Reload: {setting} changed; that takes a restart",
                               setting=setting)
        server.config = new
        self._log.info("Configuration reloaded from {path}: {count} change(s)",
                       path=new.path, count=len(changes))
        return changes

    # Reading and checking the new configuration

    def _factories(self):
        factories = availableModules()
        factories.update(self.service.server.extraModules)
        return factories

    def _validate(self, config, factories):
        """
        Every host's modules in load order with their validated options.

        @return: host name -> [(module name, options)].
        @raise ConfigError: or L{ModuleLoadError}.
        """
        result = {}
        for host in config.hosts:
            result[host.name] = [
                (name, validateModuleOptions(config, host.name, name,
                                             getattr(factories[name], "optionSchema", {})))
                for name in loadOrder(host.modules, factories)]
        return result

    def _certificates(self, config):
        certificates = {}
        server = self.service.server
        for host in config.hosts:
            certPath, keyPath, generated = ensureHostCertificate(
                host.name, host.certificate or None, host.key or None, config.data_dir)
            if generated:
                self._log.warn(
                    "Generated a self-signed certificate for {host} at {path}; "
                    "clients will not trust it: configure a real one",
                    host=host.name, path=certPath)
            certificates[host.name] = (certPath, keyPath)
        # Hosts left out of the new file keep being served, with their certificate.
        for name, paths in server.s2s.certificates().items():
            certificates.setdefault(name, paths)
        return certificates

    @staticmethod
    def _certificateText(paths):
        texts = []
        for path in paths:
            try:
                with open(path, "rb") as f:
                    texts.append(f.read())
            except OSError:
                texts.append(None)
        return (paths, tuple(texts))

    # Applying it

    def _logLevel(self, old, new, changed):
        if old.log_level == new.log_level:
            return
        if self.logControl is None:
            return
        levels = ("debug", "info", "warn", "error", "critical")
        # The line is written at whichever of the two levels lets it through.
        lowering = levels.index(new.log_level) < levels.index(old.log_level)
        if lowering:
            self.logControl.setLevel(new.log_level)
        changed("log_level {old} -> {new}", old=old.log_level, new=new.log_level)
        if not lowering:
            self.logControl.setLevel(new.log_level)

    async def _addHost(self, server, hostConfig, modules, factories, changed):
        config = server.config
        auth = StorageAuthProvider(server.storage, hostConfig.name,
                                   config.auth.scram_iterations, reactor=server.reactor)
        host = VirtualHost(hostConfig, auth, server.storage)
        server.hosts[host.name] = host
        server.router.addHost(host)
        changed("host {host} added", host=host.name)
        for name, options in modules:
            await self._load(server, host, name, options, factories, changed, quiet=True)

    async def _reloadModules(self, host, hostConfig, modules, factories, changed):
        """
        Unload the modules of C{host} that are no longer listed or whose
        options changed, and those that depend on them; then load, in load
        order, what is listed and not loaded.
        """
        server = self.service.server
        wanted = dict(modules)
        stale = {name for name, module in host.modules.items()
                 if name not in wanted or dict(module.api.options) != wanted[name]}
        for name in list(host.modules):
            dependencies = getattr(factories.get(name), "dependencies", ())
            if name not in stale and any(d in stale for d in dependencies):
                stale.add(name)
        for name in reversed(list(host.modules)):
            if name in stale:
                module = host.modules.pop(name)
                await defer.maybeDeferred(module.unload)
                if name not in wanted:
                    changed("module {module} unloaded from {host}", module=name,
                            host=host.name)
        host.config = hostConfig
        for name, options in modules:
            if name in host.modules:
                continue
            await self._load(server, host, name, options, factories, changed,
                             reloaded=name in stale)

    async def _load(self, server, host, name, options, factories, changed, quiet=False,
                    reloaded=False):
        api = ModuleAPI(name, host, server.router, server.sessions, server.storage,
                        server.reactor, options)
        try:
            module = factories[name](api)
            await defer.maybeDeferred(module.load)
        except Exception as e:
            self._log.error("Reload: module {module} of {host} did not load: {error}",
                            module=name, host=host.name, error=e)
            api.unhookAll()
            return
        host.modules[name] = module
        if not quiet:
            changed("module {module} {what} on {host}", module=name, host=host.name,
                    what="reloaded" if reloaded else "loaded")
