"""
External components, server side (XEP-0114, C{jabber:component:accept}).

A component connects, names its domain in the stream header's C{to}, and
proves it knows that domain's shared secret with a C{<handshake/>} holding
C{hex(SHA1(streamID + secret))} (XEP-0114 §3).  From then on the router
delivers every stanza addressed to that domain (or a JID at it) to the
component, and the component may send stanzas from any JID at its domain
to any JID.

Inside the server stanzas are in C{jabber:client}; on a component stream
they are in C{jabber:component:accept}.  L{convertNamespace} maps one to the
other at the edge, as a c2s/s2s boundary would.

L{ComponentRegistry} holds the configured domains: it installs one route
per domain with the router (L{xmppframe.router.Router.addRoute}) for as long
as the server runs, so a stanza to a component that is not connected is
answered with C{service-unavailable} rather than sent to federation.
"""

import hashlib
import hmac
import secrets
from xml.sax.saxutils import quoteattr

from lxml import etree
from zope.interface import implementer

from twisted.internet.protocol import Factory
from twisted.logger import Logger

from xmppframe.errors import StanzaError, StreamError
from xmppframe.interfaces import ISession
from xmppframe.jid import InvalidJID, makeJID
from xmppframe.streams.xmlstream import XMLStream
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import errorReply, isError, serialize

__all__ = [
    "handshakeDigest", "convertNamespace", "ComponentRegistry", "ComponentStream",
    "ComponentFactory",
]

_HANDSHAKE = NS.qname(NS.COMPONENT_ACCEPT, "handshake")
_KINDS = ("message", "presence", "iq")
_COMPONENT_STANZAS = {NS.qname(NS.COMPONENT_ACCEPT, kind): kind for kind in _KINDS}
_VALID_TYPES = {
    "message": {None, "normal", "chat", "groupchat", "headline", "error"},
    "presence": {None, "unavailable", "subscribe", "subscribed", "unsubscribe",
                 "unsubscribed", "probe", "error"},
    "iq": {"get", "set", "result", "error"},
}


def handshakeDigest(streamID, secret):
    """
    The handshake value of XEP-0114 §3: the lowercase hex SHA-1 of the
    stream ID followed by the shared secret.
    """
    return hashlib.sha1((streamID + secret).encode("utf-8")).hexdigest()


def convertNamespace(element, old, new):
    """
    A copy of C{element} with every element in namespace C{old} (the
    element itself and any descendant) moved to C{new}, each declaring its
    namespace as the default one so that it serializes without invented
    prefixes.  Elements in other namespaces (payloads) are copied as they
    are.  C{element} is not changed.
    """
    return _rebuild(element, "{%s}" % (old,), "{%s}" % (new,), new, None)


def _rebuild(element, oldPrefix, newPrefix, new, parent):
    tag = element.tag
    if not isinstance(tag, str):
        return None
    if tag.startswith(oldPrefix):
        tag = newPrefix + tag[len(oldPrefix):]
    namespace = tag[1:tag.index("}")] if tag[:1] == "{" else None
    parentNamespace = None
    if parent is not None and parent.tag[:1] == "{":
        parentNamespace = parent.tag[1:parent.tag.index("}")]
    nsmap = {None: namespace} if namespace is not None and namespace != parentNamespace else None
    if parent is None:
        copy = etree.Element(tag, element.attrib, nsmap=nsmap)
    else:
        copy = etree.SubElement(parent, tag, element.attrib, nsmap=nsmap)
    copy.text = element.text
    for child in element:
        rebuilt = _rebuild(child, oldPrefix, newPrefix, new, copy)
        if rebuilt is not None:
            rebuilt.tail = child.tail
    return copy


def _localName(tag):
    return tag.rpartition("}")[2]


class _ComponentRoute:
    """
    What the router delivers a configured component's domain to: the
    connected stream, or, while none is, a C{service-unavailable} answer
    (type C{wait}, as the component may come back; XEP-0114 leaves this to
    the server).
    """

    def __init__(self, domain, router):
        self.domain = domain
        self.router = router
        self.stream = None

    def send(self, stanza):
        if self.stream is not None:
            self.stream.send(stanza)
            return
        if isError(stanza) or stanza.get("type") == "result" or stanza.get("from") is None:
            return
        self.router.route(errorReply(stanza, StanzaError(
            "service-unavailable", type="wait", text="Component %s is not connected" % (
                self.domain,))))


class ComponentRegistry:
    """
    The configured components and which of them are connected.

    @param router: the L{xmppframe.router.Router}; a route is added for
        every configured domain.
    @param secrets: C{(domain, secret)} pairs (L{ComponentsConfig.secrets}).
    @param hosts: domain -> L{VirtualHost}; a connected component is listed
        in the disco#items (XEP-0030 §4) of the host its domain is a direct
        subdomain of, if any.
    """

    _log = Logger()

    def __init__(self, router, secrets, hosts):
        self.router = router
        self._secrets = dict(secrets)
        self._hosts = hosts
        self._routes = {}
        for domain in self._secrets:
            route = _ComponentRoute(domain, router)
            router.addRoute(domain, route)
            self._routes[domain] = route

    @property
    def domains(self):
        return tuple(self._secrets)

    def secretFor(self, domain):
        return self._secrets.get(domain)

    def connected(self, domain):
        """
        @return: the stream connected for C{domain}, or C{None}.
        """
        route = self._routes.get(domain)
        return route.stream if route is not None else None

    def attach(self, domain, stream):
        """
        Route C{domain} to C{stream} after its handshake.

        @raise StreamError: C{conflict} if another stream holds the domain
            (the newcomer is refused, the connected one kept).
        """
        route = self._routes[domain]
        if route.stream is not None:
            raise StreamError("conflict", "%s is already connected" % (domain,))
        route.stream = stream
        host = self._parentHost(domain)
        if host is not None:
            host.addDiscoItem(domain)
        self._log.info("component {domain} connected", domain=domain)

    def detach(self, domain, stream):
        route = self._routes.get(domain)
        if route is None or route.stream is not stream:
            return
        route.stream = None
        host = self._parentHost(domain)
        if host is not None:
            host.removeDiscoItem(domain)
        self._log.info("component {domain} disconnected", domain=domain)

    def close(self):
        """
        Remove every route (the server is stopping or being torn down).
        """
        for domain, route in self._routes.items():
            self.router.removeRoute(domain, route)
        self._routes.clear()

    def _parentHost(self, domain):
        parent = domain.partition(".")[2]
        host = self._hosts.get(parent)
        if host is None or not hasattr(host, "addDiscoItem"):
            return None
        return host


@implementer(ISession)
class ComponentStream(XMLStream):
    """
    One external component's connection (XEP-0114 §3, the "accept"
    method).

    @ivar jid: the component's domain as a JID once the handshake
        succeeded, else C{None}.

    @param context: the L{xmppframe.streams.context.StreamContext}; its
        C{components} registry knows the domains and secrets.
    """

    kind = "component"
    host = None
    _log = Logger()
    #: A component that broke the protocol is cut off at once.
    dropAfterError = True

    def __init__(self, context):
        XMLStream.__init__(self, context)
        self.registry = context.components
        self.config = context.componentsConfig
        self._c2sConfig = context.c2sConfig
        self._router = context.router
        self._jids = context.router.jids
        self.jid = None
        self.domain = None
        self._streamID = None

    # Connection lifecycle

    @property
    def closeGrace(self):
        return self._c2sConfig.close_grace

    def connectionMade(self):
        peer = self.transport.getPeer()
        self.peerHost = getattr(peer, "host", str(peer))
        c2s = self._c2sConfig
        self._startParsing(NS.COMPONENT_ACCEPT, c2s.max_stanza_size, maxPending=c2s.max_pending,
                           limitsFrom=c2s)
        self._timers["handshake"] = self.callLater(
            self.config.handshake_timeout, self._handshakeTimedOut)

    def connectionLost(self, reason):
        XMLStream.connectionLost(self, reason)
        self._detach()

    def _detach(self):
        if self.jid is not None:
            self.registry.detach(self.domain, self)

    def _handshakeTimedOut(self):
        self._timers.pop("handshake", None)
        if self.jid is None:
            self.close("connection-timeout", "The handshake took too long")

    # Parser events

    def _onHeader(self, header):
        to = header.attrib.get("to")
        domain = None
        if to is not None:
            try:
                domain = makeJID(None, to).domain
            except InvalidJID:
                domain = None
        self._sendHeader(domain or to)
        if domain is None or self.registry.secretFor(domain) is None:
            # XEP-0114 §3: a component name the server will not service.
            raise StreamError("host-unknown", "No component %s is configured" % (to,))
        if self.registry.connected(domain) is not None:
            raise StreamError("conflict", "%s is already connected" % (domain,))
        self.domain = domain

    def _sendHeader(self, domain=None):
        if self._headerSent:
            return
        self._headerSent = True
        self._streamID = secrets.token_hex(8)
        fromAttribute = ""
        if domain:
            fromAttribute = " from=%s" % (quoteattr(domain),)
        self._write((
            "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' id='%s'%s>"
            % (NS.COMPONENT_ACCEPT, NS.STREAMS, self._streamID, fromAttribute)
        ).encode("utf-8"))

    def _onElement(self, element):
        if self.closing:
            return
        if self.jid is None:
            if element.tag == _HANDSHAKE and self.domain is not None:
                self._checkHandshake(element)
            else:
                self.close("not-authorized", "Send the handshake first")
            return
        kind = _COMPONENT_STANZAS.get(element.tag)
        if kind is None:
            self.close("unsupported-stanza-type", "Unknown top-level element %s" % (
                element.tag,))
            return
        self._onStanza(kind, convertNamespace(element, NS.COMPONENT_ACCEPT, NS.CLIENT))

    def _checkHandshake(self, element):
        expected = handshakeDigest(self._streamID, self.registry.secretFor(self.domain))
        offered = (element.text or "").strip().lower()
        # Compared in constant time: the digest must not leak by timing.
        if not hmac.compare_digest(offered.encode("utf-8"), expected.encode("ascii")):
            self._log.info("component {peer} failed the handshake for {domain}",
                           peer=self.peerHost, domain=self.domain)
            self.close("not-authorized", "Wrong handshake")
            return
        try:
            self.registry.attach(self.domain, self)
        except StreamError as e:
            self.close(e.condition, e.text)
            return
        self.jid = makeJID(None, self.domain)
        timer = self._timers.pop("handshake", None)
        if timer is not None and timer.active():
            timer.cancel()
        self._write(serialize(etree.Element(_HANDSHAKE, nsmap={None: NS.COMPONENT_ACCEPT})))

    def _onStanza(self, kind, stanza):
        """
        XEP-0114 §3: a stanza must carry C{from} and C{to}, and C{from}
        must be at the component's domain; a C{from} elsewhere ends the
        stream with C{invalid-from} (RFC 6120 §4.9.3.9).
        """
        claimed = stanza.get("from")
        sender = None
        if claimed is not None:
            try:
                sender = self._jids.parse(claimed)
            except InvalidJID:
                sender = None
        if sender is None or sender.domain != self.domain:
            self.close("invalid-from", "Stanzas must come from %s" % (self.domain,))
            return
        stanza.set("from", sender.full)
        if stanza.get("type") not in _VALID_TYPES[kind]:
            self._bounce(stanza, StanzaError("bad-request", text="Unknown %s type %r" % (
                kind, stanza.get("type"))))
            return
        if stanza.get("to") is None:
            self._bounce(stanza, StanzaError("bad-request", text="A 'to' address is required"))
            return
        self._router.route(stanza)

    def _bounce(self, stanza, error):
        if not isError(stanza):
            reply = errorReply(stanza, error)
            reply.set("to", stanza.get("from"))
            reply.set("from", stanza.get("to") or self.domain)
            self.send(reply)

    # ISession

    def send(self, stanza):
        if self.closing:
            return
        self._queueStanza(serialize(convertNamespace(stanza, NS.CLIENT, NS.COMPONENT_ACCEPT)))

    def sendSerialized(self, data):
        self.send(etree.fromstring(data))

    def _closeStarted(self):
        self._detach()

    def __repr__(self):
        return "<ComponentStream %s from %s>" % (self.domain, self.peerHost)


class ComponentFactory(Factory):
    """
    Builds L{ComponentStream}s for a component listener.
    """

    noisy = False

    def __init__(self, context):
        self.context = context

    def buildProtocol(self, addr):
        protocol = ComponentStream(self.context)
        protocol.factory = self
        return protocol
