"""
The router: checks and stamps the addresses of every stanza, then hands it
to the host's modules by computed event name, falling back to the default
delivery rules when no module claims it.

Delivery rules implemented here are the core ones of RFC 6120 §10 and the
message rules of RFC 6121 §8.5 that need nothing but the session table;
modules refine them (rosters, offline storage, blocking) by claiming events.
"""

from collections import deque

from zope.interface import implementer

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from xmppframe.errors import StanzaError
from xmppframe.events import (
    INITIAL_PRESENCE, MESSAGE_ANNOTATE, MESSAGE_DELIVERED, MessageAnnotation, MessageDelivery, StanzaEvent, inboundEvent, iqEvent,
    iqResponseEvent, outboundEvent, stanzaEvent)
from xmppframe.interfaces import IRouter
from xmppframe.jid import InvalidJID, JIDCache
from xmppframe.xml.stanza import errorReply, isError

_KINDS = {"message", "presence", "iq"}
_IQ_TYPES = {"get", "set", "result", "error"}
_MESSAGE_TYPES = {"normal", "chat", "groupchat", "headline", "error"}
_PRESENCE_TYPES = {
    None, "unavailable", "subscribe", "subscribed", "unsubscribe",
    "unsubscribed", "probe", "error",
}
_SUBSCRIPTION_TYPES = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"}

# The event names every routed stanza needs, computed once rather than per
# stanza.  A 'self' message or presence fires its 'bare' event.
_OUTBOUND_EVENTS = {kind: outboundEvent(kind) for kind in _KINDS}
_INBOUND_EVENTS = {kind: inboundEvent(kind) for kind in _KINDS}
_SELF_PRESENCE = stanzaEvent("presence", "self")
_DELIVERY_EVENTS = {
    (kind, target): stanzaEvent(kind, "bare" if target == "self" else target)
    for kind in ("message", "presence") for target in ("host", "bare", "full", "self")}


def _localName(tag):
    return tag[tag.index("}") + 1:] if tag[:1] == "{" else tag


@implementer(IRouter)
class Router:
    """
    Routes stanzas between the local sessions of several virtual hosts.

    The stanza a session hands to L{process} is owned by the router from
    then on: it stamps C{from} on that element in place (the parser made it
    for this one purpose, so nobody else holds it) rather than copying it.
    Modules that want to change a stanza must copy it.

    @ivar remote: an object with C{route(stanza, to)} for domains that are
        not local, or C{None} while there is no federation.
    """

    _log = Logger()

    def __init__(self, sessions, jidCache=None, deliverToAllOfEqualPriority=True):
        self.sessions = sessions
        self.jids = jidCache if jidCache is not None else JIDCache()
        self.remote = None
        self._hosts = {}
        #: domain -> session: domains served by a component (XEP-0114) or
        #: an in-process service, see L{addRoute}.
        self._routes = {}
        self._allOfEqualPriority = deliverToAllOfEqualPriority
        #: origin -> deque of the stanzas it sent after one that a handler
        #: is waiting on (see L{_hold}).  The origin is the client session,
        #: or the sender's JID for stanzas routed with no session.
        self._held = {}

    # Hosts

    def addHost(self, host):
        self._hosts[host.name] = host

    def removeHost(self, name):
        self._hosts.pop(name, None)

    def hostFor(self, domain):
        return self._hosts.get(domain)

    @property
    def hosts(self):
        return dict(self._hosts)

    # Domain routes

    def addRoute(self, domain, session):
        """
        Deliver every stanza addressed to C{domain} (exactly that domain,
        not its subdomains), or to any JID at it, to C{session}: an object
        with C{send(stanza)}, such as a component's stream (XEP-0114) or an
        in-process service.  Routes are consulted after the sender's
        outbound hooks and before local hosts and remote routing.

        @raise ValueError: if C{domain} is a local host or already routed.
        """
        if domain in self._hosts:
            raise ValueError("%s is a local host" % (domain,))
        if domain in self._routes:
            raise ValueError("%s is already routed" % (domain,))
        self._routes[domain] = session

    def removeRoute(self, domain, session=None):
        """
        Stop routing C{domain}; when C{session} is given, only if it is
        still the session routed there.
        """
        if session is None or self._routes.get(domain) is session:
            self._routes.pop(domain, None)

    def routeFor(self, domain):
        """
        @return: the session C{domain} is routed to, or C{None}.
        """
        return self._routes.get(domain)

    # Entry points

    def process(self, origin, stanza):
        """
        Handle a stanza from a bound client session: RFC 6120 §8.1.2.1
        says the server stamps C{from} with the sender's full JID.  A
        client that claims to be someone else gets a C{forbidden} error
        and the stanza goes nowhere.
        """
        if self._held and origin in self._held:
            self._held[origin].append((self.process, (origin, stanza)))
            return
        kind = _localName(stanza.tag)
        if kind not in _KINDS:
            origin.close("unsupported-stanza-type")
            return
        type = stanza.get("type")
        if not self._validType(kind, type):
            self._bounce(origin, stanza, StanzaError(
                "bad-request", text="Unknown %s type %r" % (kind, type)))
            return
        if kind == "iq" and stanza.get("id") is None:
            # RFC 6120 §8.1.3, §8.2.3 rule 1: an iq must have an id; the
            # error (§8.3.3.1) has none to echo.
            self._bounce(origin, stanza, StanzaError(
                "bad-request", text="An iq needs an 'id' attribute"))
            return
        sender = origin.jid
        claimed = stanza.get("from")
        if claimed is not None and claimed != sender.full:
            try:
                claimedJID = self.jids.parse(claimed)
            except InvalidJID:
                claimedJID = None
            if claimedJID != sender and claimedJID != sender.bare:
                self._log.info("{jid} sent a stanza claiming to be from {claimed}",
                               jid=sender, claimed=claimed)
                self._bounce(origin, stanza, StanzaError(
                    "forbidden", text="The 'from' address is not yours"))
                return
        if kind == "presence" and type in _SUBSCRIPTION_TYPES:
            # RFC 6121 §3.1.2: subscription requests come from the bare JID.
            sender = sender.bare
        stanza.set("from", sender.full)
        pending = self._dispatch(origin, stanza, kind, type, sender)
        if pending is not None:
            self._hold(origin, pending)

    def route(self, stanza, to=None, sender=None):
        """
        Deliver a stanza the server made; its C{from} is trusted.

        @param to: the prepared JID of the stanza's C{to}, and
        @param sender: that of its C{from}, when the caller has them (a
            broadcast to a roster does, for every copy): they are then not
            parsed again.  They must be the stanza's own addresses.
        """
        if sender is None:
            fromText = stanza.get("from")
            sender = self.sessions.knownJID(fromText) or self.jids.parse(fromText)
        if self._held and sender in self._held:
            self._held[sender].append((self.route, (stanza, to, sender)))
            return
        pending = self._dispatch(
            None, stanza, _localName(stanza.tag), stanza.get("type"), sender, to)
        if pending is not None:
            self._hold(sender, pending)

    # Waiting handlers

    def _hold(self, key, pending):
        """
        A handler is waiting (C{pending}, a Deferred that fires when the
        stanza has been handled): the stanzas that C{key}, the same origin,
        sends meanwhile queue behind it, so that nothing overtakes, and are
        handled in order once it is done.  Other origins go on.

        The origin of a client's own stanzas is its session; that of a
        stanza the server routes (on an account's behalf, or from a peer
        server or component) is its sender's JID.  The two are ordered
        apart: a held client stanza does not hold up what the server
        sends in the account's name (its presence broadcast copies, an
        error it answers with), which must not wait on the client.
        """
        if key not in self._held:
            self._held[key] = deque()
        pending.addErrback(self._handlingFailed)
        pending.addBoth(self._release, key)

    def _handlingFailed(self, failure):
        self._log.failure("routing a stanza after a waiting handler failed", failure)

    def _release(self, ignored, key):
        queue = self._held.pop(key, None)
        while queue:
            if key in self._held:
                # The next one waits in turn: the rest queue behind it.
                self._held[key].extend(queue)
                return
            method, args = queue.popleft()
            try:
                method(*args)
            except Exception:
                # One bad stanza must not lose the rest of the queue.
                self._log.failure("handling a held stanza failed")

    @staticmethod
    def _then(claimed, step, *args):
        """
        The callback that goes on with C{step(*args)} once a waiting
        handler's event is left unclaimed.
        """
        if claimed is not None:
            return None
        return step(*args)

    # Dispatch

    def _validType(self, kind, type):
        if kind == "message":
            return type is None or type in _MESSAGE_TYPES
        if kind == "presence":
            return type in _PRESENCE_TYPES
        return type in _IQ_TYPES

    def _dispatch(self, origin, stanza, kind, type, sender, to=None):
        toText = None if to is not None else stanza.get("to")
        if toText is not None:
            to = self.sessions.knownJID(toText)
            if to is None:
                try:
                    to = self.jids.parse(toText)
                except InvalidJID as e:
                    self._bounce(origin, stanza, StanzaError("jid-malformed", text=str(e)))
                    return
        if sender.localpart is not None:
            senderHost = self._hosts.get(sender.domain)
            if senderHost is not None:
                name = _OUTBOUND_EVENTS[kind]
                if senderHost.events.hasHandlers(name):
                    claimed = senderHost.events.fire(
                        name, StanzaEvent(origin, stanza, to, sender, senderHost, kind, type))
                    if claimed is not None:
                        if isinstance(claimed, Deferred):
                            return claimed.addCallback(
                                self._then, self._afterOutbound, origin, stanza, kind, type,
                                sender, to)
                        return None
        return self._afterOutbound(origin, stanza, kind, type, sender, to)

    def _afterOutbound(self, origin, stanza, kind, type, sender, to):
        """
        The rest of L{_dispatch}, once the sender's filters let the stanza
        go: domain routes, remote domains, then the recipient's host.
        """
        if to is None:
            return self._noTo(origin, stanza, kind, type, sender)
        if self._routes:
            routed = self._routes.get(to.domain)
            if routed is not None:
                routed.send(stanza)
                return None
        host = self._hosts.get(to.domain)
        if host is None:
            self._routeRemote(origin, stanza, to)
            return None
        event = StanzaEvent(origin, stanza, to, sender, host, kind, type)
        if to.localpart is None:
            # The domain, or a resource of the domain (RFC 6120 §10.5.2):
            # nothing is bound there, so it is the server's to answer.
            target = "host"
        else:
            if to.resource is None:
                target = "self" if origin is not None and sender.bare == to else "bare"
            else:
                target = "full"
            if sender.bare != to.bare:
                name = _INBOUND_EVENTS[kind]
                if host.events.hasHandlers(name):
                    claimed = host.events.fire(name, event)
                    if claimed is not None:
                        if isinstance(claimed, Deferred):
                            return claimed.addCallback(self._then, self._deliver, event, target)
                        return None
        return self._deliver(event, target)

    def _deliver(self, event, target):
        """
        Fire the stanza's own event on the recipient's host, and deliver it
        by the default rules when no handler claims it.
        """
        kind = event.kind
        if kind == "iq":
            return self._iq(event, target)
        if kind == "message":
            if target != "host" and event.host.events.hasHandlers(MESSAGE_ANNOTATE):
                self._annotate(event)
            claimed = event.host.events.fire(_DELIVERY_EVENTS["message", target], event)
            if claimed is None:
                return self._deliverMessage(event, target)
            if isinstance(claimed, Deferred):
                return claimed.addCallback(self._then, self._deliverMessage, event, target)
            return None
        claimed = event.host.events.fire(_DELIVERY_EVENTS["presence", target], event)
        if claimed is None:
            self._deliverPresence(event, target)
        elif isinstance(claimed, Deferred):
            return claimed.addCallback(self._then, self._deliverPresence, event, target)
        return None

    def _annotate(self, event):
        """
        Fire L{MESSAGE_ANNOTATE} once for a message to a local account, and
        make the changes its handlers ask for (XEP-0359 stanza ids, say) on
        the stanza, which the router owns, before any delivery event sees it.
        """
        annotation = MessageAnnotation(event)
        event.host.events.fireAll(MESSAGE_ANNOTATE, annotation)
        annotation.apply()

    def _noTo(self, origin, stanza, kind, type, sender):
        """
        A stanza without C{to} (RFC 6120 §10.3): presence is the client's
        broadcast, a message goes to the sender's own bare JID, and an iq is
        handled on behalf of the account.
        """
        host = self._hosts.get(sender.domain)
        if host is None:
            return None
        if kind == "presence":
            initial = False
            if origin is not None and type in (None, "unavailable"):
                initial = type is None and not origin.available
                self._trackAvailability(origin, stanza, type)
            event = StanzaEvent(origin, stanza, None, sender, host, kind, type)
            claimed = host.events.fire(_SELF_PRESENCE, event)
            if initial:
                if isinstance(claimed, Deferred):
                    return claimed.addCallback(
                        lambda ignored: host.events.fireAll(INITIAL_PRESENCE, event))
                host.events.fireAll(INITIAL_PRESENCE, event)
            return claimed if isinstance(claimed, Deferred) else None
        to = sender.bare
        event = StanzaEvent(origin, stanza, to, sender, host, kind, type)
        if kind == "iq":
            return self._iq(event, "self")
        return self._deliver(event, "bare")

    def _trackAvailability(self, origin, stanza, type):
        """
        Remember what the session's last broadcast presence said: the router
        needs availability and priority for bare-JID delivery
        (RFC 6121 §4.7.2.3, §8.5.2).
        """
        origin.presence = stanza
        if type == "unavailable":
            origin.available = False
            origin.priority = 0
            return
        priority = 0
        for child in stanza:
            if _localName(child.tag) == "priority":
                try:
                    priority = int((child.text or "").strip())
                except ValueError:
                    priority = 0
                priority = max(-128, min(127, priority))
                break
        origin.available = True
        origin.priority = priority

    def _iq(self, event, target):
        """
        RFC 6120 §8.2.3 and §10: a get or set is answered by whoever claims
        its payload's event, else by C{service-unavailable}; a result or
        error goes to the full JID it names, or is dropped.
        """
        stanza = event.stanza
        if event.type in ("get", "set"):
            if len(stanza) != 1:
                self._bounce(event.origin, stanza, StanzaError(
                    "bad-request", text="An iq get or set has exactly one child"))
                return None
            if target == "full":
                if self._deliverToFull(event) is None:
                    self._bounce(event.origin, stanza, StanzaError("service-unavailable"))
                return None
            claimed = event.host.events.fire(iqEvent(event.type, target, stanza[0].tag), event)
            if claimed is None:
                return self._iqUnclaimed(event, target)
            if isinstance(claimed, Deferred):
                return claimed.addCallback(self._then, self._iqUnclaimed, event, target)
            return None
        if target == "full":
            self._deliverToFull(event)
            return None
        claimed = event.host.events.fire(iqResponseEvent(target), event)
        return claimed if isinstance(claimed, Deferred) else None

    def _iqUnclaimed(self, event, target):
        """
        No handler took an iq get or set: one addressed to the sender's own
        account (no 'to') may be handled as addressed to its bare JID, and
        the rest get C{service-unavailable}.
        """
        if target == "self":
            name = iqEvent(event.type, "bare", event.stanza[0].tag)
            claimed = event.host.events.fire(name, event)
            if isinstance(claimed, Deferred):
                return claimed.addCallback(self._then, self._iqUnclaimed, event, "bare")
            if claimed is not None:
                return None
        self._bounce(event.origin, event.stanza, StanzaError("service-unavailable"))
        return None

    def _deliverToFull(self, event):
        """
        Send the stanza to the session bound to its full JID.

        @return: that session, or C{None} if there is none.
        """
        session = self.sessions.sessionFor(event.to)
        if session is not None:
            session.send(event.stanza)
        return session

    def _messageDelivered(self, event, recipients):
        """
        Tell the recipient's host who got the message (L{MESSAGE_DELIVERED}):
        modules that copy it elsewhere (XEP-0280 carbons) need to know.
        """
        events = event.host.events
        if events.hasHandlers(MESSAGE_DELIVERED):
            events.fireAll(MESSAGE_DELIVERED, MessageDelivery(event, recipients))

    def _deliverMessage(self, event, target):
        """
        Default message delivery (RFC 6121 §8.5.2, §8.5.3).
        """
        type = event.type
        if target == "host":
            if type not in ("error", "groupchat", "headline"):
                self._bounce(event.origin, event.stanza, StanzaError("service-unavailable"))
            return
        if target == "full":
            session = self._deliverToFull(event)
            if session is not None:
                self._messageDelivered(event, (session,))
                return
            # §8.5.3.2.1: no such resource; normal, chat and headline
            # messages are handled as if sent to the bare JID, and so go
            # through its event (offline storage claims it there).
            if type == "groupchat" or type == "error":
                if type == "groupchat":
                    self._bounce(event.origin, event.stanza, StanzaError("service-unavailable"))
                return
            claimed = event.host.events.fire(_DELIVERY_EVENTS["message", "bare"], event)
            if claimed is not None:
                if isinstance(claimed, Deferred):
                    return claimed.addCallback(self._then, self._deliverToBare, event)
                return None
        return self._deliverToBare(event)

    def _deliverToBare(self, event):
        """
        RFC 6121 §8.5.2: a message to the bare JID goes to the resources
        L{_bareRecipients} chooses, or bounces when there are none.
        """
        type = event.type
        recipients = self._bareRecipients(event.to.bare, type)
        if recipients:
            for session in recipients:
                session.send(event.stanza)
            self._messageDelivered(event, recipients)
            return
        if type == "error" or type == "headline":
            return
        # §8.5.2.2.1: no available resource.  Offline storage (XEP-0160)
        # claims the message/bare event before this point when loaded.
        self._bounce(event.origin, event.stanza, StanzaError("service-unavailable"))

    def _bareRecipients(self, bare, type):
        """
        The sessions a message to C{bare} goes to (RFC 6121 §8.5.2.1.1):
        chat and normal to the available resource(s) of highest
        non-negative priority, headline to every non-negative one,
        groupchat to none.
        """
        if type == "groupchat":
            return ()
        sessions = self.sessions.sessionsFor(bare)
        if len(sessions) == 1:
            # The usual case, answered without building lists.
            session = sessions[0]
            return sessions if session.available and session.priority >= 0 else ()
        candidates = [s for s in sessions if s.available and s.priority >= 0]
        if not candidates or type == "headline":
            return candidates
        best = max(s.priority for s in candidates)
        top = [s for s in candidates if s.priority == best]
        if not self._allOfEqualPriority:
            return top[-1:]
        return top

    def _deliverPresence(self, event, target):
        """
        Default presence delivery: directed presence to a full JID goes to
        that session, presence to a bare JID to every available one.
        Subscription logic comes from the roster and presence modules.
        """
        if target == "host":
            return
        if target == "full":
            self._deliverToFull(event)
            return
        for session in self.sessions.sessionsFor(event.to.bare):
            if session.available or event.type not in (None, "unavailable"):
                session.send(event.stanza)

    def _routeRemote(self, origin, stanza, to):
        if self.remote is not None:
            self.remote.route(stanza, to)
            return
        self._bounce(origin, stanza, StanzaError(
            "remote-server-not-found", text="No route to %s" % (to.domain,)))

    # Errors

    def _bounce(self, origin, stanza, error):
        """
        Answer C{stanza} with C{error} (RFC 6120 §8.3), never answering an
        error with an error (§8.3.1).  The answer goes back to the session
        the stanza came from, addressed to that session's own JID, never to
        a C{from} the sender merely claimed.
        """
        if isError(stanza):
            return
        reply = errorReply(stanza, error)
        if origin is not None:
            if origin.jid is not None:
                reply.set("to", origin.jid.full)
                # §8.3.1 rule 2: never echo a malformed 'to' back as the
                # error's 'from'; the server itself answers instead.
                if not self._wellFormed(reply.get("from")):
                    reply.set("from", origin.jid.domain)
            elif "to" in reply.attrib:
                del reply.attrib["to"]
            origin.send(reply)
        elif reply.get("to") is not None:
            self.route(reply)

    def _wellFormed(self, text):
        if text is None:
            return True
        try:
            self.jids.parse(text)
        except InvalidJID:
            return False
        return True

    def bounce(self, event, error):
        """
        Answer the stanza of C{event} with C{error}; for modules.
        """
        self._bounce(event.origin, event.stanza, error)
