"""
A slixmpp client for the end-to-end tests: records what it receives and
exposes the waits a test needs as coroutines.
"""

import asyncio

import slixmpp


class TestClient(slixmpp.ClientXMPP):
    """
    A real XMPP client (slixmpp, from PyPI) pointed at a L{RunningServer}.
    """

    def __init__(self, jid, password, server, mechanism=None, directTLS=False):
        slixmpp.ClientXMPP.__init__(self, jid, password, sasl_mech=mechanism)
        self.testServer = server
        self.ssl_context = server.clientContext(self.boundjid.domain)
        self.directTLS = directTLS
        self.enable_direct_tls = directTLS
        self.enable_starttls = not directTLS
        self.messages = asyncio.Queue()
        self.errors = asyncio.Queue()
        self.streamErrors = asyncio.Queue()
        self.authFailures = asyncio.Queue()
        self.register_plugin("xep_0199")
        self.add_event_handler("message", self._onMessage)
        self.add_event_handler("stream_error", self.streamErrors.put_nowait)
        self.add_event_handler("failed_auth", self.authFailures.put_nowait)
        self.add_event_handler("session_start", self._onSessionStart)
        self.sessionStarted = asyncio.get_event_loop().create_future()

    def _onMessage(self, message):
        if message["type"] == "error":
            self.errors.put_nowait(message)
        else:
            self.messages.put_nowait(message)

    def _onSessionStart(self, event):
        if not self.sessionStarted.done():
            self.sessionStarted.set_result(True)

    async def login(self, presence=True, timeout=10):
        """
        Connect, authenticate and bind; then send initial presence and wait
        until the server has processed it (a round trip after it).
        """
        port = self.testServer.tlsPort if self.directTLS else self.testServer.port
        self.connect("127.0.0.1", port)
        await asyncio.wait_for(self.sessionStarted, timeout)
        if presence:
            self.send_presence()
            await self.roundTrip()
        return self

    async def roundTrip(self):
        """
        Ping the server: when the answer is back, everything sent before it
        has been processed.
        """
        await self.plugin["xep_0199"].ping(self.boundjid.domain, timeout=10)

    async def nextMessage(self, timeout=10):
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def nextError(self, timeout=10):
        return await asyncio.wait_for(self.errors.get(), timeout)

    async def nextStreamError(self, timeout=10):
        return await asyncio.wait_for(self.streamErrors.get(), timeout)

    def serverSession(self):
        """
        The server's side of this client's session.
        """
        return self.testServer.server.sessions.sessionFor(
            self.testServer.server.router.jids.parse(str(self.boundjid)))

    async def close(self):
        """
        Disconnect and let slixmpp's background tasks finish.
        """
        if self.transport is not None:
            await self.disconnect(wait=1)
        filters = getattr(self, "_run_out_filters", None)
        if filters is not None and not filters.done():
            filters.cancel()
            try:
                await filters
            except BaseException:
                pass
