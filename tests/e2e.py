"""
End-to-end test support: the real server on loopback ports, and slixmpp
clients that talk to it over real sockets.

The suite runs under Twisted's asyncio reactor (see C{./dev test}), so
slixmpp and the server share one event loop in the test process.
"""

import asyncio
import os
import shutil
import ssl

from twisted.internet import defer, reactor
from twisted.trial.unittest import SkipTest

from xmppframe.config import parseConfig
from xmppframe.server import Server, ServerService

LOOPBACK = "tcp:0:interface=127.0.0.1"


def asDeferred(coroutineOrFuture):
    """
    Wait for an asyncio coroutine or future from a trial test.
    """
    return defer.Deferred.fromFuture(asyncio.ensure_future(coroutineOrFuture))


def waitFor(deferred):
    """
    Await a Twisted Deferred from an asyncio coroutine.
    """
    return deferred.asFuture(asyncio.get_event_loop())


def needProgram(name):
    """
    Skip the test, saying why, when the program C{name} is not installed.
    """
    path = shutil.which(name)
    if path is None:
        raise SkipTest("%s is not installed (.ci/run installs it)" % (name,))
    return path


def requireAsyncioReactor():
    if not hasattr(reactor, "_asyncioEventloop"):
        raise SkipTest("end-to-end tests with slixmpp need --reactor=asyncio (./dev test sets it)")


class RunningServer:
    """
    A real xmppframe server on ephemeral loopback ports, stopped by the
    test's cleanup.
    """

    def __init__(self, service, dataDir):
        self.service = service
        self.server = service.server
        self.dataDir = dataDir

    @classmethod
    async def start(cls, testCase, hosts=("localhost",), storage="memory", c2s=None, auth=None,
                    dataDir=None, options=None):
        """
        @param dataDir: the data directory; a new one when C{None}.  Give
            the directory of a server stopped before to start one on the
            same database (restart tests).
        @param options: module options for every host, as in
            C{[hosts.NAME.options]}: C{{module: {option: value}}}; the
            modules named are loaded besides the default ones.
        """
        if dataDir is None:
            dataDir = os.path.abspath(testCase.mktemp())
        os.makedirs(dataDir, exist_ok=True)
        c2sConfig = {"listen": [LOOPBACK], "listen_tls": [LOOPBACK]}
        c2sConfig.update(c2s or {})
        authConfig = {"failure_delay": 0.0}
        authConfig.update(auth or {})
        config = parseConfig({
            "data_dir": dataDir,
            "storage": {"driver": storage},
            "auth": authConfig,
            "c2s": c2sConfig,
            "hosts": {name: cls._hostTable(options) for name in hosts},
        }, dataDir)
        service = ServerService(Server(config, reactor))
        service.startService()
        testCase.addCleanup(service.stopService)
        await waitFor(service.ready)
        return cls(service, dataDir)

    @staticmethod
    def _hostTable(options):
        if not options:
            return {}
        from xmppframe.config import DEFAULT_MODULES
        modules = list(DEFAULT_MODULES) + [m for m in options if m not in DEFAULT_MODULES]
        return {"modules": modules, "options": options}

    @property
    def port(self):
        return self.service.port("c2s")

    @property
    def tlsPort(self):
        return self.service.port("c2s-tls")

    def certificatePath(self, host="localhost"):
        return os.path.join(self.dataDir, "certs", host + ".crt")

    async def addUser(self, jid, password):
        localpart, _, domain = jid.partition("@")
        await waitFor(self.server.hosts[domain].auth.createUser(localpart, password))

    def clientContext(self, host="localhost"):
        """
        A TLS context that trusts this server's generated certificate, and
        checks the host name, as a careful client would.
        """
        context = ssl.create_default_context(cafile=self.certificatePath(host))
        context.check_hostname = True
        return context
