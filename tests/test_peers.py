"""
The federation peers harness (L{tests.peers}) works on its own, before
xmppframe takes part: Debian's Prosody and ejabberd federate with each
other over TLS with certificates from the test CA, finding each other
through the test's DNS, and slixmpp users on each exchange messages.

The peers are started once for this module (L{tests.peers.SharedPeers}):
ejabberd's Erlang start-up takes seconds.
"""

from twisted.names import dns
from twisted.trial import unittest

from tests.e2e import asDeferred, requireAsyncioReactor
from tests.peers import SharedPeers, StaticDNS
from tests.xmppclient import TestClient

PEERS = SharedPeers(("prosody", "ejabberd"))


class StaticDNSTests(unittest.TestCase):
    """
    The resolver the peers are pointed at answers for the test domains
    only.
    """

    def setUp(self):
        self.dns = StaticDNS()
        self.addCleanup(self.dns.stop)
        self.dns.setService("example.test", 5999)

    def ask(self, name, type):
        query = dns.Message(id=7, recDes=1)
        query.addQuery(name, type)
        parsed = dns.Message()
        parsed.fromStr(query.toStr())
        return self.dns.answer(parsed)

    def test_srv(self):
        """
        C{_xmpp-server._tcp.DOMAIN} points at the domain's port (RFC 6120
        §3.2.1).
        """
        response = self.ask(b"_xmpp-server._tcp.example.test", dns.SRV)
        self.assertEqual(response.rCode, dns.OK)
        [record] = response.answers
        self.assertEqual((record.payload.port, record.payload.target.name),
                         (5999, b"127.0.0.1"))

    def test_address(self):
        response = self.ask(b"example.test", dns.A)
        [record] = response.answers
        self.assertEqual(record.payload.dottedQuad(), "127.0.0.1")

    def test_noAAAA(self):
        """
        The domain exists but has no IPv6 address: an empty answer.
        """
        response = self.ask(b"example.test", dns.AAAA)
        self.assertEqual((response.rCode, response.answers), (dns.OK, []))

    def test_otherNames(self):
        """
        Names that are not test domains do not exist here.
        """
        for name, type in ((b"example.com", dns.A),
                           (b"_xmpps-server._tcp.example.test", dns.SRV)):
            self.assertEqual(self.ask(name, type).rCode, dns.ENAME)

    def test_changedPort(self):
        self.dns.setService("example.test", 6000)
        [record] = self.ask(b"_xmpp-server._tcp.example.test", dns.SRV).answers
        self.assertEqual(record.payload.port, 6000)


class ProsodyEjabberdFederationTests(unittest.TestCase):
    """
    Prosody and ejabberd federate through the harness.
    """

    timeout = 120

    def setUp(self):
        requireAsyncioReactor()

    def test_messagesBothWays(self):
        """
        A user on Prosody and one on ejabberd exchange messages over
        server-to-server streams that both servers secure with TLS and
        authenticate with the test CA's certificates.
        """
        async def scenario():
            network = await PEERS.get(self)
            prosody, ejabberd = network.peers
            alice = "alice@" + prosody.domain
            bob = "bob@" + ejabberd.domain
            await prosody.addUser(alice, "wonderland")
            await ejabberd.addUser(bob, "rabbithole")
            aliceClient = TestClient(alice, "wonderland", prosody)
            bobClient = TestClient(bob, "rabbithole", ejabberd)
            try:
                await aliceClient.login()
                await bobClient.login()
                aliceClient.send_message(mto=bob, mbody="hello from prosody", mtype="chat")
                received = await bobClient.nextMessage(timeout=30)
                self.assertEqual((received["body"], received["from"].bare),
                                 ("hello from prosody", alice))
                bobClient.send_message(mto=alice, mbody="hello from ejabberd", mtype="chat")
                received = await aliceClient.nextMessage(timeout=30)
                self.assertEqual((received["body"], received["from"].bare),
                                 ("hello from ejabberd", bob))
            finally:
                await aliceClient.close()
                await bobClient.close()

        return asDeferred(scenario())
