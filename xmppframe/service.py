"""
Write a service (a component: an XMPP domain of its own, such as a gateway
or a bot farm) once, and run it either inside the server or as an external
XEP-0114 process.

A L{Service} sees stanzas as lxml elements in C{jabber:client} and sends
the same; the runner it is attached to carries them:

  - L{serviceModule} makes a feature module of it: listed in a host's
    C{modules} (the module plugin shipped in the service's own package's
    C{twisted/plugins/}), it routes the service's domain to it inside the
    process, with no socket (L{InProcessSession}).
  - L{ComponentClientFactory} connects it to any server's component port
    (xmppframe's C{[components]}, Prosody's C{Component}, ejabberd's
    C{ejabberd_service}) with the XEP-0114 handshake, and reconnects.

What the base class does for you: disco#info from the declared identities
and features, and disco#items from L{Service.discoItems} (XEP-0030);
C{service-unavailable} for an iq nobody handles (RFC 6120 §8.4); an
exception from a handler becomes a stanza error (L{StanzaError} → its
condition, C{NotImplementedError} → C{feature-not-implemented}, anything
else → C{internal-server-error}); and L{Service.request} to ask another
entity and wait for its answer.
"""

from copy import deepcopy
from xml.sax.saxutils import quoteattr

from lxml import etree
from zope.interface import implementer

from twisted.internet import defer
from twisted.internet.protocol import Protocol, ReconnectingClientFactory
from twisted.logger import Logger

from xmppframe.api.options import ModuleOption
from xmppframe.errors import StanzaError, StreamError
from xmppframe.interfaces import ISession
from xmppframe.jid import InvalidJID, JIDCache, makeJID
from xmppframe.api.module import Module
from xmppframe.streams.component import convertNamespace, handshakeDigest
from xmppframe.xml import namespaces as NS
from xmppframe.xml.parser import StreamParser
from xmppframe.xml.stanza import (
    errorReply, isError, iqResult, makeElement, makeStanza, serialize, stanzaErrorFromElement)

__all__ = [
    "Service", "iqHandler", "InProcessSession", "serviceModule", "ComponentClientFactory",
    "ComponentClientProtocol", "HandshakeRefused",
]

_IQ = NS.qname(NS.CLIENT, "iq")


def iqHandler(type, namespace):
    """
    Mark a L{Service} method as the handler of iq C{type} ('get' or 'set')
    whose payload is in C{namespace}: C{method(iq)} returns the result's
    payload element, C{None} for an empty result, or a Deferred of either,
    or raises L{StanzaError}.
    """
    def mark(method):
        method.xmppframeIQ = (type, namespace)
        return method
    return mark


class Service:
    """
    A component's logic, independent of how it is connected.

    Subclass it, set the class attributes, mark iq handlers with
    L{iqHandler}, and override L{onMessage}, L{onPresence}, L{started} and
    L{stopped} as needed.

    @cvar name: a short name; the module name when run in process, and the
        disco identity's name unless C{identities} say otherwise.
    @cvar subdomain: the domain's first label when run in process and the
        config names no C{domain}: C{<subdomain>.<host>}.
    @cvar identities: disco identities, C{(category, type, name)}.
    @cvar features: disco features besides disco#info/#items and the
        namespaces of the iq handlers.
    @cvar optionSchema: name -> L{ModuleOption}, the service's own options
        (validated from the config when run in process).

    @ivar domain: the service's domain (a C{str}).
    @ivar options: the validated options (a C{dict}).
    @ivar reactor: for timers.
    @ivar connected: whether a runner is attached and can send.
    """

    name = "service"
    #: One line saying what it does (C{xmppframe modules} lists it).
    summary = ""
    #: The specifications it implements, e.g. C{("XEP-0009",)}.
    xeps = ()
    subdomain = None
    identities = (("component", "generic", None),)
    features = ()
    optionSchema = {}
    requestTimeout = 30.0

    log = Logger()

    def __init__(self, domain, reactor, options=None):
        self.domain = domain
        self.reactor = reactor
        self.options = dict(options or {})
        self.jids = JIDCache()
        self._sender = None
        self._pending = {}
        self._nextID = 0
        self._iqHandlers = {}
        for attribute in dir(type(self)):
            method = getattr(self, attribute, None)
            marker = getattr(method, "xmppframeIQ", None)
            if marker is not None:
                self._iqHandlers[marker] = method
        self._iqHandlers.setdefault(("get", NS.DISCO_INFO), self._discoInfo)
        self._iqHandlers.setdefault(("get", NS.DISCO_ITEMS), self._discoItems)

    # Runner side

    @property
    def connected(self):
        return self._sender is not None

    def attach(self, sender):
        """
        Called by a runner: C{sender(stanza)} now sends.
        """
        self._sender = sender
        self.started()

    def detach(self):
        """
        Called by a runner when it can no longer send: pending requests
        fail with C{ConnectionError}.
        """
        if self._sender is None:
            return
        self._sender = None
        pending, self._pending = self._pending, {}
        for d, timer in pending.values():
            if timer.active():
                timer.cancel()
            d.errback(ConnectionError("%s was disconnected" % (self.domain,)))
        self.stopped()

    def receive(self, stanza):
        """
        Called by a runner with each stanza addressed to the service (in
        C{jabber:client}); the service must not change it.
        """
        kind = stanza.tag.rpartition("}")[2]
        try:
            if kind == "iq":
                self._receiveIQ(stanza)
            elif kind == "message":
                self.onMessage(stanza)
            elif kind == "presence":
                self.onPresence(stanza)
        except Exception:
            self.log.failure("{service} failed to handle a {kind}", service=self.name, kind=kind)

    # Overridable

    def started(self):
        """
        The service can send from now on.
        """

    def stopped(self):
        """
        The service cannot send any more (until started again).
        """

    def onMessage(self, message):
        """
        A message to the service's domain or a JID at it.
        """

    def onPresence(self, presence):
        """
        A presence to the service's domain or a JID at it.
        """

    def discoItems(self, iq):
        """
        @return: the items of the service's disco#items (XEP-0030 §4), as
            C{(jid, name)} pairs; none by default.
        """
        return ()

    # Sending

    def send(self, stanza):
        """
        Send C{stanza} (in C{jabber:client}); its C{from} defaults to the
        service's domain, and must be at that domain (XEP-0114 §3).

        @raise ConnectionError: if no runner is attached.
        """
        if self._sender is None:
            raise ConnectionError("%s is not connected" % (self.domain,))
        if stanza.get("from") is None:
            stanza.set("from", self.domain)
        self._sender(stanza)

    def sendMessage(self, to, body, type="chat", from_=None):
        message = makeStanza("message", to=to, from_=from_ or self.domain, type=type)
        etree.SubElement(message, NS.qname(NS.CLIENT, "body")).text = body
        self.send(message)

    def reply(self, stanza, payload=None):
        """
        Answer iq C{stanza} with a result carrying C{payload}.
        """
        self.send(iqResult(stanza, payload))

    def replyError(self, stanza, error):
        if not isError(stanza):
            self.send(errorReply(stanza, error))

    def request(self, iq, timeout=None):
        """
        Send iq C{iq} (a get or set) and wait for its answer.

        @return: a Deferred that fires with the C{result} stanza, or fails
            with L{StanzaError} for an error answer, C{TimeoutError} after
            C{timeout} seconds (L{requestTimeout} by default), or
            C{ConnectionError} if the service is disconnected first.
        """
        if iq.get("id") is None:
            self._nextID += 1
            iq.set("id", "%s-%d" % (self.name, self._nextID))
        if iq.get("from") is None:
            iq.set("from", self.domain)
        key = (iq.get("id"), iq.get("to"))
        if key in self._pending:
            return defer.fail(ValueError("a request with id %r is pending" % (key[0],)))
        d = defer.Deferred()
        delay = self.requestTimeout if timeout is None else timeout
        timer = self.reactor.callLater(delay, self._timedOut, key, delay)
        self._pending[key] = (d, timer)
        try:
            self.send(iq)
        except Exception:
            self._pending.pop(key)
            timer.cancel()
            return defer.fail()
        return d

    def _timedOut(self, key, delay):
        entry = self._pending.pop(key, None)
        if entry is not None:
            entry[0].errback(TimeoutError("no answer from %s within %s seconds" % (key[1], delay)))

    # Receiving

    def _receiveIQ(self, iq):
        type = iq.get("type")
        if type in ("result", "error"):
            entry = self._pending.pop((iq.get("id"), iq.get("from")), None)
            if entry is None:
                return
            d, timer = entry
            timer.cancel()
            if type == "result":
                d.callback(iq)
            else:
                d.errback(stanzaErrorFromElement(iq))
            return
        if len(iq) != 1:
            self.replyError(iq, StanzaError("bad-request", text="An iq get or set has one child"))
            return
        namespace = iq[0].tag[1:].partition("}")[0] if iq[0].tag[:1] == "{" else ""
        handler = self._iqHandlers.get((type, namespace))
        if handler is None:
            self.replyError(iq, StanzaError("service-unavailable"))
            return
        d = defer.maybeDeferred(handler, iq)
        d.addCallback(lambda payload: self.reply(iq, payload))
        d.addErrback(self._handlerFailed, iq)

    def _handlerFailed(self, failure, iq):
        if failure.check(StanzaError):
            error = failure.value
        elif failure.check(NotImplementedError):
            error = StanzaError("feature-not-implemented")
        else:
            self.log.failure("{service}: iq handler failed", failure, service=self.name)
            error = StanzaError("internal-server-error")
        if self.connected:
            self.replyError(iq, error)

    def allFeatures(self):
        """
        The disco features: disco#info, disco#items, the iq handlers'
        namespaces and L{features}.
        """
        found = {namespace for _, namespace in self._iqHandlers}
        found.update(self.features)
        return sorted(found)

    def _discoInfo(self, iq):
        query = makeElement(NS.DISCO_INFO, "query")
        if iq[0].get("node") is not None:
            raise StanzaError("item-not-found")
        for category, type, name in self.identities:
            identity = etree.SubElement(query, NS.qname(NS.DISCO_INFO, "identity"))
            identity.set("category", category)
            identity.set("type", type)
            identity.set("name", name or self.name)
        for namespace in self.allFeatures():
            etree.SubElement(query, NS.qname(NS.DISCO_INFO, "feature")).set("var", namespace)
        return query

    def _discoItems(self, iq):
        query = makeElement(NS.DISCO_ITEMS, "query")
        for jid, name in self.discoItems(iq):
            item = etree.SubElement(query, NS.qname(NS.DISCO_ITEMS, "item"))
            item.set("jid", str(jid))
            if name:
                item.set("name", name)
        return query


# In process

def _domainOf(jids, text):
    try:
        return jids.parse(text).domain
    except (InvalidJID, TypeError):
        return None


@implementer(ISession)
class InProcessSession:
    """
    The router's side of an in-process service: what the domain is routed
    to (L{xmppframe.router.Router.addRoute}).  Stanzas reach the service
    one reactor turn later, copied, as if over a connection, so that a
    service answering at once never re-enters the router mid-dispatch.
    """

    kind = "component"
    host = None

    def __init__(self, service, router, reactor):
        self.service = service
        self.router = router
        self.reactor = reactor
        self.jid = makeJID(None, service.domain)
        self.closed = False

    def send(self, stanza):
        if not self.closed:
            self.reactor.callLater(0, self._deliver, deepcopy(stanza))

    def _deliver(self, stanza):
        if not self.closed:
            self.service.receive(stanza)

    def fromService(self, stanza):
        """
        The service's sender: check C{from} as a component stream does
        (XEP-0114 §3), then route.
        """
        if self.closed:
            return
        if _domainOf(self.router.jids, stanza.get("from")) != self.service.domain:
            raise ValueError("stanzas must come from %s" % (self.service.domain,))
        if stanza.get("to") is None:
            raise ValueError("stanzas from a service need a 'to'")
        self.router.route(stanza)

    def close(self, condition=None, text=None):
        self.closed = True


class _ServiceModule(Module):
    """
    Runs L{serviceClass} in process on the domain its options name.
    """

    serviceClass = None

    def load(self):
        api = self.api
        domain = api.options.get("domain") or "%s.%s" % (
            self.serviceClass.subdomain or self.serviceClass.name, api.host.name)
        try:
            domain = makeJID(None, domain).domain
        except InvalidJID as e:
            raise ValueError("%s: bad domain %r: %s" % (self.name, domain, e))
        options = {k: v for k, v in api.options.items() if k != "domain"}
        self.service = self.serviceClass(domain, api.reactor, options)
        self.session = InProcessSession(self.service, api.router, api.reactor)
        api.router.addRoute(domain, self.session)
        api.addDiscoItem(domain, self.serviceClass.name)
        self.service.attach(self.session.fromService)

    def unload(self):
        self.session.close()
        self.api.router.removeRoute(self.service.domain, self.session)
        self.service.detach()
        Module.unload(self)


def serviceModule(serviceClass):
    """
    A feature module class that runs C{serviceClass} in process: name the
    result in a module plugin (L{xmppframe.modules.ModulePlugin}).  Its
    options are the service's L{Service.optionSchema} plus C{domain} (the
    service's domain; C{"<subdomain>.<host>"} when empty).
    """
    schema = {"domain": ModuleOption(
        "string", "", help="the service's domain; empty means <subdomain>.<host>")}
    schema.update(serviceClass.optionSchema)
    return type(serviceClass.__name__ + "Module", (_ServiceModule,), {
        "name": serviceClass.name, "serviceClass": serviceClass, "optionSchema": schema,
        "summary": serviceClass.summary, "xeps": tuple(serviceClass.xeps),
        "__doc__": "Runs L{%s} in process." % (serviceClass.__name__,),
        "__module__": serviceClass.__module__,
    })


# External (XEP-0114)

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
            condition = next((child.tag.rpartition("}")[2] for child in element
                              if child.tag.startswith("{%s}" % (NS.STREAM_ERRORS,))
                              and not child.tag.endswith("}text")), "undefined-condition")
            text = element.findtext("{%s}text" % (NS.STREAM_ERRORS,))
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
