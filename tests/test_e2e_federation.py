"""
End-to-end federation: two xmppframe servers in this process, a.test and
b.test, with static routes to each other's s2s port on 127.0.0.1, and a
slixmpp user on each side (RFC 6120 s2s, XEP-0178 SASL EXTERNAL,
XEP-0220 dialback; the IM modules do subscriptions and presence).
"""

import asyncio
import os
import ssl

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol

from xmppframe.config import parseConfig
from xmppframe.server import Server, ServerService

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
    async def startDomain(cls, testCase, domain, certificate=None, s2s=None, caPath=None):
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
            "s2s": s2sConfig, "hosts": {domain: host},
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

    async def pair(self, certificates=True, aS2S=None, bS2S=None, bNames=("b.test",)):
        if certificates:
            aCert = self.ca.issue(["a.test"])
            bCert = self.ca.issue(list(bNames), name="b")
            caPath = self.ca.caPath
        else:
            aCert = bCert = caPath = None
        self.a = await FederatedServer.startDomain(self, "a.test", aCert, aS2S, caPath)
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
