"""
Tests for L{xmppframe.streams.tls}: certificates, the server contexts over
real loopback connections (STARTTLS, RFC 6120 §5.4, and Direct TLS,
XEP-0368), SNI, the TLS 1.2 floor (RFC 7590 §3), and channel bindings
(RFC 5929, RFC 9266) compared with what the client computes.
"""

import hashlib
import os
import socket
import ssl
import stat

import scramp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from OpenSSL import SSL
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted.internet import defer, reactor, threads
from twisted.internet.interfaces import (
    IHandshakeListener, IOpenSSLClientConnectionCreator, IOpenSSLServerConnectionCreator)
from twisted.internet.protocol import ClientFactory, Protocol, ServerFactory
from twisted.internet.testing import StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial import unittest

from tests.test_sasl import FakeAuth
from xmppframe.streams.sasl import makeMechanism
from xmppframe.streams.tls import (
    ServerTLSContext, TLSConfigError, channelBindings, checkCertificate,
    ensureHostCertificate, generateSelfSigned, tlsConnectionOf)


def _loadCertificate(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def _dnsNames(certificate):
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return san.value.get_values_for_type(x509.DNSName)


class GenerateSelfSignedTests(unittest.TestCase):

    def test_certificate(self):
        """
        The domains are DNS subjectAltNames (IDNs as A-labels), the first is
        the CN, and the key matches.
        """
        base = self.mktemp()
        certPath = os.path.join(base, "a", "host.crt")
        keyPath = os.path.join(base, "b", "c", "host.key")
        generateSelfSigned(["example.org", "Conference.example.org", "bücher.example"],
                           certPath, keyPath, days=10)
        certificate = _loadCertificate(certPath)
        self.assertEqual(_dnsNames(certificate),
                         ["example.org", "conference.example.org", "xn--bcher-kva.example"])
        self.assertEqual(
            certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value,
            "example.org")
        self.assertEqual(certificate.issuer, certificate.subject)
        self.assertIsInstance(certificate.signature_hash_algorithm, hashes.SHA256)
        lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
        self.assertTrue(10 <= lifetime.days <= 11)
        checkCertificate(certPath, keyPath)

    def test_keyMode(self):
        base = self.mktemp()
        keyPath = os.path.join(base, "host.key")
        generateSelfSigned(["example.org"], os.path.join(base, "host.crt"), keyPath)
        self.assertEqual(stat.S_IMODE(os.stat(keyPath).st_mode), 0o600)
        with open(keyPath, "rb") as f:
            serialization.load_pem_private_key(f.read(), None)

    def test_noDomains(self):
        self.assertRaises(TLSConfigError, generateSelfSigned, [], "a.crt", "a.key")


class EnsureHostCertificateTests(unittest.TestCase):

    def setUp(self):
        self.dataDir = self.mktemp()

    def test_generateThenReuse(self):
        certPath, keyPath, generated = ensureHostCertificate(
            "example.org", None, None, self.dataDir)
        self.assertTrue(generated)
        self.assertEqual(certPath, os.path.join(self.dataDir, "certs", "example.org.crt"))
        self.assertEqual(keyPath, os.path.join(self.dataDir, "certs", "example.org.key"))
        with open(certPath, "rb") as f:
            first = f.read()
        self.assertEqual(ensureHostCertificate("example.org", None, None, self.dataDir),
                         (certPath, keyPath, False))
        with open(certPath, "rb") as f:
            self.assertEqual(f.read(), first)

    def test_configured(self):
        certPath, keyPath, _ = ensureHostCertificate("example.org", None, None, self.dataDir)
        self.assertEqual(ensureHostCertificate("other.org", certPath, keyPath, self.dataDir),
                         (certPath, keyPath, False))
        self.assertFalse(os.path.exists(os.path.join(self.dataDir, "certs", "other.org.crt")))

    def test_keyInCertificateFile(self):
        """
        With no key configured, the key is read from the certificate file.
        """
        certPath, keyPath, _ = ensureHostCertificate("example.org", None, None, self.dataDir)
        combined = os.path.join(self.dataDir, "combined.pem")
        with open(combined, "wb") as out:
            for path in (certPath, keyPath):
                with open(path, "rb") as f:
                    out.write(f.read())
        self.assertEqual(ensureHostCertificate("example.org", combined, None, self.dataDir),
                         (combined, combined, False))

    def test_missingFile(self):
        certPath, keyPath, _ = ensureHostCertificate("example.org", None, None, self.dataDir)
        missing = os.path.join(self.dataDir, "nope.crt")
        e = self.assertRaises(TLSConfigError, ensureHostCertificate,
                              "example.org", missing, keyPath, self.dataDir)
        self.assertIn(missing, str(e))
        missingKey = os.path.join(self.dataDir, "nope.key")
        e = self.assertRaises(TLSConfigError, ensureHostCertificate,
                              "example.org", certPath, missingKey, self.dataDir)
        self.assertIn(missingKey, str(e))

    def test_notPEM(self):
        garbage = os.path.join(self.dataDir, "garbage.pem")
        os.makedirs(self.dataDir)
        with open(garbage, "w") as f:
            f.write("not a certificate\n")
        e = self.assertRaises(TLSConfigError, ensureHostCertificate,
                              "example.org", garbage, garbage, self.dataDir)
        self.assertIn(garbage, str(e))

    def test_mismatchedKey(self):
        certA, keyA, _ = ensureHostCertificate("a.example", None, None, self.dataDir)
        certB, keyB, _ = ensureHostCertificate("b.example", None, None, self.dataDir)
        e = self.assertRaises(TLSConfigError, ensureHostCertificate,
                              "a.example", certA, keyB, self.dataDir)
        self.assertIn(keyB, str(e))

    def test_keyWithoutCertificate(self):
        self.assertRaises(TLSConfigError, ensureHostCertificate,
                          "example.org", None, "/some/key.pem", self.dataDir)

    def test_badName(self):
        self.assertRaises(TLSConfigError, ensureHostCertificate,
                          "../evil", None, None, self.dataDir)


@implementer(IOpenSSLClientConnectionCreator)
class ClientCreator:
    """
    A pyOpenSSL client that trusts anything (the tests look at the
    certificate themselves), with SNI and version limits.
    """

    def __init__(self, serverName=None, maxVersion=None, weak=False, session=None):
        self.serverName = serverName
        self.maxVersion = maxVersion
        self.weak = weak
        self.session = session
        # One context for every connection, so that sessions can resume.
        self.context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        if weak:
            # Let this client even try TLS 1.0/1.1.
            self.context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
            self.context.set_min_proto_version(SSL.TLS1_VERSION)
        if maxVersion is not None:
            self.context.set_max_proto_version(maxVersion)

    def clientConnectionForTLS(self, protocol):
        connection = SSL.Connection(self.context, None)
        if self.serverName:
            connection.set_tlsext_host_name(self.serverName.encode("ascii"))
        if self.session is not None:
            connection.set_session(self.session)
        return connection


@implementer(IHandshakeListener)
class ServerSide(Protocol):
    """
    Says PROCEED to STARTTLS (when the stream starts in plaintext), then
    reports the channel bindings once the handshake is done.
    """

    def __init__(self, context):
        self.context = context
        self.handshake = defer.Deferred()
        self.lost = defer.Deferred()
        self.beforeTLS = "not checked"

    def dataReceived(self, data):
        if data == b"STARTTLS\n":
            self.beforeTLS = tlsConnectionOf(self.transport)
            self.transport.write(b"PROCEED\n")
            self.transport.startTLS(self.context)

    def handshakeCompleted(self):
        connection = tlsConnectionOf(self.transport)
        self.handshake.callback({
            "version": connection.get_protocol_version_name(),
            "bindings": channelBindings(connection),
        })

    def connectionLost(self, reason):
        if not self.handshake.called:
            self.handshake.errback(reason)
        self.lost.callback(None)


@implementer(IHandshakeListener)
class ClientSide(Protocol):
    """
    Asks for STARTTLS if told to, and records what the client sees of the
    connection: the server's certificate, its own Finished message (the
    first one of a full handshake) and the exported keying material.
    """

    def __init__(self, creator, startTLS):
        self.creator = creator
        self.startTLS = startTLS
        self.handshake = defer.Deferred()
        self.lost = defer.Deferred()

    def connectionMade(self):
        if self.startTLS:
            self.transport.write(b"STARTTLS\n")

    def dataReceived(self, data):
        if data == b"PROCEED\n":
            self.transport.startTLS(self.creator)

    def handshakeCompleted(self):
        connection = self.transport.getHandle()
        version = connection.get_protocol_version_name()
        self.handshake.callback({
            "version": version,
            "certificate": connection.get_peer_certificate(as_cryptography=True),
            "finished": connection.get_finished(),
            "peerFinished": connection.get_peer_finished(),
            "session": connection.get_session(),
            "reused": bool(SSL._lib.SSL_session_reused(connection._ssl)),
            "exporter": (connection.export_keying_material(b"EXPORTER-Channel-Binding", 32)
                         if version == "TLSv1.3" else None),
        })

    def connectionLost(self, reason):
        if not self.handshake.called:
            self.handshake.errback(reason)
        self.lost.callback(None)


class _OneProtocol(ServerFactory, ClientFactory):
    def __init__(self, protocol):
        self.protocol_ = protocol

    def buildProtocol(self, addr):
        self.protocol_.factory = self
        return self.protocol_


class ServerTLSContextTests(unittest.TestCase):
    """
    Real handshakes over loopback.
    """

    timeout = 10

    def setUp(self):
        dataDir = self.mktemp()
        self.certificates = {}
        for name in ("example.org", "chat.example.com"):
            certPath, keyPath, _ = ensureHostCertificate(name, None, None, dataDir)
            self.certificates[name] = (certPath, keyPath)
        self.context = ServerTLSContext(self.certificates, "example.org")

    def test_interface(self):
        self.assertTrue(verifyObject(IOpenSSLServerConnectionCreator, self.context))
        self.assertIsInstance(self.context.serverConnectionForTLS(None), SSL.Connection)

    def test_unknownDefault(self):
        self.assertRaises(TLSConfigError, ServerTLSContext, self.certificates, "nope.example")

    def listen(self, factory):
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port

    @defer.inlineCallbacks
    def connect(self, creator, startTLS):
        """
        Connect a L{ClientSide} with C{creator}; return what both sides saw
        once the handshake is done and the connection closed.
        """
        server = ServerSide(self.context)
        client = ClientSide(creator, startTLS)
        if startTLS:
            portNumber = self.listen(_OneProtocol(server))
            reactor.connectTCP("127.0.0.1", portNumber, _OneProtocol(client))
        else:
            portNumber = self.listen(
                TLSMemoryBIOFactory(self.context, False, _OneProtocol(server)))
            reactor.connectTCP("127.0.0.1", portNumber,
                               TLSMemoryBIOFactory(creator, True, _OneProtocol(client)))
        try:
            clientView, serverView = yield defer.gatherResults(
                [client.handshake, server.handshake], consumeErrors=True)
        finally:
            if client.transport is not None:
                client.transport.loseConnection()
            yield defer.DeferredList([client.lost, server.lost])
        return server, clientView, serverView

    def assertBindingsMatch(self, clientView, serverView):
        """
        The server's bindings are what the client computes (RFC 5929 §3,
        §4.1; RFC 9266 §2).
        """
        bindings = serverView["bindings"]
        der = clientView["certificate"].public_bytes(serialization.Encoding.DER)
        self.assertEqual(bindings["tls-server-end-point"], hashlib.sha256(der).digest())
        if clientView["version"] == "TLSv1.3":
            self.assertEqual(bindings["tls-exporter"], clientView["exporter"])
            self.assertNotIn("tls-unique", bindings)
        else:
            # The first Finished of the handshake: the client's in a full
            # handshake, the server's in a resumed one.
            first = clientView["peerFinished" if clientView["reused"] else "finished"]
            self.assertEqual(bindings["tls-unique"], first)
            self.assertNotIn("tls-exporter", bindings)

    def assertSCRAMPlus(self, serverBindings, kind, clientData):
        """
        SCRAM-SHA-256-PLUS succeeds between the server's bindings and the
        client's own computation of C{kind}.
        """
        auth = FakeAuth()
        auth.addUser("user", "pencil")
        mechanism = makeMechanism("SCRAM-SHA-256-PLUS", auth, serverBindings, True)
        client = scramp.ScramClient(["SCRAM-SHA-256-PLUS"], "user", "pencil",
                                    channel_binding=(kind, clientData))
        challenge = self.successResultOf(mechanism.start(client.get_client_first().encode()))
        client.set_server_first(challenge.data.decode())
        success = self.successResultOf(mechanism.step(client.get_client_final().encode()))
        client.set_server_final(success.data.decode())

    @defer.inlineCallbacks
    def test_startTLS(self):
        """
        STARTTLS on a TCP transport: TLS 1.3 by default, SNI picks the host.
        """
        server, clientView, serverView = yield self.connect(
            ClientCreator("chat.example.com"), startTLS=True)
        self.assertIsNone(server.beforeTLS)
        self.assertEqual((clientView["version"], serverView["version"]), ("TLSv1.3", "TLSv1.3"))
        self.assertEqual(_dnsNames(clientView["certificate"]), ["chat.example.com"])
        self.assertBindingsMatch(clientView, serverView)
        der = clientView["certificate"].public_bytes(serialization.Encoding.DER)
        self.assertSCRAMPlus(serverView["bindings"], "tls-server-end-point",
                             scramp.core.CBindData.from_der(der).data)

    @defer.inlineCallbacks
    def test_startTLS12(self):
        server, clientView, serverView = yield self.connect(
            ClientCreator("example.org", maxVersion=SSL.TLS1_2_VERSION), startTLS=True)
        self.assertEqual(serverView["version"], "TLSv1.2")
        self.assertBindingsMatch(clientView, serverView)
        self.assertSCRAMPlus(serverView["bindings"], "tls-unique", clientView["finished"])

    @defer.inlineCallbacks
    def test_directTLS(self):
        for serverName, expected in (("chat.example.com", "chat.example.com"),
                                     ("CHAT.example.com", "chat.example.com"),
                                     ("example.org", "example.org"),
                                     (None, "example.org"),
                                     ("unknown.example", "example.org")):
            server, clientView, serverView = yield self.connect(
                ClientCreator(serverName), startTLS=False)
            self.assertEqual(_dnsNames(clientView["certificate"]), [expected])
            self.assertBindingsMatch(clientView, serverView)

    @defer.inlineCallbacks
    def test_directTLS12(self):
        server, clientView, serverView = yield self.connect(
            ClientCreator("chat.example.com", maxVersion=SSL.TLS1_2_VERSION), startTLS=False)
        self.assertEqual(clientView["version"], "TLSv1.2")
        self.assertEqual(_dnsNames(clientView["certificate"]), ["chat.example.com"])
        self.assertBindingsMatch(clientView, serverView)

    @defer.inlineCallbacks
    def test_resumedTLS12(self):
        """
        RFC 5929 §3.1: after an abbreviated handshake tls-unique is the
        server's Finished message.
        """
        creator = ClientCreator("example.org", maxVersion=SSL.TLS1_2_VERSION)
        _, first, _ = yield self.connect(creator, startTLS=False)
        self.assertFalse(first["reused"])
        creator.session = first["session"]
        _, clientView, serverView = yield self.connect(creator, startTLS=False)
        self.assertTrue(clientView["reused"])
        self.assertBindingsMatch(clientView, serverView)

    @defer.inlineCallbacks
    def test_tls11Refused(self):
        """
        RFC 7590 §3.1 (via RFC 7525 §3.1.1): nothing below TLS 1.2.  A
        client that would speak TLS 1.1 at most gets a protocol_version
        alert from the server.
        """
        server = ServerSide(self.context)
        client = ClientSide(ClientCreator(maxVersion=SSL.TLS1_1_VERSION, weak=True), False)
        portNumber = self.listen(TLSMemoryBIOFactory(self.context, False, _OneProtocol(server)))
        reactor.connectTCP("127.0.0.1", portNumber,
                           TLSMemoryBIOFactory(client.creator, True, _OneProtocol(client)))
        results = yield defer.DeferredList([server.handshake, client.handshake],
                                           consumeErrors=True)
        yield defer.DeferredList([client.lost, server.lost])
        (serverOK, serverFailure), (clientOK, clientFailure) = results
        self.assertFalse(serverOK or clientOK)
        self.assertIn("unsupported protocol", str(serverFailure.value))
        self.assertIn("alert protocol version", str(clientFailure.value))

    @defer.inlineCallbacks
    def test_stdlibClient(self):
        """
        A stdlib C{ssl} client over Direct TLS agrees on tls-unique and
        tls-server-end-point.
        """
        server = ServerSide(self.context)
        portNumber = self.listen(TLSMemoryBIOFactory(self.context, False, _OneProtocol(server)))

        def client():
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            with socket.create_connection(("127.0.0.1", portNumber), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname="chat.example.com") as tls:
                    return (tls.get_channel_binding("tls-unique"),
                            tls.getpeercert(binary_form=True))

        unique, der = yield threads.deferToThread(client)
        serverView = yield server.handshake
        yield server.lost
        self.assertEqual(serverView["bindings"]["tls-unique"], unique)
        self.assertEqual(serverView["bindings"]["tls-server-end-point"],
                         hashlib.sha256(der).digest())
        self.assertEqual(_dnsNames(x509.load_der_x509_certificate(der)), ["chat.example.com"])


class TLSConnectionOfTests(unittest.TestCase):

    def test_plaintext(self):
        self.assertIsNone(tlsConnectionOf(StringTransport()))
        self.assertIsNone(tlsConnectionOf(object()))

    def test_noHandshake(self):
        """
        A connection that has not shaken hands has no bindings.
        """
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        self.assertEqual(channelBindings(SSL.Connection(context, None)), {})


class ReplaceTests(unittest.TestCase):
    """
    L{ServerTLSContext.replace}: a configuration reload's new certificates,
    for the connections made from then on.
    """

    def test_replace(self):
        directory = self.mktemp()
        os.makedirs(directory)
        first = (os.path.join(directory, "a.crt"), os.path.join(directory, "a.key"))
        second = (os.path.join(directory, "b.crt"), os.path.join(directory, "b.key"))
        generateSelfSigned(["localhost"], *first)
        generateSelfSigned(["localhost"], *second)
        context = ServerTLSContext({"localhost": first}, "localhost")
        before = context.serverConnectionForTLS(None).get_context()
        context.replace({"localhost": second}, "localhost")
        after = context.serverConnectionForTLS(None).get_context()
        self.assertIsNot(before, after)
        with open(os.path.join(directory, "bad.crt"), "w") as f:
            f.write("not a certificate")
        self.assertRaises(Exception, context.replace,
                          {"localhost": (os.path.join(directory, "bad.crt"), second[1])},
                          "localhost")
        self.assertIs(context.serverConnectionForTLS(None).get_context(), after)
