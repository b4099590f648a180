"""
An XMPP server embedded in an existing Twisted application, without
twistd: a configuration built in code, the server's service started under
the application's own service hierarchy, and a service (the echo example)
run in process, given to the server in code rather than as a plugin.

Run it from the top of the checkout, so that C{examples} imports (Ctrl-C
stops it)::

    python -m examples.embedded_server --port 5222 --data-dir /tmp/embedded

then log in as C{demo@localhost} (password C{demo-password}) and send a
message to C{echo.localhost}.
"""

import argparse
import os
import sys

from twisted.application.service import MultiService
from twisted.internet import defer

from xmppframe.config import DEFAULT_MODULES, parseConfig
from xmppframe.server import Server, ServerService

from examples.echo_component import EchoModule


def buildServer(reactor, dataDir, listen="tcp:5222:interface=127.0.0.1", listenTLS=()):
    """
    The embedded server's service, not yet started: one host, an in-memory
    store, and the echo service on C{echo.localhost}.  Clients connect on
    loopback only, and there is no federation (no port open to other
    servers; stanzas to other domains bounce at once).
    """
    config = parseConfig({
        "data_dir": dataDir,
        "storage": {"driver": "memory"},
        "c2s": {"listen": [listen], "listen_tls": list(listenTLS)},
        "s2s": {"enabled": False},
        "hosts": {"localhost": {"modules": list(DEFAULT_MODULES) + ["echo"]}},
    }, dataDir)
    server = Server(config, reactor)
    # Modules given in code: no plugin needs to be installed.
    server.extraModules["echo"] = EchoModule
    return ServerService(server)


async def start(reactor, dataDir, listen="tcp:5222:interface=127.0.0.1", user=None):
    """
    Start the server under an application's L{MultiService}.

    @return: C{(application, serverService)} once it listens.
    """
    application = MultiService()
    serverService = buildServer(reactor, dataDir, listen)
    serverService.setServiceParent(application)
    application.startService()
    await serverService.ready
    if user is not None:
        username, password = user
        await serverService.server.hosts["localhost"].auth.createUser(username, password)
    return application, serverService


def main(reactor, *argv):
    from twisted.logger import globalLogBeginner, textFileLogObserver
    parser = argparse.ArgumentParser(description="xmppframe embedded in an application.")
    parser.add_argument("--port", type=int, default=5222)
    parser.add_argument("--data-dir", default="embedded-data")
    arguments = parser.parse_args(list(argv))
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])
    os.makedirs(arguments.data_dir, exist_ok=True)
    done = defer.Deferred()

    async def run():
        application, _ = await start(
            reactor, os.path.abspath(arguments.data_dir),
            "tcp:%d:interface=127.0.0.1" % (arguments.port,), ("demo", "demo-password"))
        reactor.addSystemEventTrigger("before", "shutdown", application.stopService)
        await done

    return defer.ensureDeferred(run())


if __name__ == "__main__":
    from twisted.internet.task import react
    react(main, sys.argv[1:])
