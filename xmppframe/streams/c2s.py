"""
Client-to-server streams (RFC 6120, C{jabber:client}): the protocol that
owns one client connection from the first byte to the last.

A stream goes through negotiation (TLS, SASL, bind — see
L{xmppframe.streams.negotiation}) and then hands every stanza to the
router.  It is also the client's L{IClientSession}: the router delivers to
it directly, which keeps the per-connection object count (and memory) low.
"""

import secrets

from lxml import etree
from zope.interface import implementer

from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from xmppframe.errors import StreamError
from xmppframe.interfaces import IClientSession, INegotiatingStream
from xmppframe.jid import makeJID
from xmppframe.streams.negotiation import BindResponder, SASLResponder, StartTLSResponder
from xmppframe.streams.tls import tlsConnectionOf
from xmppframe.streams.xmlstream import XMLStream
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import iqResult, serialize

_STANZA_TAGS = frozenset(NS.qname(NS.CLIENT, kind) for kind in ("message", "presence", "iq"))
_SESSION_IQ = NS.qname(NS.SESSION, "session")
_IQ = NS.qname(NS.CLIENT, "iq")
_XML_LANG = NS.qname(NS.XML, "lang")


def _versionTuple(text):
    """
    RFC 6120 §4.7.5: major and minor are separate integers.
    """
    try:
        major, minor = text.split(".")
        return int(major), int(minor)
    except (AttributeError, ValueError):
        return None


@implementer(IClientSession, INegotiatingStream)
class C2SStream(XMLStream):
    """
    One client connection.

    @ivar encrypted: whether TLS is in place (STARTTLS done, or Direct TLS).
    @ivar authenticated: the SASL-authenticated username, or C{None}.
    @ivar jid: C{None} until authentication, then the bare JID, then the
        full JID once bound.

    @param context: the L{xmppframe.streams.context.StreamContext}.
    """

    kind = "c2s"
    _log = Logger()

    def __init__(self, context, directTLS=False):
        XMLStream.__init__(self, context)
        self.config = context.c2sConfig
        self.tlsContext = context.tlsContext
        self._router = context.router
        self.requireEncryption = self.config.require_encryption
        self.mechanisms = self.config.mechanisms
        self.encrypted = directTLS
        self.authenticated = None
        self.jid = None
        self.host = None
        self.available = False
        self.priority = 0
        self.interested = False
        self.presence = None
        self.directedPresence = set()
        self.replaced = False
        self.saslState = {}
        self.saslFailures = 0
        self.saslMechanism = None
        self._streamId = None
        #: The stream header's xml:lang (RFC 6120 §4.7.4), or C{None}.
        self.lang = None
        self._lastData = 0.0
        self._responders = context.responders
        self._handlers = {}
        self._ended = False
        #: Callables C{f(session, stanza)} shown every stanza L{send} is
        #: given, in order; one that returns C{True} has taken it, to send
        #: again later (through L{send}) or never.  Modules install them,
        #: e.g. XEP-0352 holding presence back while the client is inactive.
        self.sendFilters = []

    # Connection lifecycle

    @property
    def closeGrace(self):
        return self.config.close_grace

    def connectionMade(self):
        peer = self.transport.getPeer()
        self.peerHost = getattr(peer, "host", str(peer))
        self._startParsing(NS.CLIENT, self.config.max_stanza_size,
                           self.config.read_rate, self.config.read_burst,
                           self.config.max_pending, self.config.header_timeout,
                           limitsFrom=self.config)
        self._lastData = self.reactor.seconds()
        self._timers["auth"] = self.callLater(self.config.auth_timeout, self._authTimedOut)
        if self.config.idle_timeout > 0:
            self._timers["idle"] = self.callLater(self.config.idle_timeout, self._checkIdle)
        self._log.info("c2s connection from {peer}{tls}", peer=self.peerHost,
                       tls=" (direct TLS)" if self.encrypted else "")

    def dataReceived(self, data):
        self._lastData = self.reactor.seconds()
        XMLStream.dataReceived(self, data)

    def connectionLost(self, reason):
        XMLStream.connectionLost(self, reason)
        self._endSession()
        self._log.info("c2s connection from {peer} closed{who}", peer=self.peerHost,
                       who=(" (%s)" % (self.jid,)) if self.jid is not None else "")

    @property
    def lastActivity(self):
        """
        When data last arrived on this stream, in reactor seconds: what
        liveness checks such as the server's pings (XEP-0199 §4.1) go by.
        """
        return self._lastData

    def _authTimedOut(self):
        self._timers.pop("auth", None)
        if self.jid is None or self.jid.resource is None:
            self.close("connection-timeout", "Authentication took too long")

    def _checkIdle(self):
        idle = self.config.idle_timeout
        remaining = self._lastData + idle - self.reactor.seconds()
        if remaining > 0:
            self._timers["idle"] = self.callLater(remaining, self._checkIdle)
        else:
            self._timers.pop("idle", None)
            self.close("connection-timeout", "Idle for too long")

    # Parser events

    def _onHeader(self, header):
        attrib = header.attrib
        version = _versionTuple(attrib.get("version"))
        to = attrib.get("to")
        self.lang = attrib.get(_XML_LANG) or None
        # The response header goes out with the features, in one write; if
        # the header is refused, it goes out before the stream error.
        response = self._makeHeader(to)
        try:
            host = self.context.hostFor(to) if to is not None else self.context.defaultHost
            if host is None:
                # RFC 6120 §4.9.3.6
                raise StreamError("host-unknown", "This server does not serve %s" % (to,))
            if self.host is not None and host is not self.host:
                raise StreamError("host-unknown", "A restarted stream must keep its host")
            self.host = host
            if version is None or version < (1, 0) or version[0] > 1:
                # §4.7.5: this server speaks XMPP 1.0 streams only; a higher
                # minor version (1.x) is answered with ours, a higher major
                # one cannot interoperate (§4.9.3.25).
                raise StreamError("unsupported-version", "XMPP 1.0 is required")
            features = self._features()
        except Exception:
            self._write(response)
            raise
        self._write(response + features)

    def _sendHeader(self, to=None):
        if not self._headerSent:
            self._write(self._makeHeader(to))

    def _makeHeader(self, to):
        """
        The response stream header (RFC 6120 §4.7), which counts as sent.
        """
        self._headerSent = True
        self._streamId = secrets.token_urlsafe(12)
        host = self.context.hostFor(to) if to is not None else None
        domain = (host or self.context.defaultHost).name
        return (
            "<?xml version='1.0'?>"
            "<stream:stream xmlns='%s' xmlns:stream='%s' id='%s' from='%s' "
            "version='1.0' xml:lang='en'>" % (NS.CLIENT, NS.STREAMS, self._streamId, domain)
        ).encode("utf-8")

    def _features(self):
        """
        The stream features (RFC 6120 §4.3.2) the responders offer now,
        serialized; the handlers of the elements they answer are set.

        Every login asks twice, and the answer is nearly always one of a
        few: when every responder can say what its offer depends on
        (C{offerKey}, see L{xmppframe.api.module.ModuleAPI.addStreamResponder}),
        the answer is kept in the server's L{FeaturesCache} under those keys.
        """
        responders = self._responders
        if self.host.responders:
            responders = tuple(responders) + tuple(self.host.responders)
        cache = self.context.featuresCache
        key = cache.keyFor(self, responders)
        if key is not None:
            cached = cache.get(key)
            if cached is not None:
                features, self._handlers = cached
                return features
        offers = []
        handlers = {}
        for responder in responders:
            if getattr(responder, "restrictsOthers", None) and responder.restrictsOthers(self):
                # Only it is offered and handled; the others may still
                # answer elements that come too early with their refusal
                # (SASL's <auth/> before a mandatory STARTTLS).
                for other in responders:
                    early = getattr(other, "handlersWhileRestricted", None)
                    if other is not responder and early is not None:
                        for tag, handler in early(self).items():
                            handlers[tag] = (other, handler)
                responders = [responder]
                break
        for responder in responders:
            offers.extend(responder.offer(self))
            for tag, handler in responder.handlers(self).items():
                handlers[tag] = (responder, handler)
        self._handlers = handlers
        parts = [b"<stream:features>"]
        parts.extend(serialize(offer) for offer in offers)
        parts.append(b"</stream:features>")
        features = b"".join(parts)
        if key is not None:
            cache.put(key, (features, handlers))
        return features

    def _onElement(self, element):
        if self.closing:
            return
        if self.jid is not None and self.jid.resource is not None:
            self._onStanza(element)
            return
        entry = self._handlers.get(element.tag)
        if entry is not None:
            responder, handler = entry
            handler(self, element)
            return
        if element.tag in _STANZA_TAGS:
            # RFC 6120 §4.9.3.12, §6.4.? : stanzas only after authentication.
            self.close("not-authorized", "Authenticate and bind a resource first")
        else:
            self.close("unsupported-stanza-type", "Unexpected %s during negotiation" % (element.tag,))

    def _onStanza(self, stanza):
        tag = stanza.tag
        if tag not in _STANZA_TAGS:
            handler = self.host.elementHandlers.get(tag)
            if handler is None:
                self.close("unsupported-stanza-type", "Unknown top-level element %s" % (tag,))
                return
            try:
                handler(self, stanza)
            except Exception:
                self._log.failure("handler of {tag} failed", tag=tag)
                self.close("internal-server-error")
            return
        if tag == _IQ and len(stanza) == 1 and stanza[0].tag == _SESSION_IQ:
            if stanza.get("type") == "set" and stanza.get("id") is not None:
                # RFC 3921 §3: the session is established by binding alone.
                reply = iqResult(stanza)
                if "to" in reply.attrib:
                    del reply.attrib["to"]
                self.send(reply)
                return
        lang = self.lang
        if lang is not None and _XML_LANG not in stanza.attrib:
            # RFC 6120 §4.7.4: a stanza without xml:lang is in the stream's
            # language, and the server SHOULD say so on what it routes (and
            # keeps: MAM archives this element).
            stanza.set(_XML_LANG, lang)
        self._router.process(self, stanza)

    # Negotiation callbacks (used by the responders)

    def sendElement(self, element):
        self._write(serialize(element))

    def sendBytes(self, data):
        """
        Write a negotiation element already serialized (UTF-8 bytes): for
        responders whose answers are fixed text, such as SASL's challenge
        and success, which hold nothing but base64.
        """
        self._write(data)

    def tlsConnection(self):
        if not self.encrypted:
            return None
        return tlsConnectionOf(self.transport)

    def startTLS(self):
        """
        RFC 6120 §5.4.3.3: after <proceed/>, TLS; then a fresh stream.
        """
        if self._outgoing is not None:
            self.flushOutgoing()
        self.transport.startTLS(self.tlsContext)
        self.encrypted = True
        self._restart()

    def authenticationSucceeded(self, username, mechanism):
        """
        RFC 6120 §6.4.6: after <success/>, a fresh stream.
        """
        self.authenticated = username
        self.saslMechanism = mechanism
        self.jid = makeJID(username, self.host.name)
        # The info line comes with the binding, which names the mechanism:
        # one line per login rather than two.
        self._log.debug("c2s {peer} authenticated as {jid} with {mechanism}",
                        peer=self.peerHost, jid=self.jid, mechanism=mechanism)
        self._restart()

    def bindResource(self, resource):
        full = self.context.sessions.bind(self, resource)
        timer = self._timers.pop("auth", None)
        if timer is not None and timer.active():
            timer.cancel()
        self._log.info("c2s {peer} bound {jid} (authenticated with {mechanism})",
                       peer=self.peerHost, jid=full, mechanism=self.saslMechanism)
        return full

    def _restart(self):
        self._headerSent = False
        self._handlers = {}
        self._resetParser()

    # ISession

    def send(self, stanza):
        if self.closing:
            return
        if self.sendFilters:
            for sendFilter in tuple(self.sendFilters):
                if sendFilter(self, stanza):
                    return
        self._queueStanza(serialize(stanza))

    def sendSerialized(self, data):
        """
        Write an already serialized stanza: a broadcast serializes once and
        writes the same bytes to every recipient.
        """
        if self.closing:
            return
        if self.sendFilters:
            # Filters look at elements: read our own bytes back.
            self.send(etree.fromstring(data))
            return
        self._queueStanza(data)

    def _closeStarted(self):
        self._endSession()

    def _endSession(self):
        if not self._ended and self.jid is not None and self.jid.resource is not None:
            self._ended = True
            self.context.sessions.unbind(self)

    def __repr__(self):
        return "<C2SStream %s from %s>" % (self.jid, self.peerHost)


class C2SFactory(Factory):
    """
    Builds L{C2SStream}s for a listener.  With C{directTLS}, the listener
    speaks TLS from the first byte (XEP-0368) and L{directTLSFactory}
    wraps this factory.
    """

    #: The service logs each listener once; Twisted's per-factory start and
    #: stop lines would only repeat it.
    noisy = False

    def __init__(self, context, directTLS=False):
        self.context = context
        self.directTLS = directTLS

    def buildProtocol(self, addr):
        protocol = C2SStream(self.context, directTLS=self.directTLS)
        protocol.factory = self
        return protocol


class FeaturesCache:
    """
    Serialized stream features, and the handlers that go with them, by what
    they depend on (L{C2SStream._features}).

    A responder takes part by having C{offerKey(stream)}: a hashable value
    that is equal for two streams exactly when its C{offer}, C{handlers}
    and C{restrictsOthers} give the same for both, or C{None} when it
    cannot say (the stream's TLS channel bindings, say); one responder
    without it, or answering C{None}, and the features are built afresh.
    The cache holds at most C{maxEntries}, and starts over when full.
    """

    def __init__(self, maxEntries=256):
        self.maxEntries = maxEntries
        self._entries = {}

    def keyFor(self, stream, responders):
        keys = []
        for responder in responders:
            offerKey = getattr(responder, "offerKey", None)
            if offerKey is None:
                return None
            key = offerKey(stream)
            if key is None:
                return None
            keys.append(key)
        return (stream.host, responders, tuple(keys))

    def get(self, key):
        return self._entries.get(key)

    def put(self, key, value):
        if len(self._entries) >= self.maxEntries:
            self._entries.clear()
        self._entries[key] = value


def directTLSFactory(context):
    """
    A factory for a Direct TLS c2s listener (XEP-0368), with the TLS
    context of C{context} as it is now (the server's certificates loaded).
    """
    factory = TLSMemoryBIOFactory(context.tlsContext, False, C2SFactory(context, directTLS=True))
    factory.noisy = False
    return factory
