"""
The load generator's worker side: many XMPP clients in one process, on
asyncio (uvloop when it is installed), speaking raw bytes over plain
sockets.

Why it is written this way: the generator must never be what limits a
run.  A full client library parses every stanza into a tree and costs
more CPU per message than the server under test; these clients only
search the bytes for the few markers a scenario counts (C{<message},
C{<presence}, the body's timestamp, a stream error), and the SASL
exchange is the only place they decode anything.  Several worker
processes share the clients, and each reports the CPU it used, so that a
run shows the generator was not saturated.

A worker is driven by the orchestrator (L{scenarios}) over a
L{multiprocessing} pipe: it receives one command (a dict with an C{op}),
runs it on its clients and answers with a dict of results.
"""

import asyncio
import base64
import hashlib
import hmac
import os
import resource
import ssl
import time

__all__ = ["workerMain", "ScramClientKeys", "cpuSeconds"]

STREAM_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>")
SASL_NS = b"urn:ietf:params:xml:ns:xmpp-sasl"


def cpuSeconds():
    """
    The CPU time (user + system) this process has used, in seconds.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoginFailed(Exception):
    """
    The server refused or broke off a login.
    """


class ScramClientKeys:
    """
    The client side of SCRAM (RFC 5802 §3), with the salted password
    cached by (password, salt, iterations): benchmark accounts share one
    credential set, and the PBKDF2 of every login would otherwise cost
    the generator as much CPU as the server.
    """

    def __init__(self, digest="sha1"):
        self.digest = digest
        self._cache = {}

    def keys(self, password, salt, iterations):
        key = (password, salt, iterations)
        keys = self._cache.get(key)
        if keys is None:
            salted = hashlib.pbkdf2_hmac(self.digest, password, salt, iterations)
            clientKey = hmac.digest(salted, b"Client Key", self.digest)
            storedKey = hashlib.new(self.digest, clientKey).digest()
            serverKey = hmac.digest(salted, b"Server Key", self.digest)
            keys = self._cache[key] = (clientKey, storedKey, serverKey)
        return keys


def _parseScramFields(text):
    return dict(part.split("=", 1) for part in text.split(",") if "=" in part)


def _saslPayload(data, tag):
    """
    The base64 payload of the first C{<tag ...>payload</tag>} in C{data}.
    """
    start = data.index(b"<" + tag)
    start = data.index(b">", start) + 1
    end = data.index(b"<", start)
    return base64.b64decode(data[start:end])


class Client(asyncio.Protocol):
    """
    One XMPP client connection.  While logging in it waits for markers in
    the received bytes; once logged in it only counts what arrives.
    """

    def __init__(self, worker):
        self.worker = worker
        self.transport = None
        self.buffer = b""
        self.waiting = None  # (marker, future) while logging in
        self.running = False
        self.closed = asyncio.get_running_loop().create_future()
        self.received = 0  # messages or presences once running
        self.pending = 0   # presence updates sent, not yet reflected
        self.jidMarkers = ()

    # asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)
        if self.waiting is not None and not self.waiting[1].done():
            self.waiting[1].set_exception(LoginFailed("connection lost"))
        if self.running:
            self.worker.lost += 1

    def data_received(self, data):
        if self.running:
            self._count(data)
            return
        self.buffer += data
        if self.waiting is not None:
            self._checkWaiting()

    # Logging in

    def _checkWaiting(self):
        markers, future = self.waiting
        if future.done():
            return
        for marker in markers:
            index = self.buffer.find(marker)
            if index >= 0:
                end = index + len(marker)
                chunk, self.buffer = self.buffer[:end], self.buffer[end:]
                self.waiting = None
                future.set_result((marker, chunk))
                return
        if b"<stream:error" in self.buffer or b"</stream:stream>" in self.buffer:
            self.waiting = None
            future.set_exception(LoginFailed(self.buffer[-300:].decode("utf-8", "replace")))

    async def expect(self, *markers):
        future = asyncio.get_running_loop().create_future()
        self.waiting = (markers, future)
        self._checkWaiting()
        return await future

    def send(self, data):
        if self.transport is not None:
            self.transport.write(data)

    async def login(self, domain, user, password, mechanism, keys, presence, resource=b"load"):
        header = STREAM_HEADER % (domain,)
        self.send(header)
        _, features = await self.expect(b"</stream:features>")
        if b">" + mechanism + b"<" not in features:
            raise LoginFailed("%s not offered: %s" % (mechanism.decode(), features.decode()))
        if mechanism == b"PLAIN":
            token = base64.b64encode(b"\0" + user + b"\0" + password)
            self.send(b"<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL_NS, token))
        else:
            await self._scram(user, password, mechanism, keys)
        # The outcome's end is not awaited: with or without additional
        # data, nothing follows a success until the stream restarts.
        marker, outcome = await self.expect(b"<success", b"<failure")
        if b"failure" in marker:
            raise LoginFailed("SASL failure: " + outcome.decode("utf-8", "replace"))
        self.send(header)
        await self.expect(b"</stream:features>")
        self.send(b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  b"<resource>" + resource + b"</resource></bind></iq>")
        _, bound = await self.expect(b"</iq>")
        if b"type=\"result\"" not in bound and b"type='result'" not in bound:
            raise LoginFailed("bind failed: " + bound.decode("utf-8", "replace"))
        if presence:
            self.send(b"<presence/>")
        # From here on only counting: drop what the login left over.
        self.buffer = b""
        self.running = True

    async def _scram(self, user, password, mechanism, keys):
        nonce = base64.b64encode(os.urandom(18))
        bare = b"n=" + user + b",r=" + nonce
        self.send(b"<auth xmlns='%s' mechanism='%s'>%s</auth>"
                  % (SASL_NS, mechanism, base64.b64encode(b"n,," + bare)))
        _, chunk = await self.expect(b"</challenge>")
        challenge = _saslPayload(chunk, b"challenge")
        fields = _parseScramFields(challenge.decode("ascii"))
        if not fields.get("r", "").startswith(nonce.decode("ascii")):
            raise LoginFailed("the server's nonce does not extend ours")
        clientKey, storedKey, _ = keys.keys(password, base64.b64decode(fields["s"]),
                                            int(fields["i"]))
        withoutProof = b"c=biws,r=" + fields["r"].encode("ascii")
        authMessage = bare + b"," + challenge + b"," + withoutProof
        signature = hmac.digest(storedKey, authMessage, keys.digest)
        proof = bytes(a ^ b for a, b in zip(clientKey, signature))
        response = withoutProof + b",p=" + base64.b64encode(proof)
        self.send(b"<response xmlns='%s'>%s</response>" % (SASL_NS, base64.b64encode(response)))

    # Counting, once logged in

    def _count(self, data):
        """
        Count the stanzas that start in the received bytes and read the
        timestamps of message bodies.  Only what lies before the last
        C{<} is examined, so a marker split between two reads is seen
        whole in the next one.
        """
        buffer = self.buffer + data if self.buffer else data
        cut = buffer.rfind(b"<")
        if cut < 0:
            self.buffer = b""
            return
        complete, self.buffer = buffer[:cut], buffer[cut:]
        worker = self.worker
        if b"<stream:error" in complete:
            worker.errors.append(complete[-300:].decode("utf-8", "replace"))
        messages = complete.count(b"<message")
        if messages:
            self.received += messages
            worker.messagesReceived += messages
            if worker.recordLatency:
                now = time.time()
                position = complete.find(b"<body>")
                latencies = worker.latencies
                while position >= 0:
                    start = position + 6
                    end = complete.find(b"<", start)
                    if end < 0:
                        end = len(complete)
                    try:
                        latencies.append(now - float(complete[start:end]))
                    except ValueError:
                        pass
                    position = complete.find(b"<body>", end)
        presences = complete.count(b"<presence")
        if presences:
            self.received += presences
            worker.presencesReceived += presences
            if self.pending:
                # Our own update reflected (RFC 6121 §4.4.2): the server
                # has handled it.
                reflected = sum(complete.count(marker) for marker in self.jidMarkers)
                self.pending = max(0, self.pending - reflected)


class Worker:
    """
    The clients of one process and the commands that drive them.
    """

    def __init__(self, host, port, domain, password):
        self.host = host
        self.port = port
        self.domain = domain.encode("ascii")
        self.password = password.encode("utf-8")
        self.clients = []  # (username bytes, Client)
        self.keys = ScramClientKeys()
        self.tlsContext = ssl.create_default_context()
        self.tlsContext.check_hostname = False
        self.tlsContext.verify_mode = ssl.CERT_NONE
        self.reset()

    def reset(self):
        self.errors = []
        self.lost = 0
        self.messagesReceived = 0
        self.presencesReceived = 0
        self.recordLatency = False
        self.latencies = []

    async def run(self, command):
        self.reset()
        op = command["op"]
        cpuBefore, wallBefore = cpuSeconds(), time.monotonic()
        result = await getattr(self, "op_" + op)(**{k: v for k, v in command.items()
                                                    if k != "op"})
        result["cpu"] = cpuSeconds() - cpuBefore
        result["wall"] = time.monotonic() - wallBefore
        result["errors"] = self.errors[:5]
        result["lost"] = self.lost
        return result

    async def op_login(self, users, mechanism="SCRAM-SHA-1", tls=False, port=None,
                       presence=True, concurrency=25):
        """
        Log C{users} in (connect, SASL, resource bind, initial presence)
        with at most C{concurrency} logins under way; the clients stay
        connected.
        """
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        mechanism = mechanism.encode("ascii")
        failures = []

        async def one(user):
            async with gate:
                user = user.encode("utf-8")
                try:
                    _, client = await loop.create_connection(
                        lambda: Client(self), self.host, port or self.port,
                        ssl=self.tlsContext if tls else None)
                    full = user + b"@" + self.domain + b"/load"
                    client.jidMarkers = (b'from="' + full + b'"', b"from='" + full + b"'")
                    await asyncio.wait_for(client.login(
                        self.domain, user, self.password, mechanism, self.keys, presence), 120)
                except (OSError, LoginFailed, asyncio.TimeoutError, ValueError, KeyError) as e:
                    failures.append("%s: %s" % (user.decode(), e or type(e).__name__))
                    return
                self.clients.append((user, client))

        await asyncio.gather(*(one(user) for user in users))
        self.errors.extend(failures[:5])
        return {"ok": len(users) - len(failures), "failed": len(failures)}

    async def op_settle(self, seconds):
        """
        Wait, counting what arrives (login fan-out, say).
        """
        await asyncio.sleep(seconds)
        return {"messages": self.messagesReceived, "presences": self.presencesReceived}

    async def op_close(self):
        for _, client in self.clients:
            client.running = False
            client.send(b"</stream:stream>")
            if client.transport is not None:
                client.transport.close()
        self.clients = []
        return {}

    async def op_chat(self, duration, rate=None, window=200):
        """
        Clients send each other chat messages in pairs (0<->1, 2<->3...),
        each body the send time.  With C{rate} (messages per second for
        this worker) sends are paced; without, as many are kept in flight
        as C{window} allows.
        """
        loop = asyncio.get_running_loop()
        senders = []
        for index in range(0, len(self.clients) - 1, 2):
            (aUser, a), (bUser, b) = self.clients[index], self.clients[index + 1]
            senders.append((a, b"<message type='chat' to='%s@%s/load'><body>"
                            % (bUser, self.domain)))
            senders.append((b, b"<message type='chat' to='%s@%s/load'><body>"
                            % (aUser, self.domain)))
        if not senders:
            return {"sent": 0, "received": 0, "latencies": []}
        self.recordLatency = True
        sent = 0
        deadline = loop.time() + duration
        turn = 0
        count = len(senders)
        if rate:
            interval = 0.002
            start = loop.time()
            while loop.time() < deadline:
                due = int((loop.time() - start) * rate) - sent
                stamp = b"%.6f</body></message>" % (time.time(),)
                for _ in range(due):
                    client, prefix = senders[turn]
                    turn = (turn + 1) % count
                    client.send(prefix + stamp)
                sent += max(due, 0)
                await asyncio.sleep(interval)
        else:
            while loop.time() < deadline:
                room = window - (sent - self.messagesReceived)
                if room > 0:
                    stamp = b"%.6f</body></message>" % (time.time(),)
                    for _ in range(room):
                        client, prefix = senders[turn]
                        turn = (turn + 1) % count
                        client.send(prefix + stamp)
                    sent += room
                await asyncio.sleep(0.0005)
        # Let the messages still in flight arrive.
        drainUntil = loop.time() + 5
        while self.messagesReceived < sent and loop.time() < drainUntil:
            await asyncio.sleep(0.01)
        self.recordLatency = False
        return {"sent": sent, "received": self.messagesReceived,
                "latencies": self.latencies}

    async def op_presence(self, duration, window=20):
        """
        Clients send presence updates (a new status each time), at most
        C{window} updates in flight per worker; an update is done when the
        sender gets its own presence back.  Every delivery is counted.
        """
        loop = asyncio.get_running_loop()
        clients = [client for _, client in self.clients]
        if not clients:
            return {"updates": 0, "received": 0}
        for client in clients:
            client.pending = 0
        deadline = loop.time() + duration
        updates = 0
        turn = 0
        while loop.time() < deadline:
            inFlight = sum(client.pending for client in clients)
            for _ in range(window - inFlight):
                client = clients[turn]
                turn = (turn + 1) % len(clients)
                client.pending += 1
                updates += 1
                client.send(b"<presence><status>%d</status></presence>" % (updates,))
            await asyncio.sleep(0.001)
        drainUntil = loop.time() + 5
        while any(client.pending for client in clients) and loop.time() < drainUntil:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        return {"updates": updates, "received": self.presencesReceived}


def workerMain(connection, host, port, domain, password):
    """
    The body of a worker process: answer commands from C{connection}
    until it sends C{None} or closes.
    """
    try:
        import uvloop
    except ImportError:
        uvloop = None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)[1:] * 2)
    except (ValueError, OSError):
        pass

    async def serve():
        worker = Worker(host, port, domain, password)
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, _receive, connection)
            if command is None:
                break
            try:
                result = await worker.run(command)
            except Exception as e:  # reported to the orchestrator, which stops the run
                result = {"exception": "%s: %s" % (type(e).__name__, e)}
            connection.send(result)
        await worker.op_close()

    if uvloop is not None:
        uvloop.run(serve())
    else:
        asyncio.run(serve())


def _receive(connection):
    try:
        return connection.recv()
    except EOFError:
        return None
