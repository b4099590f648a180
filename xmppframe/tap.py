"""
The twistd entry point: C{twistd -n xmppframe [--config FILE]}.
"""

import gc

from twisted.logger import ILogObserver
from twisted.python import usage
from twisted.python.components import Componentized

from xmppframe.config import ConfigError, loadConfig
from xmppframe.configpath import SEARCH_ORDER, findConfig
from xmppframe.logobserver import LogControl, twistdObserverFactory
from xmppframe.reload import Reloader
from xmppframe.server import Server, ServerService

#: The cyclic collector's young-generation threshold under twistd (see
#: L{TwistdServerService._tuneCollector}).
GC_THRESHOLD0 = 10000


class Options(usage.Options):
    synopsis = "[--config FILE]"
    longdesc = (
        "Run the xmppframe XMPP server.  The configuration file is %s.  The "
        "built-in defaults serve the domain 'localhost': clients on ports 5222 "
        "(STARTTLS) and 5223 (Direct TLS), federation on 5269, with SQLite "
        "storage and a self-signed certificate in ./data." % (SEARCH_ORDER,))
    optParameters = [
        ["config", "c", None, "The TOML configuration file."],
    ]

    def postOptions(self):
        try:
            self["loadedConfig"] = loadConfig(findConfig(self["config"]))
        except ConfigError as e:
            raise usage.UsageError(str(e))


def makeService(options, reactor=None):
    """
    Build the service twistd runs from parsed L{Options}.
    """
    if reactor is None:
        from twisted.internet import reactor
    config = options["loadedConfig"]
    service = TwistdServerService(Server(config, reactor))
    twistdOptions = getattr(options, "parent", None)
    if twistdOptions is not None:
        service.logObserverFactory = twistdObserverFactory(
            twistdOptions, config.log_level, reactor, service.logControl)
    return service


class TwistdServerService(ServerService):
    """
    The server as twistd runs it: also chooses twistd's log observer.

    @ivar logObserverFactory: makes the observer of
        L{xmppframe.logobserver} (C{log_level}, twistd's destination), or
        C{None} to leave twistd's own.
    """

    logObserverFactory = None

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
        ServerService.startService(self)
        self.ready.addCallback(self._tuneCollector)

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
