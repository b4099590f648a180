"""
Named events with prioritised handlers, and the helpers that compute event
names.

Stanzas are dispatched by name rather than by testing every handler against
every stanza: the router computes a name such as C{iq-get/host/urn:xmpp:ping:ping}
and only the handlers hooked to that exact name run.  Names are built here
and nowhere else, so a module cannot hook a misspelt event.
"""

import inspect

from zope.interface import implementer

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from xmppframe.interfaces import IEventBus


class _Hook:
    """
    A registration returned by L{EventBus.hook}; C{cancel()} removes it.
    """

    __slots__ = ("_bus", "name", "handler", "priority", "_order")

    def __init__(self, bus, name, handler, priority, order):
        self._bus = bus
        self.name = name
        self.handler = handler
        self.priority = priority
        self._order = order

    def cancel(self):
        self._bus._remove(self)


@implementer(IEventBus)
class EventBus:
    """
    An event bus: the first handler to return something other than C{None}
    claims the event.

    Handler lists are kept sorted at hook time so that L{fire} is a plain
    loop over a tuple.  A handler that raises is logged and treated as not
    having claimed the event, so one faulty module cannot stop the others.
    """

    _log = Logger()

    def __init__(self):
        self._handlers = {}
        self._counter = 0

    def hook(self, name, handler, priority=0):
        self._counter += 1
        entry = _Hook(self, name, handler, priority, self._counter)
        hooks = list(self._handlers.get(name, ())) + [entry]
        hooks.sort(key=lambda h: (-h.priority, h._order))
        self._handlers[name] = tuple(hooks)
        return entry

    def _remove(self, entry):
        hooks = tuple(h for h in self._handlers.get(entry.name, ()) if h is not entry)
        if hooks:
            self._handlers[entry.name] = hooks
        else:
            self._handlers.pop(entry.name, None)

    def hasHandlers(self, name):
        return name in self._handlers

    def fireAll(self, name, event):
        """
        Call every handler of C{name}, whatever they return: for
        notifications that nobody claims.  A handler that returns a
        Deferred (or a coroutine) is not waited for, but its failure is
        logged like a raised exception.
        """
        for entry in self._handlers.get(name, ()):
            try:
                result = entry.handler(event)
            except Exception:
                self._log.failure(
                    "handler {handler!r} for event {name} failed",
                    handler=entry.handler, name=name)
                continue
            if result is not None and isWaiting(result):
                defer.ensureDeferred(result).addErrback(
                    lambda failure, handler=entry.handler: self._log.failure(
                        "handler {handler!r} for event {name} failed", failure,
                        handler=handler, name=name))

    def fireAllAndWait(self, name, event):
        """
        Call every handler of C{name}, as L{fireAll} does, and wait for
        those that return a Deferred (or a coroutine): for work that must
        be finished before the caller goes on, such as every module's
        cleanup of a removed account (L{ACCOUNT_REMOVED}).

        @return: a Deferred that fires, once every handler has finished,
            with the list of C{(handler, Failure)} of those that raised or
            failed (each one logged); it never fails.
        """
        failures = []
        waiting = []

        def failed(failure, handler):
            self._log.failure("handler {handler!r} for event {name} failed", failure,
                              handler=handler, name=name)
            failures.append((handler, failure))

        for entry in self._handlers.get(name, ()):
            try:
                result = entry.handler(event)
            except Exception:
                failed(Failure(), entry.handler)
                continue
            if result is not None and isWaiting(result):
                waiting.append(defer.ensureDeferred(result).addErrback(failed, entry.handler))
        return defer.DeferredList(waiting).addCallback(lambda _: failures)

    def fire(self, name, event):
        """
        Call the handlers of C{name} in order until one returns something
        other than C{None}, and return that.

        A handler may wait: when it returns a Deferred (or a coroutine),
        C{fire} returns a Deferred at once, and the remaining handlers run
        when it fires with C{None} (a failure counts as C{None}, as a
        raised exception does).  That Deferred fires with what claimed the
        event, or C{None}.  Handlers that answer at once cost nothing more.
        """
        hooks = self._handlers.get(name)
        if hooks is None:
            return None
        return self._run(hooks, hooks, name, event)

    def _run(self, hooks, remaining, name, event):
        """
        Call the handlers C{remaining} (the tail of C{hooks}) until one
        claims the event or waits.
        """
        for entry in remaining:
            try:
                result = entry.handler(event)
            except Exception:
                self._log.failure(
                    "handler {handler!r} for event {name} failed",
                    handler=entry.handler, name=name)
                continue
            if result is not None:
                if isWaiting(result):
                    return self._wait(result, hooks, hooks.index(entry), name, event)
                return result
        return None

    def _wait(self, waiting, hooks, index, name, event):
        """
        The handler C{hooks[index]} returned C{waiting}: go on with the
        handlers after it once it has fired with C{None}.
        """
        handler = hooks[index].handler

        def failed(failure):
            self._log.failure("handler {handler!r} for event {name} failed", failure,
                              handler=handler, name=name)
            return None

        def resume(result):
            if result is not None:
                return result
            return self._run(hooks, hooks[index + 1:], name, event)

        return defer.ensureDeferred(waiting).addErrback(failed).addCallback(resume)


def isWaiting(result):
    """
    Whether a handler's result means "wait for me": a Deferred or a
    coroutine (from an C{async def} handler).
    """
    return isinstance(result, defer.Deferred) or inspect.iscoroutine(result)


class StanzaEvent:
    """
    What a stanza handler receives.

    @ivar origin: the L{ISession} the stanza came from (C{None} when the
        server generated it).
    @ivar stanza: the lxml element; handlers must not mutate it.
    @ivar to: the prepared L{JID} the stanza is addressed to.
    @ivar sender: the prepared L{JID} it comes from.
    @ivar host: the L{IVirtualHost} that owns C{to}.
    """

    __slots__ = ("origin", "stanza", "to", "sender", "host", "kind", "type")

    def __init__(self, origin, stanza, to, sender, host, kind, type):
        self.origin = origin
        self.stanza = stanza
        self.to = to
        self.sender = sender
        self.host = host
        self.kind = kind
        self.type = type


# Event names.  The target part says who the stanza is addressed to:
#   'host'  the server's own domain,
#   'bare'  an account's bare JID,
#   'full'  a full JID,
#   'self'  the sender's own bare JID (an iq with no 'to', RFC 6120 §10.3.3).

TARGETS = frozenset({"host", "bare", "full", "self"})


def stanzaEvent(kind, target):
    """
    The event fired for a message or presence stanza, e.g.
    C{message/bare}.
    """
    assert kind in ("message", "presence") and target in TARGETS
    return kind + "/" + target


def iqEvent(type, target, payloadName):
    """
    The event fired for an iq get or set: C{iq-get/host/urn:xmpp:ping:ping}.

    @param payloadName: the child's Clark name, C{{namespace}local}, or the
        tuple C{(namespace, local)}.
    """
    assert type in ("get", "set") and target in TARGETS
    if isinstance(payloadName, tuple):
        namespace, local = payloadName
    else:
        namespace, _, local = payloadName[1:].partition("}")
    return "iq-%s/%s/%s:%s" % (type, target, namespace, local)


def iqResponseEvent(target):
    """
    The event fired for an iq result or error addressed to C{target}.
    """
    assert target in TARGETS
    return "iq-response/" + target


def outboundEvent(kind):
    """
    Fired on the sender's host for every stanza a local account sends (or
    the server sends on its behalf), before it is routed: the one place to
    filter what an account sends (XEP-0016, XEP-0191).  Claiming it stops
    the stanza.
    """
    assert kind in ("message", "presence", "iq")
    return "outbound/" + kind


def inboundEvent(kind):
    """
    Fired on the recipient's host for every stanza addressed to a local
    account (bare or full JID) from anyone but that account itself, before
    any other event: the one place to filter what an account receives.
    Claiming it stops the stanza.
    """
    assert kind in ("message", "presence", "iq")
    return "inbound/" + kind


#: Fired on the host bus, with the L{StanzaEvent} of the presence, after
#: C{presence/self} when a session goes from unavailable to available: its
#: initial presence (RFC 6121 §4.2).  Every handler runs; none claims.
INITIAL_PRESENCE = "presence/initial"

#: Fired on the host bus with the username (the prepared localpart) when an
#: account has been removed, in band (XEP-0077 §3.2) or by the admin
#: command, after its credentials are deleted and its sessions closed:
#: each module drops what it keeps for the account and cancels what
#: it started on its behalf.  A handler returns a Deferred (or is an
#: C{async def}) for work that waits; the removal
#: (L{xmppframe.accounts.removeAccount}) fires it with
#: L{EventBus.fireAllAndWait} and is done only when every handler is.
ACCOUNT_REMOVED = "account/removed"

#: Fired on the recipient's host bus (every handler runs; none claims), with
#: a L{MessageAnnotation}, once for each message addressed to a local
#: account (its bare or full JID), after the inbound filters and before
#: C{message/full} or C{message/bare}: the one step where the server adds
#: to what it delivers, such as the archive's stanza id (XEP-0359 §4), which
#: the stored and delivered copies must both carry.  Handlers ask for
#: changes; the router, which owns the stanza, makes them.
MESSAGE_ANNOTATE = "message/annotate"


class MessageAnnotation:
    """
    What L{MESSAGE_ANNOTATE} handlers receive.

    @ivar event: the L{StanzaEvent} of the message; its stanza is as the
        sender sent it until every handler has run.
    """

    __slots__ = ("event", "_added", "_removed")

    def __init__(self, event):
        self.event = event
        self._added = []
        self._removed = []

    def add(self, element):
        """
        Append C{element} to the message before it is delivered.
        """
        self._added.append(element)

    def remove(self, child):
        """
        Take C{child}, a child element of the message, out of it (e.g. a
        forged stanza id, XEP-0359 §5 rule 2).
        """
        self._removed.append(child)

    def apply(self):
        stanza = self.event.stanza
        for child in self._removed:
            if child.getparent() is stanza:
                stanza.remove(child)
        for element in self._added:
            stanza.append(element)


#: Fired on the recipient's host bus, with a L{MessageDelivery}, after the
#: router's default rules (RFC 6121 §8.5) sent a message to local sessions:
#: where a module learns who got it, e.g. Message Carbons (XEP-0280 §7)
#: copies it to the account's other sessions.  Every handler runs; none
#: claims.
MESSAGE_DELIVERED = "message/delivered"


class MessageDelivery:
    """
    What L{MESSAGE_DELIVERED} handlers receive.

    @ivar event: the L{StanzaEvent} of the message.
    @ivar recipients: the sessions it was sent to, a sequence.
    """

    __slots__ = ("event", "recipients")

    def __init__(self, event, recipients):
        self.event = event
        self.recipients = recipients


#: Fired on the account's host bus (fireAll), with a L{RosterChange}, after
#: a roster item was durably stored or removed (RFC 6121 §2): where modules
#: that judge stanzas by roster facts (privacy lists' 'subscription' and
#: 'group' items, XEP-0016 §2.2 rule 9) learn of the change without
#: reading the roster again.  Every handler runs; none claims.
ROSTER_CHANGED = "roster/changed"


class RosterChange:
    """
    What L{ROSTER_CHANGED} handlers receive.

    @ivar user: the account's prepared localpart (str).
    @ivar contact: the contact's bare L{JID}.
    @ivar item: the new L{RosterItem}, or C{None} if the item was removed.
    """

    __slots__ = ("user", "contact", "item")

    def __init__(self, user, contact, item):
        self.user = user
        self.contact = contact
        self.item = item

    def __repr__(self):
        return "RosterChange(%r, %r, %r)" % (self.user, self.contact, self.item)


#: Fired on the host bus with the L{ISession} when a client session is bound.
SESSION_BOUND = "session/bound"
#: Fired on the host bus with the L{ISession} when a bound session ends.
SESSION_ENDED = "session/ended"
