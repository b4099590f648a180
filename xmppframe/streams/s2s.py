"""
Server-to-server streams (RFC 6120, C{jabber:server}): the receiving side
(L{S2SInStream}) and the initiating side (L{S2SOutStream}), with the TLS
pieces they need and the C{jabber:client} <-> C{jabber:server} conversion.

An s2s stream carries stanzas one way only (RFC 6120 §4.2.2 n. 6): the
initiating server sends, the receiving server reads.  Authentication of the
initiating server is either SASL EXTERNAL with its certificate (RFC 6120
§6, XEP-0178) or server dialback (XEP-0220), and one stream may be
authenticated for several domain pairs (XEP-0220 §2.5, "piggybacking").

The queueing, connecting and routing around these streams is in
L{xmppframe.streams.s2smanager}.
"""

import base64
import binascii
import secrets
import ssl

from lxml import etree
from OpenSSL import SSL, crypto
from service_identity import VerificationError
from service_identity.cryptography import verify_certificate_hostname
from zope.interface import implementer

from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from xmppframe.errors import StreamError
from xmppframe.interfaces import ISession
from xmppframe.jid import InvalidJID
from xmppframe.streams.dialback import NS_DIALBACK, NS_DIALBACK_FEATURE, dialbackKey, keysMatch
from xmppframe.streams.tls import TLS12_CIPHERS, ServerTLSContext, _aLabel, tlsConnectionOf
from xmppframe.streams.xmlstream import XMLStream
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement, serialize

__all__ = [
    "toServerNamespace", "toClientNamespace", "switchNamespace", "CertificateVerifier",
    "S2SServerTLSContext", "S2SClientTLSCreator", "S2SInStream", "S2SOutStream",
    "S2SFactory", "s2sDirectTLSFactory",
]

_SERVER_STANZAS = frozenset(NS.qname(NS.SERVER, kind) for kind in ("message", "presence", "iq"))
_STARTTLS = NS.qname(NS.TLS, "starttls")
_PROCEED = NS.qname(NS.TLS, "proceed")
_TLS_FAILURE = NS.qname(NS.TLS, "failure")
_FEATURES = NS.qname(NS.STREAMS, "features")
_STREAM_ERROR = NS.qname(NS.STREAMS, "error")
_SASL_AUTH = NS.qname(NS.SASL, "auth")
_SASL_MECHANISMS = NS.qname(NS.SASL, "mechanisms")
_SASL_SUCCESS = NS.qname(NS.SASL, "success")
_SASL_FAILURE = NS.qname(NS.SASL, "failure")
_DB_RESULT = NS.qname(NS_DIALBACK, "result")
_DB_VERIFY = NS.qname(NS_DIALBACK, "verify")
_DB_FEATURE = NS.qname(NS_DIALBACK_FEATURE, "dialback")


# Namespaces

def _namespaceOf(tag):
    return tag[1:tag.index("}")] if tag[:1] == "{" else None


def switchNamespace(element, old, new):
    """
    A copy of C{element} in which the element and every descendant in
    namespace C{old} is in C{new} instead (RFC 6120 §4.8.3: a server
    converts C{jabber:client} stanzas to C{jabber:server} for s2s and back).

    The copy is rebuilt element by element so that each namespace ends up
    as the default namespace where it starts, and the stanza serializes as
    C{<message xmlns='jabber:server'>} without invented prefixes.  The
    given element is never changed: another session may still write it.
    """
    oldPrefix = "{%s}" % (old,)
    newPrefix = "{%s}" % (new,)
    cut = len(oldPrefix)

    def renamed(tag):
        return newPrefix + tag[cut:] if tag.startswith(oldPrefix) else tag

    rootTag = renamed(element.tag)
    rootNamespace = _namespaceOf(rootTag)
    root = etree.Element(rootTag, dict(element.attrib),
                         nsmap={None: rootNamespace} if rootNamespace else None)
    root.text = element.text
    pending = [(element, root, rootNamespace)]
    while pending:
        source, target, default = pending.pop()
        for child in source:
            if not isinstance(child.tag, str):
                continue
            tag = renamed(child.tag)
            namespace = _namespaceOf(tag)
            if namespace == default or namespace is None:
                copy = etree.SubElement(target, tag, dict(child.attrib))
            else:
                copy = etree.SubElement(target, tag, dict(child.attrib), nsmap={None: namespace})
            copy.text = child.text
            copy.tail = child.tail
            if len(child):
                pending.append((child, copy, namespace))
    return root


def toServerNamespace(stanza):
    """
    The C{jabber:server} copy of a C{jabber:client} stanza, for writing to
    an s2s stream.
    """
    return switchNamespace(stanza, NS.CLIENT, NS.SERVER)


def toClientNamespace(stanza):
    """
    The C{jabber:client} copy of a stanza read from an s2s stream, as the
    rest of the server handles them.
    """
    return switchNamespace(stanza, NS.SERVER, NS.CLIENT)


# Certificates

class CertificateVerifier:
    """
    Checks a peer's certificate as RFC 6120 §13.7.2 and RFC 6125 say: a
    chain to a trust anchor (the system store, plus C{caFile}), and a
    DNS-ID matching the peer's domain (XEP-0178 §3 for the receiving side).

    @param caFile: a PEM file of extra trust anchors, or C{None}.
    @param useSystemStore: whether the system's trust anchors count.
    """

    _log = Logger()

    def __init__(self, caFile=None, useSystemStore=True):
        self.caFile = caFile
        self.useSystemStore = useSystemStore
        self._store = None

    def _trustStore(self):
        if self._store is None:
            store = crypto.X509Store()
            if self.useSystemStore:
                paths = ssl.get_default_verify_paths()
                for cafile, capath in ((paths.cafile, None), (None, paths.capath)):
                    if cafile or capath:
                        try:
                            store.load_locations(cafile, capath)
                        except (crypto.Error, SSL.Error, OSError):
                            pass
            if self.caFile:
                store.load_locations(self.caFile)
            self._store = store
        return self._store

    def verify(self, connection, domain):
        """
        Whether the peer of the TLS C{connection} holds a certificate valid
        for C{domain}.

        @return: C{(valid, reason)}; C{reason} says why not, for the log.
        """
        if connection is None or not domain:
            return False, "no TLS"
        leaf = connection.get_peer_certificate()
        if leaf is None:
            return False, "no certificate"
        leafDigest = leaf.digest("sha256")
        chain = [c for c in (connection.get_peer_cert_chain() or [])
                 if c.digest("sha256") != leafDigest]
        try:
            crypto.X509StoreContext(self._trustStore(), leaf, chain).verify_certificate()
        except crypto.X509StoreContextError as e:
            return False, "untrusted certificate (%s)" % (e,)
        try:
            verify_certificate_hostname(leaf.to_cryptography(), _aLabel(domain))
        except (VerificationError, ValueError) as e:
            return False, "certificate not valid for %s (%s)" % (domain, e)
        return True, None


def _acceptAny(connection, certificate, errno, depth, ok):
    """
    Ask for the peer's certificate but let the handshake go on whatever it
    is: validity decides the authentication method, not the connection
    (XEP-0178 §3; an unverified peer may still use dialback).
    """
    return True


class S2SServerTLSContext(ServerTLSContext):
    """
    The receiving side's TLS: each host's certificate by SNI, as for
    clients, and the peer server asked for its certificate (optional) so
    that SASL EXTERNAL can be offered (XEP-0178 §3).
    """

    @staticmethod
    def _makeContext(name, certPath, keyPath):
        context = ServerTLSContext._makeContext(name, certPath, keyPath)
        context.set_verify(SSL.VERIFY_PEER, _acceptAny)
        return context


@implementer(IOpenSSLClientConnectionCreator)
class S2SClientTLSCreator:
    """
    The initiating side's TLS: our host's certificate as client
    certificate (so the peer can use SASL EXTERNAL), SNI naming the peer's
    domain (RFC 7590 §3.1).  The peer's certificate is checked after the
    handshake by L{CertificateVerifier}, so that a failed check can fall
    back to dialback instead of breaking the connection.
    """

    def __init__(self, remoteDomain, certPath=None, keyPath=None):
        self.remoteDomain = remoteDomain
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION)
        context.set_cipher_list(TLS12_CIPHERS)
        context.set_verify(SSL.VERIFY_NONE, _acceptAny)
        if certPath:
            context.use_certificate_chain_file(certPath)
            context.use_privatekey_file(keyPath or certPath)
        self._context = context

    def clientConnectionForTLS(self, tlsProtocol):
        connection = SSL.Connection(self._context, None)
        connection.set_tlsext_host_name(_aLabel(self.remoteDomain).encode("ascii"))
        connection.set_connect_state()
        return connection


# Streams

def _versionAtLeastOne(text):
    try:
        major, minor = (text or "").split(".")
        return (int(major), int(minor)) >= (1, 0)
    except ValueError:
        return False


def _majorAboveOne(text):
    """
    RFC 6120 §4.7.5: a major version above ours (1) cannot interoperate;
    a higher minor version is answered with ours.
    """
    try:
        return int((text or "").split(".")[0]) > 1
    except ValueError:
        return False


def _streamHeader(**attributes):
    parts = ["<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' xmlns:db='%s'"
             % (NS.SERVER, NS.STREAMS, NS_DIALBACK)]
    for name, value in attributes.items():
        if value is not None:
            parts.append(" %s='%s'" % (name, _attributeText(value)))
    parts.append(">")
    return "".join(parts).encode("utf-8")


def _attributeText(value):
    return (value.replace("&", "&amp;").replace("<", "&lt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


def _dialbackElement(kind, **attributes):
    element = etree.Element(NS.qname(NS_DIALBACK, kind), nsmap={"db": NS_DIALBACK})
    for name, value in attributes.items():
        if value is not None:
            element.set(name, value)
    return element


class _S2SStream(XMLStream):
    """
    What both directions share beyond every L{XMLStream}: the manager,
    negotiation elements, STARTTLS restarts.

    @ivar manager: the L{xmppframe.streams.s2smanager.S2SManager}, whose
        C{context} is the stream's.
    """

    _log = Logger()
    kind = None
    host = None
    jid = None

    def __init__(self, manager, directTLS=False):
        XMLStream.__init__(self, manager.context)
        self.manager = manager
        self.config = manager.config
        self._jids = manager.context.router.jids
        self.encrypted = directTLS
        self.streamID = None

    def connectionMade(self):
        peer = self.transport.getPeer()
        self.peerHost = "%s:%s" % (getattr(peer, "host", peer), getattr(peer, "port", ""))
        self._startParsing(NS.SERVER, self.config.max_stanza_size,
                           self.config.read_rate, self.config.read_burst,
                           self.config.max_pending, self.config.header_timeout,
                           limitsFrom=self.config)

    def connectionLost(self, reason):
        XMLStream.connectionLost(self, reason)
        self._connectionGone(reason)

    def _connectionGone(self, reason):
        """
        The connection is gone; subclasses tell the manager.
        """

    def sendElement(self, element):
        if not self.closing:
            self._write(serialize(element))

    def tlsConnection(self):
        return tlsConnectionOf(self.transport) if self.encrypted else None

    def _restart(self):
        self._headerSent = False
        self._resetParser()


@implementer(ISession)
class S2SInStream(_S2SStream):
    """
    A stream another server opened to us (the receiving server).

    @ivar authenticated: the set of C{(remoteDomain, localDomain)} pairs
        this stream may carry stanzas for.
    """

    kind = "s2s-in"

    def __init__(self, manager, directTLS=False):
        _S2SStream.__init__(self, manager, directTLS)
        self.localDomain = None
        self.claimedDomain = None
        self.authenticated = set()
        self.saslDone = False
        self._peerCertificateValid = None
        self._version1 = True

    # Header and features

    def _sendHeader(self):
        if self._headerSent:
            return
        self._headerSent = True
        self.streamID = secrets.token_urlsafe(12)
        self._write(_streamHeader(
            id=self.streamID, to=self.claimedDomain,
            version="1.0" if self._version1 else None,
            **{"from": self.localDomain or self.context.defaultHost.name}))

    def _onHeader(self, header):
        attrib = header.attrib
        to = attrib.get("to")
        host = self.context.hostFor(to) if to else None
        claimed = attrib.get("from")
        if claimed:
            try:
                claimed = self._jids.parse(claimed).domain
            except InvalidJID:
                claimed = None
        self.claimedDomain = claimed
        self._version1 = _versionAtLeastOne(attrib.get("version"))
        if host is not None:
            self.localDomain = host.name
            self.host = host
        self._sendHeader()
        if host is None:
            # RFC 6120 §4.9.3.6
            raise StreamError("host-unknown", "This server does not serve %s" % (to,))
        if _majorAboveOne(attrib.get("version")):
            # §4.9.3.25
            raise StreamError("unsupported-version", "XMPP 1.0 is required")
        if not self._version1:
            if not self.config.dialback:
                raise StreamError("unsupported-version", "XMPP 1.0 is required")
            return
        self._write(serialize(self._features()))

    def _tlsOffered(self):
        return not self.encrypted and self.manager.serverTLS is not None

    def _features(self):
        features = etree.Element(_FEATURES, nsmap={"stream": NS.STREAMS})
        if self._tlsOffered():
            starttls = etree.SubElement(features, _STARTTLS, nsmap={None: NS.TLS})
            if self.config.require_encryption:
                # RFC 6120 §5.3.1: a mandatory STARTTLS is offered alone.
                etree.SubElement(starttls, NS.qname(NS.TLS, "required"))
                return features
        if not self.saslDone and self._certificateValidFor(self.claimedDomain):
            mechanisms = etree.SubElement(features, _SASL_MECHANISMS, nsmap={None: NS.SASL})
            etree.SubElement(mechanisms, NS.qname(NS.SASL, "mechanism")).text = "EXTERNAL"
        if self.config.dialback:
            dialback = etree.SubElement(features, _DB_FEATURE, nsmap={None: NS_DIALBACK_FEATURE})
            etree.SubElement(dialback, NS.qname(NS_DIALBACK_FEATURE, "errors"))
        return features

    def _certificateValidFor(self, domain):
        """
        XEP-0178 §3: EXTERNAL only for a peer whose certificate is valid
        for the domain it claims.
        """
        if not domain or not self.encrypted or not self.config.verify_certificates:
            return False
        valid, reason = self.manager.verifier.verify(self.tlsConnection(), domain)
        if not valid:
            self._log.info("s2s-in {peer}: certificate not accepted for {domain}: {reason}",
                           peer=self.peerHost, domain=domain, reason=reason)
        return valid

    # Elements

    def _onElement(self, element):
        if self.closing:
            return
        tag = element.tag
        if tag in _SERVER_STANZAS:
            self._onStanza(element)
        elif tag == _DB_RESULT:
            self._onDialbackResult(element)
        elif tag == _DB_VERIFY:
            self._onDialbackVerify(element)
        elif tag == _STARTTLS and self._tlsOffered():
            self.sendElement(makeElement(NS.TLS, "proceed"))
            self.transport.startTLS(self.manager.serverTLS)
            self.encrypted = True
            self._restart()
        elif tag == _SASL_AUTH and not self.saslDone:
            self._onSASLAuth(element)
        else:
            self.close("unsupported-stanza-type", "Unexpected %s" % (tag,))

    def _encryptionMissing(self):
        if self.config.require_encryption and not self.encrypted:
            self.close("policy-violation", "Encryption is required")
            return True
        return False

    def _onSASLAuth(self, element):
        """
        SASL EXTERNAL (RFC 6120 §6.4, XEP-0178 §3): the authorization
        identity, or else the header's 'from', must be a domain the
        certificate is valid for.
        """
        if element.get("mechanism") != "EXTERNAL":
            return self._saslFailure("invalid-mechanism")
        text = (element.text or "").strip()
        domain = self.claimedDomain
        if text and text != "=":
            try:
                domain = base64.b64decode(text, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return self._saslFailure("incorrect-encoding")
        try:
            domain = self._jids.parse(domain).domain if domain else None
        except InvalidJID:
            domain = None
        if domain is None or (self.claimedDomain and domain != self.claimedDomain):
            return self._saslFailure("invalid-authzid")
        if not self._certificateValidFor(domain):
            return self._saslFailure("not-authorized")
        self.saslDone = True
        self.authenticated.add((domain, self.localDomain))
        self._log.info("s2s-in {peer} authenticated as {domain} with EXTERNAL",
                       peer=self.peerHost, domain=domain)
        self.sendElement(makeElement(NS.SASL, "success"))
        self._restart()

    def _saslFailure(self, condition):
        failure = makeElement(NS.SASL, "failure")
        etree.SubElement(failure, NS.qname(NS.SASL, condition))
        self.sendElement(failure)

    def _onDialbackResult(self, element):
        """
        XEP-0220 §2.1.2 (receiving server): a key for a domain pair; ask
        the claimed domain's authoritative server whether it is genuine.
        """
        if self._encryptionMissing():
            return
        if not self.config.dialback:
            self.close("not-authorized", "Dialback is not accepted here")
            return
        originating, receiving = element.get("from"), element.get("to")
        jids = self._jids
        try:
            originating = jids.parse(originating).domain
            receiving = jids.parse(receiving).domain
        except (InvalidJID, TypeError, AttributeError):
            self.close("improper-addressing", "db:result needs 'from' and 'to' domains")
            return
        if self.context.hostFor(receiving) is None:
            self.close("host-unknown", "This server does not serve %s" % (receiving,))
            return
        key = (element.text or "").strip()
        if not key:
            self.close("bad-format", "db:result without a key")
            return
        d = self.manager.verifyDialback(receiving, originating, self.streamID, key)

        def answer(valid):
            if self.closing:
                return
            if valid:
                self.authenticated.add((originating, receiving))
                self._log.info("s2s-in {peer} authenticated as {domain} with dialback",
                               peer=self.peerHost, domain=originating)
            self.sendElement(_dialbackElement(
                "result", type="valid" if valid else "invalid",
                **{"from": receiving, "to": originating}))
            if not valid:
                # XEP-0220 §2.4.2: invalid keys end the stream.
                self.close("not-authorized", "Dialback key of %s was invalid" % (originating,))

        def failed(failure):
            if self.closing:
                return
            self._log.info("s2s-in {peer}: cannot verify {domain}: {why}", peer=self.peerHost,
                           domain=originating, why=failure.getErrorMessage())
            reply = _dialbackElement("result", type="error",
                                     **{"from": receiving, "to": originating})
            error = etree.SubElement(reply, NS.qname(NS.SERVER, "error"), type="cancel")
            etree.SubElement(error, NS.qname(NS.STANZA_ERRORS, "remote-server-not-found"),
                             nsmap={None: NS.STANZA_ERRORS})
            self.sendElement(reply)

        d.addCallbacks(answer, failed)

    def _onDialbackVerify(self, element):
        """
        XEP-0220 §2.1.3 (authoritative server): say whether we issued the
        key, computed again from our secret.
        """
        receiving, originating = element.get("from"), element.get("to")
        streamID = element.get("id")
        if not receiving or not originating or not streamID:
            self.close("improper-addressing", "db:verify needs 'from', 'to' and 'id'")
            return
        if self.context.hostFor(originating) is None:
            self.close("host-unknown", "This server does not serve %s" % (originating,))
            return
        expected = dialbackKey(self.manager.secret, receiving, originating, streamID)
        valid = keysMatch(expected, element.text)
        self.sendElement(_dialbackElement(
            "verify", id=streamID, type="valid" if valid else "invalid",
            **{"from": originating, "to": receiving}))

    def _onStanza(self, stanza):
        """
        RFC 6120 §8.1.1.2 and §8.1.2.2: both addresses are required; 'from'
        must be a domain this stream authenticated (§4.9.3.9 invalid-from),
        'to' a domain we serve (§4.9.3.6 host-unknown).
        """
        sender, recipient = stanza.get("from"), stanza.get("to")
        if not sender or not recipient:
            self.close("improper-addressing", "s2s stanzas need 'from' and 'to'")
            return
        jids = self._jids
        try:
            senderDomain = jids.parse(sender).domain
            recipientDomain = jids.parse(recipient).domain
        except InvalidJID:
            self.close("improper-addressing", "Malformed address")
            return
        if self.context.hostFor(recipientDomain) is None:
            self.close("host-unknown", "This server does not serve %s" % (recipientDomain,))
            return
        if (senderDomain, recipientDomain) not in self.authenticated:
            self.close("invalid-from", "%s is not authenticated on this stream for %s"
                       % (senderDomain, recipientDomain))
            return
        self.manager.received(self, toClientNamespace(stanza))

    # ISession

    def send(self, stanza):
        """
        Nothing is sent on an inbound stream but negotiation (RFC 6120
        §4.2.2: s2s streams are one-way); stanzas for the peer go out
        through the manager.
        """
        self.manager.route(stanza, self._jids.parse(stanza.get("to")))

    def _connectionGone(self, reason):
        self._log.info("s2s-in {peer} closed", peer=self.peerHost)

    def __repr__(self):
        return "<S2SInStream %s from %s>" % (sorted(self.authenticated), self.peerHost)


@implementer(ISession)
class S2SOutStream(_S2SStream):
    """
    A stream we open to another server (the initiating server).

    With C{verify} set, the stream only carries one dialback verification
    request (XEP-0220 §2.1.2 step 2) to the authoritative server and ends.

    @ivar localDomain: the domain we speak for.
    @ivar remoteDomain: the domain we connect to.
    @ivar peerVerified: whether the peer's certificate is valid for
        C{remoteDomain}; known once TLS is up.
    @ivar ready: whether stanzas may be sent.
    @ivar routes: local domain -> the manager's route for each domain
        pair this stream carries (the first one, and those multiplexed).
    """

    kind = "s2s-out"

    def __init__(self, manager, localDomain, remoteDomain, directTLS=False, verify=None,
                 clientTLS=None):
        _S2SStream.__init__(self, manager, directTLS)
        self.localDomain = localDomain
        self.remoteDomain = remoteDomain
        self.verify = verify
        self.clientTLS = clientTLS
        self.peerVerified = None
        self.ready = False
        self.method = None
        self._saslTried = False
        self._dialbackSent = False
        self._failed = False
        self._multiplexPending = set()
        self.routes = {}
        self.host = self.context.hostFor(localDomain)

    @property
    def requireEncryption(self):
        return self.config.require_encryption

    def connectionMade(self):
        _S2SStream.connectionMade(self)
        self._sendHeader()

    def _sendHeader(self):
        if self._headerSent:
            return
        self._headerSent = True
        self._write(_streamHeader(
            to=self.remoteDomain, version="1.0", **{"from": self.localDomain}))

    def _onHeader(self, header):
        self.streamID = header.attrib.get("id")
        if not self.streamID:
            raise StreamError("invalid-xml", "The stream header has no id")
        if not _versionAtLeastOne(header.attrib.get("version")):
            # A pre-1.0 peer sends no features: dialback straight away.
            self._authenticate(None)

    def _onElement(self, element):
        if self.closing:
            return
        tag = element.tag
        if tag == _FEATURES:
            self._onFeatures(element)
        elif tag == _PROCEED:
            self.transport.startTLS(self.clientTLS)
            self.encrypted = True
            self._restart()
            self._sendHeader()
        elif tag == _TLS_FAILURE:
            self.fail("remote-server-not-found", "The peer refused STARTTLS")
        elif tag == _SASL_SUCCESS:
            self.method = "EXTERNAL"
            self._restart()
            self._sendHeader()
        elif tag == _SASL_FAILURE:
            self._log.info("s2s-out {domain}: SASL EXTERNAL refused", domain=self.remoteDomain)
            self._dialback()
        elif tag == _DB_RESULT:
            self._onDialbackResult(element)
        elif tag == _DB_VERIFY:
            self._onDialbackVerify(element)
        elif tag == _STREAM_ERROR:
            condition = next((child.tag.partition("}")[2] for child in element
                              if child.tag.startswith("{%s}" % NS.STREAM_ERRORS)
                              and not child.tag.endswith("}text")), "undefined-condition")
            self._peerEnded = True
            self.fail("remote-server-not-found", "stream error from the peer: %s" % (condition,))
        # Anything else (stanzas on an outbound stream) is ignored: the
        # stream is one-way (RFC 6120 §4.2.2).

    def _onFeatures(self, features):
        starttls = features.find(_STARTTLS)
        if not self.encrypted:
            if starttls is not None and self.clientTLS is not None:
                self.sendElement(makeElement(NS.TLS, "starttls"))
                return
            if self.requireEncryption:
                self.fail("remote-server-not-found", "The peer does not offer TLS")
                return
        if self.encrypted and self.peerVerified is None:
            self._checkPeer()
        if self.verify is not None:
            self._sendVerify()
            return
        if self.method == "EXTERNAL":
            self._becomeReady()
            return
        self._authenticate(features)

    def _checkPeer(self):
        if not self.config.verify_certificates:
            self.peerVerified = False
            return
        self.peerVerified, reason = self.manager.verifier.verify(
            self.tlsConnection(), self.remoteDomain)
        if not self.peerVerified:
            self._log.info("s2s-out {domain}: certificate not accepted: {reason}",
                           domain=self.remoteDomain, reason=reason)

    def _authenticate(self, features):
        """
        SASL EXTERNAL when the peer's certificate checks out and the peer
        offers it (XEP-0178 §2), else dialback (XEP-0220) when enabled.
        """
        mechanisms = features.find(_SASL_MECHANISMS) if features is not None else None
        offered = set()
        if mechanisms is not None:
            offered = {(m.text or "").strip() for m in mechanisms}
        if self.peerVerified and "EXTERNAL" in offered and not self._saslTried:
            self._saslTried = True
            auth = makeElement(NS.SASL, "auth", {"mechanism": "EXTERNAL"})
            auth.text = base64.b64encode(self.localDomain.encode("utf-8")).decode("ascii")
            self.sendElement(auth)
            return
        self._dialback()

    def _dialback(self):
        if not self.config.dialback:
            self.fail("remote-server-not-found",
                      "Cannot authenticate: no valid certificate for SASL EXTERNAL and "
                      "dialback is disabled")
            return
        if self._dialbackSent:
            return
        self._dialbackSent = True
        key = dialbackKey(self.manager.secret, self.remoteDomain, self.localDomain,
                          self.streamID)
        element = _dialbackElement("result", **{"from": self.localDomain, "to": self.remoteDomain})
        element.text = key
        self.sendElement(element)

    def canMultiplex(self):
        """
        Whether another local domain may be added to this stream by
        dialback: only on a stream itself authenticated by dialback and
        ready.  A stream authenticated with SASL EXTERNAL vouches for the
        certificate's one domain (XEP-0178); another domain gets a stream
        of its own.
        """
        return (self.ready and not self.closing and self.verify is None
                and self.method == "dialback")

    def requestDialback(self, localDomain):
        """
        Sender multiplexing (XEP-0220 "Multiplexing Sender Domains", also
        known as piggybacking): ask the peer to accept C{localDomain} on
        this stream with a db:result of its own; the answer goes to the
        manager's C{outboundReady(self, localDomain)} or
        C{multiplexFailed(self, localDomain, text)}.
        """
        self._multiplexPending.add(localDomain)
        element = _dialbackElement("result", **{"from": localDomain, "to": self.remoteDomain})
        element.text = dialbackKey(self.manager.secret, self.remoteDomain, localDomain,
                                   self.streamID)
        self.sendElement(element)

    def _onDialbackResult(self, element):
        if element.get("from") != self.remoteDomain:
            return
        local = element.get("to")
        type = element.get("type")
        if local in self._multiplexPending:
            self._multiplexPending.discard(local)
            if type == "valid":
                self._log.info("s2s-out {local} -> {remote} multiplexed on the stream of "
                               "{first}", local=local, remote=self.remoteDomain,
                               first=self.localDomain)
                self.manager.outboundReady(self, local)
            else:
                self.manager.multiplexFailed(self, local, "Dialback %s" % (type or "refused",))
            return
        if local != self.localDomain or self.ready:
            return
        if type == "valid":
            self.method = "dialback"
            self._becomeReady()
        else:
            self.fail("remote-server-not-found", "Dialback %s" % (type or "refused",))

    def _sendVerify(self):
        if self._dialbackSent:
            return
        self._dialbackSent = True
        streamID, key = self.verify
        element = _dialbackElement("verify", id=streamID,
                                   **{"from": self.localDomain, "to": self.remoteDomain})
        element.text = key
        self.sendElement(element)

    def _onDialbackVerify(self, element):
        if self.verify is None or element.get("id") != self.verify[0]:
            return
        self.manager.verifyAnswered(self, element.get("type") == "valid")
        self.close()

    def _becomeReady(self):
        self.ready = True
        self._log.info("s2s-out {local} -> {remote} ready ({method}, {tls})",
                       local=self.localDomain, remote=self.remoteDomain, method=self.method,
                       tls="TLS" if self.encrypted else "no TLS")
        self.manager.outboundReady(self)

    def fail(self, condition, text):
        """
        Negotiation failed: tell the manager (which bounces what is queued)
        and close.
        """
        if self._failed:
            return
        self._failed = True
        self._log.info("s2s-out {local} -> {remote} failed: {text}", local=self.localDomain,
                       remote=self.remoteDomain, text=text)
        self.manager.outboundFailed(self, condition, text)
        self.close()

    def _connectionGone(self, reason):
        self.manager.outboundLost(self)

    # ISession

    def send(self, stanza):
        """
        Write a stanza in C{jabber:client}, converted to C{jabber:server}.
        """
        self.sendServerStanza(toServerNamespace(stanza))

    def sendServerStanza(self, stanza):
        if not self.closing:
            self._queueStanza(serialize(stanza))

    def __repr__(self):
        return "<S2SOutStream %s -> %s>" % (self.localDomain, self.remoteDomain)


class S2SFactory(Factory):
    """
    Builds L{S2SInStream}s for an s2s listener.
    """

    noisy = False

    def __init__(self, manager, directTLS=False):
        self.manager = manager
        self.directTLS = directTLS

    def buildProtocol(self, addr):
        protocol = S2SInStream(self.manager, directTLS=self.directTLS)
        protocol.factory = self
        return protocol


def s2sDirectTLSFactory(manager):
    """
    A factory for a Direct TLS s2s listener (XEP-0368).
    """
    factory = TLSMemoryBIOFactory(manager.serverTLS, False, S2SFactory(manager, directTLS=True))
    factory.noisy = False
    return factory
