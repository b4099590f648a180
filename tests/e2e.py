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
from twisted.trial.unittest import SkipTest, TestCase

from xmppframe.config import parseConfig
from xmppframe.server import Server, ServerService

from tests.xmppclient import TestClient

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
                    dataDir=None, options=None, s2s=None, hostConfig=None):
        """
        @param dataDir: the data directory; a new one when C{None}.  Give
            the directory of a server stopped before to start one on the
            same database (restart tests).
        @param options: module options for every host, as in
            C{[hosts.NAME.options]}: C{{module: {option: value}}}; the
            modules named are loaded besides the default ones.
        @param s2s: the C{[s2s]} table; when given, federation listens on
            an ephemeral loopback port (L{s2sPort}) unless it says otherwise.
        @param hostConfig: host name -> more keys of its C{[hosts.NAME]}
            table (e.g. C{certificate} and C{key}).
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
            # No federation listener unless a test asks (port 5269 is shared).
            "s2s": {"listen": []} if s2s is None else dict({"listen": [LOOPBACK]}, **s2s),
            "hosts": {name: dict(cls._hostTable(options), **(hostConfig or {}).get(name, {}))
                      for name in hosts},
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

    @property
    def s2sPort(self):
        return self.service.port("s2s")

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


class ClientTestCase(TestCase):
    """
    A test of the real server with real slixmpp clients: each test gets a
    L{RunningServer} in C{self.server} (made by L{setUpServer}) with the
    L{accounts}, and every client made through L{client} or L{track} is
    closed after the test, so that no socket outlives it.

    Subclasses choose the server and the clients with the class
    attributes, or override L{setUpServer} when a test starts its own.
    """

    timeout = 60

    #: Accounts made before each test, as (bare JID, password) pairs.
    accounts = (("alice@localhost", "wonderland"), ("bob@localhost", "rabbithole"))
    #: The storage driver of the server.
    storage = "memory"
    #: Module options for every host (see L{RunningServer.start}).
    moduleOptions = None
    #: What L{client} makes: L{TestClient} or a subclass.
    clientClass = TestClient
    #: slixmpp plugins every client made by L{client} registers.
    clientPlugins = ()

    def setUp(self):
        requireAsyncioReactor()
        self.clients = []
        self.server = None
        return asDeferred(self.setUpServer())

    async def setUpServer(self):
        """
        Start C{self.server} and make the L{accounts} on it.  Override it
        to start another server, or none when each test starts its own.
        """
        self.server = await RunningServer.start(self, storage=self.storage,
                                                options=self.moduleOptions)
        for jid, password in self.accounts:
            await self.server.addUser(jid, password)

    def tearDown(self):
        return asDeferred(self.closeClients())

    async def closeClients(self):
        """
        Close every client made so far (their server is stopped by the
        cleanup L{RunningServer.start} added, after this).
        """
        for client in self.clients:
            await client.close()
        del self.clients[:]

    def track(self, client):
        """
        Have C{client}, made by the test itself, closed after the test.

        @return: C{client}
        """
        self.clients.append(client)
        return client

    def client(self, jid, password, plugins=(), server=None, **kwargs):
        """
        A new L{clientClass} for C{jid} (not yet connected), with the
        L{clientPlugins} and C{plugins} registered, closed after the test.

        @param server: the L{RunningServer} to talk to; C{self.server} when
            C{None}.
        @param kwargs: passed on to L{clientClass} (e.g. C{mechanism},
            C{directTLS}).
        """
        client = self.clientClass(jid, password, self.server if server is None else server,
                                  **kwargs)
        for plugin in tuple(self.clientPlugins) + tuple(plugins):
            client.register_plugin(plugin)
        return self.track(client)
