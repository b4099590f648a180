"""
External components, component side (XEP-0114, C{jabber:component:accept}):
the client that connects a L{xmppframe.service.Service} to a server's
component port and keeps it connected.

L{ComponentClientFactory} works with any server that accepts components
(xmppframe's C{[components]}, Prosody's C{Component}, ejabberd's
C{ejabberd_service}): it opens the stream to the service's domain, answers
the stream id with the handshake digest (XEP-0114 §3), then carries
stanzas both ways, mapping C{jabber:client} (what the service sees) to
C{jabber:component:accept} (what the wire carries) as the server side in
L{xmppframe.streams.component} does.
"""

from xml.sax.saxutils import quoteattr

from twisted.internet import defer
from twisted.internet.protocol import Protocol, ReconnectingClientFactory
from twisted.logger import Logger

from xmppframe.errors import StreamError
from xmppframe.streams.component import convertNamespace, handshakeDigest
from xmppframe.xml import namespaces as NS
from xmppframe.xml.parser import StreamParser
from xmppframe.xml.stanza import serialize

__all__ = ["HandshakeRefused", "ComponentClientProtocol", "ComponentClientFactory"]


class HandshakeRefused(Exception):
    """
    The server refused the component (a stream error, e.g.
    C{not-authorized}, C{host-unknown} or C{conflict}); retrying would not
    help.
    """

    def __init__(self, condition, text=None):
        Exception.__init__(self, condition, text)
        self.condition = condition
        self.text = text

    def __str__(self):
        return self.condition + (": " + self.text if self.text else "")


_ACCEPT_HANDSHAKE = NS.qname(NS.COMPONENT_ACCEPT, "handshake")
_STREAM_ERROR = NS.qname(NS.STREAMS, "error")
_ERROR_PREFIX = NS.qname(NS.STREAM_ERRORS, "")
_ERROR_TEXT = NS.qname(NS.STREAM_ERRORS, "text")
_ACCEPT_STANZAS = frozenset(NS.qname(NS.COMPONENT_ACCEPT, k) for k in ("message", "presence", "iq"))


class ComponentClientProtocol(Protocol):
    """
    The component's end of a XEP-0114 "accept" stream.
    """

    log = Logger()

    def connectionMade(self):
        factory = self.factory
        self.authenticated = False
        self._parser = StreamParser(
            self._onHeader, self._onElement, self._onEnd, maxStanzaSize=factory.maxStanzaSize,
            contentNamespaces=frozenset({NS.COMPONENT_ACCEPT}))
        self.transport.write((
            "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' to=%s>"
            % (NS.COMPONENT_ACCEPT, NS.STREAMS, quoteattr(factory.service.domain))
        ).encode("utf-8"))

    def dataReceived(self, data):
        try:
            self._parser.feed(data)
        except StreamError as e:
            self.log.error("component stream from the server broken: {error}", error=e)
            self.transport.loseConnection()

    def _onHeader(self, header):
        streamID = header.attrib.get("id")
        if streamID is None:
            raise StreamError("invalid-xml", "The server sent no stream id")
        digest = handshakeDigest(streamID, self.factory.secret)
        self.transport.write(("<handshake>%s</handshake>" % (digest,)).encode("ascii"))

    def _onElement(self, element):
        if element.tag == _STREAM_ERROR:
            condition = next((child.tag[len(_ERROR_PREFIX):] for child in element
                              if child.tag.startswith(_ERROR_PREFIX) and child.tag != _ERROR_TEXT),
                             "undefined-condition")
            text = element.findtext(_ERROR_TEXT)
            self.factory.streamErrorReceived(condition, text, self.authenticated)
            self.transport.loseConnection()
            return
        if not self.authenticated:
            if element.tag == _ACCEPT_HANDSHAKE:
                self.authenticated = True
                self.factory.authenticated(self)
            return
        if element.tag in _ACCEPT_STANZAS:
            self.factory.service.receive(
                convertNamespace(element, NS.COMPONENT_ACCEPT, NS.CLIENT))

    def _onEnd(self):
        self.transport.write(b"</stream:stream>")
        self.transport.loseConnection()

    def sendStanza(self, stanza):
        self.transport.write(serialize(convertNamespace(stanza, NS.CLIENT, NS.COMPONENT_ACCEPT)))

    def connectionLost(self, reason):
        self._parser.close()
        if self.authenticated:
            self.authenticated = False
            self.factory.service.detach()


class ComponentClientFactory(ReconnectingClientFactory):
    """
    Connects a L{Service} to a server's component port (XEP-0114) and keeps
    it connected: after a lost connection it reconnects with backoff; a
    refusal (wrong secret, unknown or taken domain) stops the retries.

    Use with any client endpoint or C{reactor.connectTCP(host, port,
    factory)}.

    @ivar whenReady: a Deferred firing with the protocol after the first
        successful handshake, or failing with L{HandshakeRefused}.
    """

    protocol = ComponentClientProtocol
    maxDelay = 60
    noisy = False
    log = Logger()

    def __init__(self, service, secret, maxStanzaSize=262144):
        self.service = service
        self.secret = secret
        self.maxStanzaSize = maxStanzaSize
        self.whenReady = defer.Deferred()
        self.current = None

    def authenticated(self, protocol):
        self.resetDelay()
        self.current = protocol
        self.log.info("component {domain} connected", domain=self.service.domain)
        self.service.attach(protocol.sendStanza)
        if not self.whenReady.called:
            self.whenReady.callback(protocol)

    def streamErrorReceived(self, condition, text, authenticated):
        self.log.error("component {domain}: the server sent stream error {condition}",
                       domain=self.service.domain, condition=condition)
        if not authenticated and condition in ("not-authorized", "host-unknown", "conflict",
                                                "invalid-namespace"):
            self.stopTrying()
            if not self.whenReady.called:
                self.whenReady.errback(HandshakeRefused(condition, text))

    def clientConnectionLost(self, connector, reason):
        self.current = None
        ReconnectingClientFactory.clientConnectionLost(self, connector, reason)

    def stop(self):
        """
        Stop reconnecting and close the current connection.
        """
        self.stopTrying()
        if self.current is not None:
            self.current.transport.write(b"</stream:stream>")
            self.current.transport.loseConnection()
