"""
Federation with other servers: xmppframe serving xmppframe.example talks
server-to-server with Debian's Prosody (prosody.example) and ejabberd
(ejabberd.example), started by L{tests.peers}.

Every server has a certificate for its domain from one test CA and trusts
only that CA, so the streams are TLS-protected and authenticated with
certificates (RFC 6120 §5 and §13.7.2; XEP-0178 SASL EXTERNAL) rather
than dialback.  xmppframe reaches a peer by a static route
(C{[s2s.routes]}); the peers reach xmppframe through the test's DNS
(see L{tests.peers.StaticDNS}).

A slixmpp user on xmppframe and one on the peer subscribe to each other
(RFC 6121 §3), see each other's presence (§4) and exchange messages (§5),
each direction crossing a different s2s stream.
"""

import ssl

from tests.e2e import ClientTestCase, RunningServer, asDeferred
from tests.peers import startPeers
from tests.test_e2e_presence import PresenceClient

DOMAIN = "xmppframe.example"


class _CATrustingServer(RunningServer):
    """
    A L{RunningServer} whose clients trust the test CA that issued its
    certificate.
    """

    caPath = None

    def clientContext(self, host=None):
        context = ssl.create_default_context(cafile=self.caPath)
        context.check_hostname = True
        return context


class _InteropMixin:
    """
    Start a peer of kind L{peerKind} and an xmppframe routed to it, then
    run the conversation.
    """

    clientClass = PresenceClient
    timeout = 90
    #: C{"prosody"} or C{"ejabberd"}: the L{PeerNetwork} method making it.
    peerKind = None
    #: Whether xmppframe's certificate carries an XmppAddr identifier
    #: (RFC 6120 §13.7.1.4) besides its DNS-ID.
    xmppAddr = True

    async def setUpServer(self):
        self.network = startPeers(self)
        self.peer = getattr(self.network, self.peerKind)()
        certificate, key = self.network.ca.issue([DOMAIN], xmppAddr=self.xmppAddr)
        self.server = await _CATrustingServer.start(
            self, hosts=(DOMAIN,),
            s2s={"ca_file": self.network.ca.caPath, "dialback": False,
                 "routes": {self.peer.domain: "tcp:host=127.0.0.1:port=%d"
                            % (self.peer.s2sPort,)}},
            hostConfig={DOMAIN: {"certificate": certificate, "key": key}})
        self.server.caPath = self.network.ca.caPath
        self.network.route(DOMAIN, self.server.s2sPort)
        await self.network.start()
        self.local = "alice@" + DOMAIN
        self.remote = "bob@" + self.peer.domain
        await self.server.addUser(self.local, "wonderland")
        await self.peer.addUser(self.remote, "rabbithole")
        self.alice = await self.client(self.local + "/home", "wonderland").login()
        self.bob = await self.client(self.remote + "/phone", "rabbithole",
                                     server=self.peer).login()
        # Fetching the roster makes a resource "interested" (RFC 6121
        # §2.1.6): only such resources get subscription approvals (§3.1.6),
        # which Prosody holds to.
        for client in (self.alice, self.bob):
            await client.get_roster()

    def outboundMethods(self):
        return {(s.localDomain, s.remoteDomain): s.method
                for s in self.server.server.s2s.outboundStreams() if s.ready}

    def test_subscriptionPresenceAndMessages(self):
        """
        alice@xmppframe.example and bob on the peer subscribe to each other
        (RFC 6121 §3.1, each approval followed by the approver's presence,
        §3.1.5), exchange messages both ways (§5), and see each other's
        presence changes (§4.4); xmppframe's outbound stream authenticated
        with SASL EXTERNAL.
        """
        async def scenario():
            alice, bob, local, remote = self.alice, self.bob, self.local, self.remote
            alice.send_presence(pto=remote, ptype="subscribe")
            await bob.nextPresence("subscribe", local, timeout=30)
            bob.send_presence(pto=local, ptype="subscribed")
            await alice.nextPresence("subscribed", remote, timeout=30)
            await alice.nextPresence(None, remote + "/phone", timeout=30)

            bob.send_presence(pto=local, ptype="subscribe")
            await alice.nextPresence("subscribe", remote, timeout=30)
            alice.send_presence(pto=remote, ptype="subscribed")
            await bob.nextPresence("subscribed", local, timeout=30)
            await bob.nextPresence(None, local + "/home", timeout=30)

            alice.send_message(mto=remote, mbody="Hello from xmppframe", mtype="chat")
            message = await bob.nextMessage(timeout=30)
            self.assertEqual((str(message["from"]), message["body"]),
                             (local + "/home", "Hello from xmppframe"))
            bob.send_message(mto=local + "/home", mbody="Hello from the peer", mtype="chat")
            message = await alice.nextMessage(timeout=30)
            self.assertEqual((str(message["from"]), message["body"]),
                             (remote + "/phone", "Hello from the peer"))

            bob.send_presence(pstatus="away for lunch", pshow="away")
            presence = await alice.nextPresence(None, remote + "/phone", timeout=30)
            self.assertEqual(presence["status"], "away for lunch")
            alice.send_presence(pstatus="in a meeting", pshow="dnd")
            presence = await bob.nextPresence(None, local + "/home", timeout=30)
            self.assertEqual(presence["status"], "in a meeting")

            self.assertEqual(self.outboundMethods(),
                             {(DOMAIN, self.peer.domain): "EXTERNAL"})
        return asDeferred(scenario())


class ProsodyInteropTests(_InteropMixin, ClientTestCase):
    """
    xmppframe federating with Prosody 0.12 (which requires valid
    certificates: C{s2s_secure_auth = true}).
    """

    peerKind = "prosody"


class EjabberdInteropTests(_InteropMixin, ClientTestCase):
    """
    xmppframe federating with ejabberd 23.01.
    """

    peerKind = "ejabberd"
    #: ejabberd 23.01 (p1_xmpp 1.6.1) crashes its s2s stream while reading
    #: an XmppAddr identifier from a peer certificate
    #: (C{xmpp_stream_pkix:get_cert_domains}, badarg), so xmppframe's
    #: certificate carries only its DNS-ID here.
    xmppAddr = False
