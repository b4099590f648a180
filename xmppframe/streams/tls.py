"""
TLS for client streams: host certificates, the server-side OpenSSL
contexts (STARTTLS, RFC 6120 §5, and Direct TLS, XEP-0368), and the
channel-binding data SCRAM-*-PLUS binds to (RFC 5929, RFC 9266).

Protocol parameters follow RFC 7590 ("Use of TLS in XMPP"), which points
to the BCP 195 recommendations: TLS 1.2 or later, no TLS compression, no
renegotiation, AEAD cipher suites with forward secrecy (ECDHE), and the
server's cipher preference.
"""

import datetime
import hashlib
import os
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from zope.interface import implementer

from twisted.internet.interfaces import IOpenSSLServerConnectionCreator

from xmppframe.privatefiles import makePrivateDirectories

#: TLS 1.2 cipher suites: ECDHE key exchange and AEAD ciphers only
#: (RFC 7525 §4.2).  TLS 1.3 suites are all AEAD with forward secrecy and
#: keep OpenSSL's defaults.
TLS12_CIPHERS = b"ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

#: The label of the tls-exporter channel binding (RFC 9266 §2).
EXPORTER_LABEL = b"EXPORTER-Channel-Binding"
EXPORTER_LENGTH = 32


class TLSConfigError(Exception):
    """
    A certificate or key cannot be used; the message names the file and
    says why, for the administrator.
    """


def _aLabel(domain):
    """
    The ASCII form of C{domain}, as certificates and SNI carry it
    (RFC 6125 §6.4.2 compares A-labels).
    """
    domain = domain.rstrip(".").lower()
    try:
        domain.encode("ascii")
        return domain
    except UnicodeEncodeError:
        pass
    try:
        import idna
        return idna.encode(domain, uts46=True).decode("ascii")
    except ImportError:  # pragma: no cover - idna comes with Twisted
        return domain.encode("idna").decode("ascii")


def _writePrivate(path, data):
    """
    Write C{data} to C{path} readable by the owner only, replacing the
    file atomically so that a reader never sees half a key.
    """
    temporary = "%s.%s.tmp" % (path, secrets.token_hex(4))
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _writePublic(path, data):
    temporary = "%s.%s.tmp" % (path, secrets.token_hex(4))
    with open(temporary, "wb") as f:
        f.write(data)
    os.replace(temporary, path)


def generateSelfSigned(domains, certPath, keyPath, days=3650, now=None):
    """
    Make an ECDSA P-256 key and a self-signed certificate for C{domains}.

    The domains go into the subjectAltName as DNS-IDs, which is where
    XMPP clients look (RFC 6125 §6.4, RFC 7590 §3.1); the first one is also
    the subject's CN for older software.  Parent directories are created;
    the key file is mode 0600.

    @param domains: a non-empty list of domain names.
    @param now: the start of validity (a timezone-aware datetime), for
        tests; the current time by default.
    """
    domains = [_aLabel(d) for d in domains]
    if not domains or not all(domains):
        raise TLSConfigError("a self-signed certificate needs at least one domain name")
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = []
    if len(domains[0]) <= 64:  # the upper bound of a CN (RFC 5280 ub-common-name)
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, domains[0]))
    name = x509.Name(attributes)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(d) for d in domains]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    for path in (certPath, keyPath):
        # Every directory made here (the data directory too) is 0700.
        makePrivateDirectories(os.path.dirname(os.path.abspath(path)))
    _writePrivate(keyPath, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    _writePublic(certPath, certificate.public_bytes(serialization.Encoding.PEM))


def _loadInto(context, certPath, keyPath):
    """
    Load a certificate chain and its key into C{context}, turning every
    problem into a L{TLSConfigError} that names the file.
    """
    for label, path in (("certificate", certPath), ("key", keyPath)):
        if not os.path.isfile(path):
            raise TLSConfigError("TLS %s file %s does not exist" % (label, path))
        if not os.access(path, os.R_OK):
            raise TLSConfigError("TLS %s file %s is not readable" % (label, path))
    try:
        context.use_certificate_chain_file(certPath)
    except SSL.Error as e:
        raise TLSConfigError("cannot load the TLS certificate %s: %s"
                             % (certPath, _describe(e)))
    try:
        context.use_privatekey_file(keyPath)
    except SSL.Error as e:
        raise TLSConfigError("cannot load the TLS key %s: %s" % (keyPath, _describe(e)))
    try:
        context.check_privatekey()
    except SSL.Error:
        raise TLSConfigError("the TLS key %s does not belong to the certificate %s"
                             % (keyPath, certPath))


def _describe(error):
    """
    The reason strings of an OpenSSL error stack, or a generic phrase.
    """
    reasons = [entry[2] for entry in (error.args[0] if error.args else [])
               if isinstance(entry, tuple) and len(entry) == 3 and entry[2]]
    return ", ".join(reasons) or "not a PEM file of the right kind"


def checkCertificate(certPath, keyPath):
    """
    Check that C{certPath} and C{keyPath} load and belong together.

    @raise TLSConfigError: naming the file at fault.
    """
    _loadInto(SSL.Context(SSL.TLS_SERVER_METHOD), certPath, keyPath)


def ensureHostCertificate(name, certificate, key, dataDir):
    """
    Find (or make) the certificate of host C{name}.

    With a configured C{certificate} (and C{key}, or C{None} when the key is
    in the certificate file), check that they load.  With neither, use
    C{<dataDir>/certs/<name>.crt} and C{.key}, generating a self-signed pair
    if either is missing.

    @return: C{(certPath, keyPath, generated)}.
    @raise TLSConfigError: a configured file is missing or unusable, or a
        key is given without a certificate.
    """
    if certificate:
        keyPath = key or certificate
        checkCertificate(certificate, keyPath)
        return certificate, keyPath, False
    if key:
        raise TLSConfigError("host %s: a TLS key (%s) is configured without a certificate"
                             % (name, key))
    if not name or os.sep in name or (os.altsep and os.altsep in name) or name.startswith("."):
        raise TLSConfigError("cannot store a certificate for host name %r" % (name,))
    directory = os.path.join(dataDir, "certs")
    certPath = os.path.join(directory, name + ".crt")
    keyPath = os.path.join(directory, name + ".key")
    generated = False
    if not (os.path.exists(certPath) and os.path.exists(keyPath)):
        generateSelfSigned([name], certPath, keyPath)
        generated = True
    checkCertificate(certPath, keyPath)
    return certPath, keyPath, generated


@implementer(IOpenSSLServerConnectionCreator)
class ServerTLSContext:
    """
    Server-side TLS for every host: one C{SSL.Context} per host, chosen by
    the client's Server Name Indication (RFC 6066 §3; RFC 7590 §3.1 asks XMPP
    clients to send it), the default host's when there is none or it is
    unknown.

    Usable both for STARTTLS (C{transport.startTLS(context)}) and for
    Direct TLS listeners (C{TLSMemoryBIOFactory(context, False, factory)}).

    @param certificates: host name -> C{(certPath, keyPath)}.
    @param defaultName: the host whose certificate is used without SNI.
    """

    def __init__(self, certificates, defaultName):
        self.replace(certificates, defaultName)

    def replace(self, certificates, defaultName):
        """
        Load C{certificates} (as for the constructor) for the connections
        made from now on; those under way keep theirs.  Nothing changes
        when one does not load.

        @raise TLSConfigError: or OpenSSL's error, for a certificate that
            does not load.
        """
        if defaultName not in certificates:
            raise TLSConfigError("no certificate for the default host %r" % (defaultName,))
        contexts = {}
        for name, (certPath, keyPath) in certificates.items():
            context = self._makeContext(name, certPath, keyPath)
            contexts[_aLabel(name)] = context
            contexts.setdefault(name, context)
        default = contexts[defaultName]
        default.set_tlsext_servername_callback(self._selectContext)
        self._contexts, self._default = contexts, default

    @staticmethod
    def _makeContext(name, certPath, keyPath):
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION
                            | SSL.OP_CIPHER_SERVER_PREFERENCE | SSL.OP_SINGLE_ECDH_USE)
        context.set_cipher_list(TLS12_CIPHERS)
        # OpenSSL keeps a read and a write buffer of about 17 KiB each for
        # every connection, for the connection's life; an idle stream needs
        # neither, so they are given back when empty.
        context.set_mode(SSL.MODE_RELEASE_BUFFERS)
        # A session id context lets TLS 1.2 sessions resume per host.
        context.set_session_id(hashlib.sha256(name.encode("utf-8")).digest()[:32])
        _loadInto(context, certPath, keyPath)
        return context

    def _selectContext(self, connection):
        """
        The SNI callback: switch to the named host's context.
        """
        requested = connection.get_servername()
        if not requested:
            return
        try:
            name = requested.decode("ascii").rstrip(".").lower()
        except UnicodeDecodeError:
            return
        context = self._contexts.get(name)
        if context is not None and context is not self._default:
            connection.set_context(context)

    def serverConnectionForTLS(self, protocol):
        """
        A fresh server-side connection, in the default host's context until
        SNI says otherwise.
        """
        return SSL.Connection(self._default, None)


def tlsConnectionOf(transport):
    """
    The C{OpenSSL.SSL.Connection} under a Twisted transport: a TCP
    transport after C{startTLS}, or a L{TLSMemoryBIOProtocol} (Direct TLS).

    @return: the connection, or C{None} for a transport without TLS.
    """
    getHandle = getattr(transport, "getHandle", None)
    if getHandle is None:
        return None
    try:
        handle = getHandle()
    except Exception:
        return None
    if isinstance(handle, SSL.Connection):
        return handle
    return None


def _sessionReused(connection):
    """
    Whether the last handshake resumed a session, or C{None} when
    pyOpenSSL cannot tell (it has no public API for it).
    """
    lib = getattr(SSL, "_lib", None)
    reused = getattr(lib, "SSL_session_reused", None)
    ssl = getattr(connection, "_ssl", None)
    if reused is None or ssl is None:
        return None
    return bool(reused(ssl))


def serverEndPoint(certificate):
    """
    The tls-server-end-point binding of C{certificate} (RFC 5929 §4.1): its
    DER hashed with its signature's hash, SHA-256 instead of MD5 or SHA-1.

    @param certificate: a C{cryptography} certificate.
    @return: the hash, or C{None} when the signature uses no single hash
        (Ed25519, Ed448), for which the binding is undefined.
    """
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None:
        return None
    name = algorithm.name
    if name in ("md5", "sha1"):
        name = "sha256"
    try:
        digest = hashlib.new(name)
    except ValueError:
        return None
    digest.update(certificate.public_bytes(serialization.Encoding.DER))
    return digest.digest()


def channelBindings(connection):
    """
    The channel bindings of an established server-side TLS connection.

      - C{'tls-server-end-point'} (RFC 5929 §4): the hash of our
        certificate;
      - C{'tls-exporter'} (RFC 9266), TLS 1.3 only: keying material
        exported with the label C{EXPORTER-Channel-Binding};
      - C{'tls-unique'} (RFC 5929 §3), TLS 1.2 only: the first Finished
        message of the handshake, the client's unless the session was
        resumed.

    @return: a dict of binding type to bytes; only the types available on
        this connection (empty before the handshake is complete).
    """
    bindings = {}
    version = connection.get_protocol_version_name()
    if version not in ("TLSv1.2", "TLSv1.3"):
        return bindings
    ours = connection.get_certificate(as_cryptography=True)
    if ours is not None:
        endPoint = serverEndPoint(ours)
        if endPoint:
            bindings["tls-server-end-point"] = endPoint
    if version == "TLSv1.3":
        try:
            bindings["tls-exporter"] = connection.export_keying_material(
                EXPORTER_LABEL, EXPORTER_LENGTH)
        except SSL.Error:
            pass
    else:
        reused = _sessionReused(connection)
        if reused is not None:
            first = connection.get_finished() if reused else connection.get_peer_finished()
            if first:
                bindings["tls-unique"] = first
    return bindings


__all__ = ["TLSConfigError", "generateSelfSigned", "checkCertificate",
           "ensureHostCertificate", "ServerTLSContext", "tlsConnectionOf",
           "channelBindings", "serverEndPoint"]

