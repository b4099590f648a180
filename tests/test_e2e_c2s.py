"""
End-to-end: the real server on loopback, real slixmpp clients over real
sockets (RFC 6120 streams, STARTTLS, SASL, binding; RFC 6121 §8.5
delivery).
"""

import asyncio
import base64
import socket
import ssl

from tests.e2e import ClientTestCase, RunningServer, asDeferred, waitFor


class ClientToServerTests(ClientTestCase):

    def test_starttlsScramSha256Message(self):
        """
        STARTTLS (RFC 6120 §5) then SCRAM-SHA-256 (RFC 7677), bind (§7),
        and a chat message to the other account's bare JID arrives with
        the sender's full JID stamped in 'from' (§8.1.2.1).
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland",
                                      mechanism="SCRAM-SHA-256").login()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            self.assertTrue(alice.is_connected())
            self.assertEqual(str(alice.boundjid), "alice@localhost/home")
            session = alice.serverSession()
            self.assertEqual(session.saslMechanism, "SCRAM-SHA-256")
            self.assertTrue(session.encrypted)
            alice.send_message(mto="bob@localhost", mbody="Hello, Bob", mtype="chat")
            received = await bob.nextMessage()
            self.assertEqual(received["body"], "Hello, Bob")
            self.assertEqual(str(received["from"]), "alice@localhost/home")
            bob.send_message(mto=received["from"], mbody="Hi Alice", mtype="chat")
            reply = await alice.nextMessage()
            self.assertEqual(reply["body"], "Hi Alice")
            self.assertEqual(str(reply["from"]), "bob@localhost/phone")
        return asDeferred(scenario())

    def test_directTLSScramSha256Plus(self):
        """
        Direct TLS (XEP-0368) with channel binding (RFC 5802 §6): over
        TLS 1.2, where Python's ssl module gives slixmpp 'tls-unique',
        slixmpp picks the strongest mechanism offered, SCRAM-SHA-256-PLUS.
        """
        async def scenario():
            alice = self.client("alice@localhost", "wonderland", directTLS=True)
            alice.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
            await alice.login()
            self.assertEqual(alice.boundjid.bare, "alice@localhost")
            self.assertTrue(alice.boundjid.resource)
            self.assertEqual(alice.serverSession().saslMechanism, "SCRAM-SHA-256-PLUS")
        return asDeferred(scenario())

    def test_wrongPassword(self):
        """
        A wrong password fails with a SASL failure (RFC 6120 §6.5.10) and
        nobody gets a session.
        """
        async def scenario():
            mallory = self.client("alice@localhost", "guess", mechanism="SCRAM-SHA-256")
            mallory.connect("127.0.0.1", self.server.port)
            failure = await asyncio.wait_for(mallory.authFailures.get(), 10)
            self.assertIsNotNone(failure)
            self.assertFalse(mallory.sessionStarted.done())
            self.assertEqual(self.server.server.sessions.sessionsFor(
                self.server.server.router.jids.parse("alice@localhost")), ())
        return asDeferred(scenario())

    def test_spoofedFrom(self):
        """
        A stanza claiming another 'from' is refused with a stanza error
        and never delivered (RFC 6120 §8.1.2.1).
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            spoof = alice.make_message(mto="bob@localhost", mbody="I am the admin",
                                       mtype="chat", mfrom="admin@localhost/x")
            spoof.send()
            error = await alice.nextError()
            self.assertEqual(error["error"]["condition"], "forbidden")
            alice.send_message(mto="bob@localhost", mbody="genuine", mtype="chat")
            received = await bob.nextMessage()
            self.assertEqual(received["body"], "genuine")
            self.assertEqual(str(received["from"]), "alice@localhost/home")
        return asDeferred(scenario())

    def test_oversizedStanza(self):
        """
        A stanza over the size limit ends that stream with
        policy-violation (RFC 6120 §4.9.3.14); everyone else is served on.
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            huge = "x" * (300 * 1024)
            alice.send_raw("<message to='bob@localhost' type='chat'><body>%s</body></message>" % huge)
            error = await alice.nextStreamError()
            self.assertEqual(error["condition"], "policy-violation")
            carol = await self.client("alice@localhost/laptop", "wonderland").login()
            carol.send_message(mto="bob@localhost", mbody="still here", mtype="chat")
            received = await bob.nextMessage()
            self.assertEqual(received["body"], "still here")
        return asDeferred(scenario())

    def test_resourceConflict(self):
        """
        Binding a resource already in use replaces the old session, which
        gets a conflict stream error (RFC 6120 §7.7.2.2).
        """
        async def scenario():
            first = await self.client("alice@localhost/home", "wonderland").login()
            second = await self.client("alice@localhost/home", "wonderland").login()
            error = await first.nextStreamError()
            self.assertEqual(error["condition"], "conflict")
            self.assertEqual(str(second.boundjid), "alice@localhost/home")
        return asDeferred(scenario())

    def test_shutdown(self):
        """
        Stopping the server closes every stream with system-shutdown
        (RFC 6120 §4.9.3.21).
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            await waitFor(self.server.service.stopService())
            error = await alice.nextStreamError()
            self.assertEqual(error["condition"], "system-shutdown")
        return asDeferred(scenario())

    def test_garbageDoesNotDisturbOthers(self):
        """
        A peer that sends malformed XML gets not-well-formed and is
        disconnected; a logged-in client is served on (RFC 6120 §4.9.3.13).
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
            writer.write(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                         b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
                         b"version='1.0'><a></b>")
            data = b""
            while b"</stream:stream>" not in data:
                chunk = await asyncio.wait_for(reader.read(4096), 10)
                if not chunk:
                    break
                data += chunk
            self.assertIn(b"<not-well-formed", data)
            writer.close()
            alice.send_message(mto="bob@localhost", mbody="still fine", mtype="chat")
            self.assertEqual((await bob.nextMessage())["body"], "still fine")
        return asDeferred(scenario())


class PriorityRoutingTests(ClientTestCase):
    """
    RFC 6121 §8.5.2.1.1: a chat message to a bare JID goes to the
    available resource(s) of highest non-negative priority; a negative
    priority never receives bare-JID messages (§4.7.2.3), and with no
    eligible resource the message is stored offline (XEP-0160).
    """

    async def withPriority(self, jid, priority):
        client = await self.client(jid, "rabbithole").login(presence=False)
        client.send_presence(ppriority=priority)
        await client.roundTrip()
        return client

    async def quiet(self, client):
        """
        Nothing more arrives for C{client} within a round trip of the
        sender (messages are routed in order).
        """
        self.assertTrue(client.messages.empty(), "unexpected message")

    def test_highestPriorityWins(self):
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            high = await self.withPriority("bob@localhost/desk", 5)
            low = await self.withPriority("bob@localhost/phone", 1)
            alice.send_message(mto="bob@localhost", mbody="to the desk", mtype="chat")
            self.assertEqual((await high.nextMessage())["body"], "to the desk")
            await alice.roundTrip()
            await low.roundTrip()
            await self.quiet(low)
            # A full JID still reaches the lower-priority resource.
            alice.send_message(mto="bob@localhost/phone", mbody="to the phone", mtype="chat")
            self.assertEqual((await low.nextMessage())["body"], "to the phone")
        return asDeferred(scenario())

    def test_equalPrioritiesAllReceive(self):
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            one = await self.withPriority("bob@localhost/one", 3)
            two = await self.withPriority("bob@localhost/two", 3)
            alice.send_message(mto="bob@localhost", mbody="both of you", mtype="chat")
            self.assertEqual((await one.nextMessage())["body"], "both of you")
            self.assertEqual((await two.nextMessage())["body"], "both of you")
        return asDeferred(scenario())

    def test_negativePriorityNeverGetsBareMessages(self):
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            shy = await self.withPriority("bob@localhost/shy", -1)
            alice.send_message(mto="bob@localhost", mbody="kept for later", mtype="chat")
            await alice.roundTrip()
            await shy.roundTrip()
            await self.quiet(shy)
            # Stored offline, and delivered when a resource of priority >= 0
            # comes online.
            later = await self.withPriority("bob@localhost/later", 0)
            self.assertEqual((await later.nextMessage())["body"], "kept for later")
        return asDeferred(scenario())


class FloodTests(ClientTestCase):
    """
    A client that floods the server is read more slowly (C{read_rate}),
    not cut off: every message it sent arrives, and other clients are
    served meanwhile.
    """

    async def setUpServer(self):
        self.server = await RunningServer.start(
            self, c2s={"read_rate": 4096, "read_burst": 8192})
        for jid, password in self.accounts:
            await self.server.addUser(jid, password)

    def test_floodIsShapedNotLost(self):
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            carol = await self.client("bob@localhost/laptop", "rabbithole").login()
            # Let the bucket refill after the logins.
            await asyncio.sleep(2.5)
            loop = asyncio.get_event_loop()
            started = loop.time()
            count = 40
            body = "x" * 500
            for n in range(count):
                alice.send_message(mto="bob@localhost/phone", mbody="%d %s" % (n, body),
                                   mtype="chat")
            # While alice is held back, bob's other resource is answered.
            await carol.roundTrip()
            received = [(await bob.nextMessage(timeout=30))["body"] for _ in range(count)]
            elapsed = loop.time() - started
            self.assertEqual([int(text.split()[0]) for text in received], list(range(count)))
            # About 40 x 600 bytes: 24 KB, 8 KiB at once and the rest at
            # 4 KiB/s, so at least three seconds.
            self.assertGreater(elapsed, 3.0)
        return asDeferred(scenario())


class SlowReaderTests(ClientTestCase):
    """
    A client that stops reading while messages keep coming for it is cut
    off once more than C{max_pending} bytes wait for it, instead of
    growing the server's buffers without bound; the sender is served on.
    """

    async def setUpServer(self):
        self.server = await RunningServer.start(
            self, c2s={"read_rate": 0, "max_pending": 262144})
        for jid, password in self.accounts:
            await self.server.addUser(jid, password)

    async def rawLogin(self, jid, password):
        """
        Log in over Direct TLS with a bare socket whose receive buffer is
        small, and return its reader and writer.
        """
        local, _, rest = jid.partition("@")
        domain, _, resource = rest.partition("/")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", self.server.tlsPort))
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=self.server.clientContext(), server_hostname=domain)
        self.addCleanup(writer.transport.abort)

        async def until(marker):
            data = b""
            while marker not in data:
                chunk = await asyncio.wait_for(reader.read(65536), 10)
                self.assertTrue(chunk, data)
                data += chunk
            return data

        header = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>"
                  % (domain,)).encode()
        writer.write(header)
        await until(b"</stream:features>")
        token = base64.b64encode(("\0%s\0%s" % (local, password)).encode()).decode()
        writer.write(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s"
                      "</auth>" % (token,)).encode())
        await until(b"<success")
        writer.write(header)
        await until(b"</stream:features>")
        writer.write(("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                      "<resource>%s</resource></bind></iq>" % (resource,)).encode())
        await until(b"</iq>")
        return reader, writer

    def test_notReadingIsCutOff(self):
        async def scenario():
            # Kept: a writer that is collected closes its connection.
            reader, writer = await self.rawLogin("bob@localhost/raw", "rabbithole")
            sessions = self.server.server.sessions
            bob = self.server.server.router.jids.parse("bob@localhost/raw")
            self.assertIsNotNone(sessions.sessionFor(bob))
            alice = await self.client("alice@localhost/home", "wonderland").login()
            body = "x" * 100000
            for n in range(120):
                alice.send_message(mto="bob@localhost/raw", mbody=body, mtype="chat")
                if n % 10 == 9:
                    await alice.roundTrip()
                if sessions.sessionFor(bob) is None:
                    break
            loop = asyncio.get_event_loop()
            deadline = loop.time() + 20
            while sessions.sessionFor(bob) is not None:
                self.assertLess(loop.time(), deadline, "the slow reader was not cut off")
                await asyncio.sleep(0.05)
            # The sender is served on.
            await alice.roundTrip()
            writer.close()
        return asDeferred(scenario())
