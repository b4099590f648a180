"""
Write a service (a component: an XMPP domain of its own, such as a gateway
or a bot farm) once, and run it either inside the server or as an external
XEP-0114 process.

This module is the L{Service} base class and nothing else: it knows no
stream, socket or configuration.  A service sees stanzas as lxml elements
in C{jabber:client} and sends the same; the runner it is attached to
carries them:

  - L{serviceModule} (from L{xmppframe.inprocess}, also importable from
    here) makes a feature module of it: listed in a host's C{modules} (the
    module plugin shipped in the service's own package's
    C{twisted/plugins/}), it routes the service's domain to it inside the
    process, with no socket.
  - C{ComponentClientFactory}, the XEP-0114 component client in the
    streams package, connects it to any server's component port
    (xmppframe's C{[components]}, Prosody's C{Component}, ejabberd's
    C{ejabberd_service}) with the handshake, and reconnects.

What the base class does for you: disco#info from the declared identities
and features, and disco#items from L{Service.discoItems} (XEP-0030);
C{service-unavailable} for an iq nobody handles (RFC 6120 §8.4); an
exception from a handler becomes a stanza error (L{StanzaError} → its
condition, C{NotImplementedError} → C{feature-not-implemented}, anything
else → C{internal-server-error}); and L{Service.request} to ask another
entity and wait for its answer.
"""

from lxml import etree

from twisted.internet import defer
from twisted.logger import Logger

from xmppframe.errors import StanzaError
from xmppframe.jid import JIDCache
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import (
    errorReply, isError, iqResult, makeElement, makeStanza, stanzaErrorFromElement)

# The in-process runner, named here too because a service's plugin names
# it next to the class (C{serviceModule(MyService)}).
from xmppframe.inprocess import InProcessSession, serviceModule

__all__ = ["Service", "iqHandler", "InProcessSession", "serviceModule"]


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
