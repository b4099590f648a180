"""
The twistd entry point: C{twistd -n xmppframe [--config FILE]}.

A server that cannot start exits at once with status 1 and one line that
says why:

  - A configuration problem (L{xmppframe.config}, then
    L{xmppframe.preflight}: certificates, data directory, modules) is found
    in L{makeService}, before twistd starts logging or the reactor, and is
    written to standard error.  It is not a twistd usage error, so twistd
    does not print its usage text before it.
  - What only the start can find (a port in use, a database that does not
    open) is logged as one line, C{xmppframe could not start: ...} (also on
    standard error when the log goes elsewhere); the reactor is stopped and
    the process exits with status 1 once twistd has cleaned up.
"""

import atexit
import gc
import os
import sys

from twisted.logger import ILogObserver
from twisted.python import usage
from twisted.python.components import Componentized

from xmppframe.config import ConfigError, loadConfig
from xmppframe.configpath import SEARCH_ORDER, findConfig
from xmppframe.logobserver import LogControl, twistdObserverFactory
from xmppframe.reload import Reloader
from xmppframe.server import Server, ServerService, startFailureMessage

#: The cyclic collector's young-generation threshold under twistd (see
#: L{TwistdServerService._tuneCollector}).
GC_THRESHOLD0 = 10000


class Options(usage.Options):
    synopsis = "[--config FILE]"
    longdesc = (
        "Run the xmppframe XMPP server.  The configuration file is %s.  The "
        "built-in defaults serve the domain 'localhost': clients on ports 5222 "
        "(STARTTLS) and 5223 (Direct TLS), federation on 5269, on every IPv6 "
        "and IPv4 address, with SQLite storage and a self-signed certificate "
        "in ./data.  A configuration the server cannot use (see 'xmppframe "
        "config check') or a port it cannot open ends it at once with one line "
        "saying why and exit status 1." % (SEARCH_ORDER,))
    optParameters = [
        ["config", "c", None, "The TOML configuration file."],
    ]

    def postOptions(self):
        # A bad configuration is reported by makeService, as one line: a
        # UsageError would have twistd print its whole usage text first.
        self["configError"] = None
        try:
            self["loadedConfig"] = loadConfig(findConfig(self["config"]))
        except ConfigError as e:
            self["loadedConfig"] = None
            self["configError"] = str(e)


def makeService(options, reactor=None):
    """
    Build the service twistd runs from parsed L{Options}.

    @raise SystemExit: with the one line saying what is wrong, when the
        configuration cannot be served (L{xmppframe.preflight}); twistd has
        not started logging yet, so Python writes it to standard error and
        exits with status 1.
    """
    if reactor is None:
        from twisted.internet import reactor
    config = options["loadedConfig"]
    if config is None:
        raise SystemExit(options["configError"])
    server = Server(config, reactor)
    try:
        server.preflight()
    except ConfigError as e:
        raise SystemExit(str(e))
    service = TwistdServerService(server)
    twistdOptions = getattr(options, "parent", None)
    if twistdOptions is not None:
        service.logObserverFactory = twistdObserverFactory(
            twistdOptions, config.log_level, reactor, service.logControl)
        if not _logsToTerminal(twistdOptions):
            service.failureStream = sys.__stderr__
    return service


def _logsToTerminal(twistdOptions):
    """
    Whether twistd writes its log to standard output (C{-n} without
    C{--logfile} or C{--syslog}).
    """
    get = getattr(twistdOptions, "get", lambda key, default=None: default)
    return (get("nodaemon", False) and not get("syslog", False)
            and get("logfile", None) in (None, "-"))


def exitAfterCleanUp(status):
    """
    Make the process exit with C{status} once twistd is done.

    twistd has no way for a service to choose the exit status: once its
    reactor has stopped it removes its PID file, stops logging and returns,
    and the process exits with 0.  The only place left after that is an
    C{atexit} function, and the only way to set the status from there is
    C{os._exit}, after flushing the standard streams.  This is the one
    thing here that works around twistd rather than with it.
    """
    def exit():
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(status)
    atexit.register(exit)


class TwistdServerService(ServerService):
    """
    The server as twistd runs it: also chooses twistd's log observer.

    @ivar logObserverFactory: makes the observer of
        L{xmppframe.logobserver} (C{log_level}, twistd's destination), or
        C{None} to leave twistd's own.
    """

    logObserverFactory = None

    #: Where the line saying why the start failed is written besides the
    #: log (twistd's standard error when the log goes to a file), or C{None}.
    failureStream = None

    #: L{exitAfterCleanUp}; tests replace it.
    exitAfterCleanUp = staticmethod(exitAfterCleanUp)

    def __init__(self, server):
        ServerService.__init__(self, server)
        #: The log's level and file, for L{reloader}.
        self.logControl = LogControl()
        #: SIGHUP reloads the configuration (L{xmppframe.reload}).
        self.reloader = Reloader(self, self.logControl)

    def setServiceParent(self, parent):
        """
        twistd makes an application, adds this service to it, then starts
        logging to the application's L{ILogObserver} component if it has one
        (after its own C{--logger}, which therefore still wins).
        """
        if (self.logObserverFactory is not None and isinstance(parent, Componentized)
                and parent.getComponent(ILogObserver) is None):
            parent.setComponent(ILogObserver, self.logObserverFactory())
        ServerService.setServiceParent(self, parent)

    def startService(self):
        self.reloader.installSignalHandler(self.server.reactor)
        # ready fails when the start does, and _startFailed has said why.
        self.ready.addCallbacks(self._tuneCollector, lambda failure: None)
        ServerService.startService(self)

    def _startFailed(self, failure):
        """
        The process cannot serve: say why in one line, stop the reactor
        (now, or as soon as it runs when the start failed before it), and
        exit with status 1.
        """
        result = ServerService._startFailed(self, failure)
        if self.failureStream is not None:
            try:
                self.failureStream.write("xmppframe could not start: %s\n"
                                         % (startFailureMessage(failure.value),))
                self.failureStream.flush()
            except (OSError, ValueError):
                pass
        self.exitAfterCleanUp(1)
        reactor = self.server.reactor
        reactor.callWhenRunning(reactor.stop)
        return result

    def _tuneCollector(self, result):
        """
        Set the cyclic garbage collector up for a server, once it is up.
        Only twistd's process does this; an application embedding the
        server owns its own collector settings.

          - Everything start-up made (code, config, modules, caches) lives
            as long as the process: L{gc.freeze} takes it out of the
            collector's view, so that full collections do not walk it again.
          - A young-generation threshold of L{GC_THRESHOLD0} allocations
            instead of Python's 700: handling a stanza allocates a few
            hundred objects that reference counting frees at once, so the
            default collects every few stanzas and keeps promoting what
            happens to be alive at that moment.  Under a login storm this
            halves the collector's CPU.  Only garbage in reference cycles
            (rare here) waits a little longer to be freed.
        """
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD0, *gc.get_threshold()[1:])
        return result
