"""
End-to-end federation: two xmppframe servers in this process, a.test and
b.test, with static routes to each other's s2s port on 127.0.0.1, and a
slixmpp user on each side (RFC 6120 s2s, XEP-0178 SASL EXTERNAL,
XEP-0220 dialback; the IM modules do subscriptions and presence).
"""

import asyncio
import os
import re
import ssl

from lxml import etree

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol

from xmppframe.config import parseConfig
from xmppframe.streams.dialback import dialbackKey
from xmppframe.server import Server, ServerService
from xmppframe.xml.stanza import makeStanza

from tests.e2e import LOOPBACK, ClientTestCase, RunningServer, asDeferred, waitFor
from tests.test_e2e_presence import PresenceClient
from tests.testca import TestCA


class FederatedServer(RunningServer):
    """
    A L{RunningServer} serving one domain with an s2s listener; its
    clients trust the test CA when the host has a CA-issued certificate.
    """

    caPath = None
    #: Whether clients check the host name (not when the test gave the
    #: host a certificate for another name on purpose).
    checkHostname = True

    @classmethod
    async def startDomain(cls, testCase, domain, certificate=None, s2s=None, caPath=None,
                          otherHosts=()):
        """
        @param otherHosts: more domains served by the same server (with
            generated certificates).
        """
        dataDir = os.path.abspath(testCase.mktemp())
        os.makedirs(dataDir)
        host = {}
        if certificate is not None:
            host = {"certificate": certificate[0], "key": certificate[1]}
        s2sConfig = {"listen": [LOOPBACK], "connect_timeout": 5.0}
        if caPath is not None:
            s2sConfig["ca_file"] = caPath
        s2sConfig.update(s2s or {})
        config = parseConfig({
            "data_dir": dataDir, "storage": {"driver": "memory"},
            "auth": {"failure_delay": 0.0},
            "c2s": {"listen": [LOOPBACK], "listen_tls": [LOOPBACK]},
            "s2s": s2sConfig, "hosts": dict({name: {} for name in otherHosts}, **{domain: host}),
        }, dataDir)
        service = ServerService(Server(config, reactor))
        service.startService()
        testCase.addCleanup(service.stopService)
        await waitFor(service.ready)
        running = cls(service, dataDir)
        if certificate is not None:
            running.caPath = caPath
        return running

    @property
    def s2sPort(self):
        return self.service.port("s2s")

    def routeTo(self, domain, other):
        """
        A static route for C{domain} to C{other}'s s2s listener.
        """
        self.server.s2s.routes[domain] = "tcp:host=127.0.0.1:port=%d" % (other.s2sPort,)

    def clientContext(self, host="localhost"):
        if self.caPath is None:
            return RunningServer.clientContext(self, host)
        context = ssl.create_default_context(cafile=self.caPath)
        context.check_hostname = self.checkHostname
        return context

    def outboundMethods(self):
        return {(s.localDomain, s.remoteDomain): s.method
                for s in self.server.s2s.outboundStreams() if s.ready}


class Silent(Protocol):
    """
    A peer that accepts the connection and never says a word.
    """


class FederationTests(ClientTestCase):

    clientClass = PresenceClient
    timeout = 60

    async def setUpServer(self):
        self.ca = TestCA(os.path.abspath(self.mktemp()))

    async def pair(self, certificates=True, aS2S=None, bS2S=None, bNames=("b.test",),
                   aOtherHosts=()):
        if certificates:
            aCert = self.ca.issue(["a.test"])
            bCert = self.ca.issue(list(bNames), name="b")
            caPath = self.ca.caPath
        else:
            aCert = bCert = caPath = None
        self.a = await FederatedServer.startDomain(self, "a.test", aCert, aS2S, caPath,
                                                   aOtherHosts)
        self.b = await FederatedServer.startDomain(self, "b.test", bCert, bS2S, caPath)
        self.b.checkHostname = "b.test" in bNames
        self.a.routeTo("b.test", self.b)
        self.b.routeTo("a.test", self.a)
        await self.a.addUser("alice@a.test", "wonderland")
        await self.b.addUser("bob@b.test", "rabbithole")
        self.alice = await self.client("alice@a.test/home", "wonderland", server=self.a).login()
        self.bob = await self.client("bob@b.test/phone", "rabbithole", server=self.b).login()

    async def converse(self):
        """
        alice and bob subscribe to each other across the domains, see each
        other's presence, and exchange messages both ways.
        """
        alice, bob = self.alice, self.bob
        alice.send_presence(pto="bob@b.test", ptype="subscribe")
        await bob.nextPresence("subscribe", "alice@a.test")
        bob.send_presence(pto="alice@a.test", ptype="subscribed")
        await alice.nextPresence("subscribed", "bob@b.test")
        await alice.nextPresence(None, "bob@b.test/phone")
        bob.send_presence(pto="alice@a.test", ptype="subscribe")
        await alice.nextPresence("subscribe", "bob@b.test")
        alice.send_presence(pto="bob@b.test", ptype="subscribed")
        await bob.nextPresence("subscribed", "alice@a.test")
        await bob.nextPresence(None, "alice@a.test/home")
        alice.send_message(mto="bob@b.test", mbody="Hello from a", mtype="chat")
        message = await bob.nextMessage()
        self.assertEqual((str(message["from"]), message["body"]),
                         ("alice@a.test/home", "Hello from a"))
        bob.send_message(mto="alice@a.test/home", mbody="Hello from b", mtype="chat")
        message = await alice.nextMessage()
        self.assertEqual((str(message["from"]), message["body"]),
                         ("bob@b.test/phone", "Hello from b"))
        bob.send_presence(pstatus="away for lunch", pshow="away")
        presence = await alice.nextPresence(None, "bob@b.test/phone")
        self.assertEqual(presence["status"], "away for lunch")

    def test_tlsWithSASLExternal(self):
        """
        Certificates from a CA both trust: STARTTLS, then SASL EXTERNAL
        (XEP-0178) both ways.
        """
        async def scenario():
            await self.pair()
            await self.converse()
            self.assertEqual(self.a.outboundMethods(), {("a.test", "b.test"): "EXTERNAL"})
            self.assertEqual(self.b.outboundMethods(), {("b.test", "a.test"): "EXTERNAL"})
        return asDeferred(scenario())

    def test_dialback(self):
        """
        Self-signed certificates nobody trusts: TLS, then dialback
        (XEP-0220) verified over a connection back to the sender.
        """
        async def scenario():
            await self.pair(certificates=False)
            await self.converse()
            self.assertEqual(self.a.outboundMethods(), {("a.test", "b.test"): "dialback"})
            self.assertEqual(self.b.outboundMethods(), {("b.test", "a.test"): "dialback"})
        return asDeferred(scenario())

    def test_directTLS(self):
        """
        b.test also listens for Direct TLS (XEP-0368) and a.test's route
        to it says C{tls:}: TLS from the first byte, no STARTTLS, and
        a.test's certificate still serves for SASL EXTERNAL (XEP-0178).
        """
        async def scenario():
            await self.pair(bS2S={"listen_tls": [LOOPBACK]})
            self.a.server.s2s.routes["b.test"] = "tls:host=127.0.0.1:port=%d" % (
                self.b.service.port("s2s-tls"),)
            self.alice.send_message(mto="bob@b.test", mbody="over direct TLS", mtype="chat")
            self.assertEqual((await self.bob.nextMessage())["body"], "over direct TLS")
            [stream] = self.a.server.s2s.outboundStreams()
            self.assertEqual((stream.method, stream.encrypted), ("EXTERNAL", True))
            self.assertIsNotNone(stream.tlsConnection())
            inbound = [s for s in self.b.server.streams if s.kind == "s2s-in"]
            self.assertEqual([(s.factory.directTLS, s.encrypted) for s in inbound],
                             [(True, True)])
        return asDeferred(scenario())

    def test_dialbackMultiplexing(self):
        """
        a.test and a2.test on one server both write to b.test: the second
        pair is authenticated by another db:result on the stream of the
        first (XEP-0220 "Multiplexing Sender Domains"), so one connection
        carries both, and b.test accepts both pairs on it.
        """
        async def scenario():
            await self.pair(certificates=False, aOtherHosts=("a2.test",))
            self.b.routeTo("a2.test", self.a)
            await self.a.addUser("carol@a2.test", "secret")
            carol = await self.client("carol@a2.test/desk", "secret", server=self.a).login()
            self.alice.send_message(mto="bob@b.test", mbody="from a", mtype="chat")
            self.assertEqual((await self.bob.nextMessage())["body"], "from a")
            carol.send_message(mto="bob@b.test", mbody="from a2", mtype="chat")
            message = await self.bob.nextMessage()
            self.assertEqual((str(message["from"]), message["body"]),
                             ("carol@a2.test/desk", "from a2"))
            [stream] = self.a.server.s2s.outboundStreams()
            self.assertEqual((stream.localDomain, stream.method, sorted(stream.routes)),
                             ("a.test", "dialback", ["a.test", "a2.test"]))
            inbound = [s for s in self.b.server.streams if s.kind == "s2s-in"]
            self.assertEqual([s.authenticated for s in inbound],
                             [{("a.test", "b.test"), ("a2.test", "b.test")}])
            # Both pairs go on using it.
            self.alice.send_message(mto="bob@b.test", mbody="again from a", mtype="chat")
            self.assertEqual((await self.bob.nextMessage())["body"], "again from a")
            self.assertEqual(len(self.a.server.s2s.outboundStreams()), 1)
        return asDeferred(scenario())

    def test_saslExternalIsNotMultiplexed(self):
        """
        A stream authenticated with SASL EXTERNAL stands for its
        certificate's domain only (XEP-0178): a2.test gets its own stream.
        """
        async def scenario():
            await self.pair(aOtherHosts=("a2.test",))
            self.b.routeTo("a2.test", self.a)
            self.alice.send_message(mto="bob@b.test", mbody="from a", mtype="chat")
            self.assertEqual((await self.bob.nextMessage())["body"], "from a")
            # a2.test's generated certificate is not from the test CA, so
            # no client of it logs in here: its stanza enters a.test's router.
            message = makeStanza("message", to="bob@b.test", from_="carol@a2.test/desk",
                                 type="chat")
            etree.SubElement(message, "{jabber:client}body").text = "from a2"
            self.a.server.router.route(message)
            self.assertEqual((await self.bob.nextMessage())["body"], "from a2")
            self.assertEqual(self.a.outboundMethods(), {("a.test", "b.test"): "EXTERNAL",
                                                        ("a2.test", "b.test"): "dialback"})
        return asDeferred(scenario())

    def test_wrongCertificateFallsBackToDialback(self):
        """
        b.test's certificate is from the trusted CA but for another name:
        a.test does not accept it for SASL EXTERNAL, and uses dialback.
        """
        async def scenario():
            await self.pair(bNames=("wrong.test",))
            alice, bob = self.alice, self.bob
            alice.send_message(mto="bob@b.test", mbody="hi", mtype="chat")
            self.assertEqual((await bob.nextMessage())["body"], "hi")
            self.assertEqual(self.a.outboundMethods(), {("a.test", "b.test"): "dialback"})
        return asDeferred(scenario())

    def test_wrongCertificateRefused(self):
        """
        The same, with dialback disabled on a.test: the peer is refused
        and alice's message bounces (remote-server-not-found).
        """
        async def scenario():
            await self.pair(bNames=("wrong.test",), aS2S={"dialback": False})
            self.alice.send_message(mto="bob@b.test", mbody="hi", mtype="chat")
            error = await self.alice.nextError()
            self.assertEqual(error["error"]["condition"], "remote-server-not-found")
            self.assertEqual(self.a.outboundMethods(), {})
        return asDeferred(scenario())

    def test_unknownDomain(self):
        """
        A domain with no route and no XMPP service in DNS: the message
        bounces with remote-server-not-found.
        """
        async def scenario():
            await self.pair(certificates=False)
            self.a.server.s2s.resolver = NoService()
            self.alice.send_message(mto="someone@nowhere.test", mbody="hi", mtype="chat")
            error = await self.alice.nextError()
            self.assertEqual(error["error"]["condition"], "remote-server-not-found")
            self.assertEqual(str(error["from"]), "someone@nowhere.test")
        return asDeferred(scenario())

    def test_peerNeverAnswers(self):
        """
        A peer that accepts the TCP connection and says nothing: after
        connect_timeout the message bounces with remote-server-timeout.
        """
        async def scenario():
            await self.pair(certificates=False, aS2S={"connect_timeout": 0.5})
            port = await serverFromString(reactor, LOOPBACK).listen(Factory.forProtocol(Silent))
            self.addCleanup(port.stopListening)
            self.a.server.s2s.routes["silent.test"] = "tcp:host=127.0.0.1:port=%d" % (
                port.getHost().port,)
            self.alice.send_message(mto="someone@silent.test", mbody="hi", mtype="chat")
            error = await self.alice.nextError()
            self.assertEqual(error["error"]["condition"], "remote-server-timeout")
        return asDeferred(scenario())


class NoService:
    """
    A resolver under which every SRV lookup says "no service here"
    (RFC 2782: a single record with target '.').
    """

    def lookupService(self, name):
        from twisted.internet import defer
        from twisted.names import dns
        record = dns.RRHeader(name, dns.SRV, payload=dns.Record_SRV(0, 0, 0, b"."))
        return defer.succeed(([record], [], []))


class RawS2SClient:
    """
    A minimal initiating server on a raw asyncio socket, for saying what a
    well-behaved server never would.  It reads the peer's bytes and waits
    for regular expressions, which is all these tests need.
    """

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.buffer = b""

    @classmethod
    async def connect(cls, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, data):
        self.writer.write(data.encode("utf-8") if isinstance(data, str) else data)

    async def expect(self, pattern, timeout=10.0):
        """
        Read until C{pattern} (bytes regex) matches; consume up to the
        match's end and return it.
        """
        regex = re.compile(pattern, re.S)

        async def read():
            while True:
                match = regex.search(self.buffer)
                if match is not None:
                    self.buffer = self.buffer[match.end():]
                    return match
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed before %r; got %r" % (pattern, self.buffer))
                self.buffer += data

        return await asyncio.wait_for(read(), timeout)

    async def openStream(self, local, remote):
        """
        Send a stream header and return the peer's stream id.
        """
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                  "xmlns:stream='http://etherx.jabber.org/streams' "
                  "xmlns:db='jabber:server:dialback' from='%s' to='%s' version='1.0'>"
                  % (local, remote))
        header = await self.expect(rb"<stream:stream[^>]*>")
        streamID = re.search(rb"\bid=['\"]([^'\"]+)['\"]", header.group(0))
        await self.expect(rb"</stream:features>")
        return streamID.group(1).decode("ascii")

    async def startTLS(self, serverName):
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await self.expect(rb"<proceed[^>]*/>")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        await self.writer.start_tls(context, server_hostname=serverName)

    async def closed(self, timeout=10.0):
        """
        Wait until the peer closes the connection; what it sent meanwhile
        stays in L{buffer}.
        """
        async def read():
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return
                self.buffer += data

        await asyncio.wait_for(read(), timeout)

    def abort(self):
        self.writer.transport.abort()


class ForgedSenderTests(ClientTestCase):
    """
    A peer authenticated for one domain that sends for another gets the
    invalid-from stream error (RFC 6120 §4.9.3.9, §8.1.2.2), over a real
    connection; the receiving server goes on serving everyone else.
    """

    clientClass = PresenceClient
    timeout = 60

    async def setUpServer(self):
        pass

    def test_forgedFromClosesOnlyThatStream(self):
        async def scenario():
            await FederationTests.pair(self, certificates=False)
            raw = await RawS2SClient.connect(self.b.s2sPort)
            self.addCleanup(raw.abort)
            await raw.openStream("a.test", "b.test")
            await raw.startTLS("b.test")
            streamID = await raw.openStream("a.test", "b.test")
            # Dialback as a.test (XEP-0220 §2.1): the key is a.test's own,
            # so b.test's check with a.test's server succeeds.
            key = dialbackKey(self.a.server.s2s.secret, "b.test", "a.test", streamID)
            raw.send("<db:result from='a.test' to='b.test'>%s</db:result>" % (key,))
            await raw.expect(rb"<db:result[^>]*type=['\"]valid['\"]")
            # Accepted for (a.test, b.test): a stanza from c.test is forged.
            raw.send("<message from='someone@c.test' to='bob@b.test' type='chat'>"
                     "<body>forged</body></message>")
            await raw.closed()
            self.assertIn(b"<invalid-from", raw.buffer)
            self.assertIn(b"</stream:stream>", raw.buffer)
            # b.test still serves a.test's genuine traffic.
            self.alice.send_message(mto="bob@b.test", mbody="genuine", mtype="chat")
            message = await self.bob.nextMessage()
            self.assertEqual((str(message["from"]), message["body"]),
                             ("alice@a.test/home", "genuine"))
        return asDeferred(scenario())
