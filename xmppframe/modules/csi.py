"""
Client State Indication (XEP-0352): a client says when its user is not
looking, and the server holds back what can wait.

The feature C{<csi xmlns='urn:xmpp:csi:0'/>} is offered in the stream
features once the client has authenticated (XEP-0352 §4.1).  After binding
the client sends the top-level elements C{<inactive/>} and C{<active/>}
(§4.2), which are not stanzas and get no reply.  Every stream starts
active (§5).

What is held (the policy is the server's, §3.2).  While a session is
inactive, presence updates to it (available and unavailable presence)
are held back, only the latest from each sender, since a newer presence
replaces an older one.  They go out, in the order they last changed, when:

  - the client sends C{<active/>};
  - a message with a body (also inside a carbon or other wrapper) or an
    iq is about to be sent to it: what the user will look at is not
    shown against stale presence, and nothing overtakes what was held;
  - any other presence (subscription requests and answers, errors) is
    about to be sent to it, so that the order of presence from one sender
    is kept;
  - more senders are held than the C{max_held} option allows: memory per
    session is bounded, and sending is never wrong, merely less thrifty.

Messages without a body (chat states, receipts) pass without releasing
anything.  Everything triggered by C{<active/>} happens before the next
element from the client is processed (§5.1): the handler runs
synchronously as the element is parsed.

Holding works through the session's C{sendFilters} (see
L{xmppframe.streams.c2s.C2SStream}), so it catches presence however it is
sent: by the router or by the presence module directly.  A session
without C{sendFilters} is not held back.
"""

import weakref
from collections import OrderedDict

from xmppframe.api import SESSION_ENDED, atLeast, Module, ModuleOption
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

__all__ = ["CSIModule", "CSIFeature", "HeldPresence"]

# XEP-0352 §4: NS.CSI is the namespace of the feature and the state elements.
_ACTIVE = NS.qname(NS.CSI, "active")
_INACTIVE = NS.qname(NS.CSI, "inactive")
#: Availability presence (RFC 6121 §4): the updates that may wait.
_UPDATE_TYPES = frozenset({None, "unavailable"})


def _localName(tag):
    return tag.rpartition("}")[2]


class CSIFeature:
    """
    The stream feature responder: C{<csi/>} once authenticated (§4.1).
    """

    def offerKey(self, stream):
        return bool(getattr(stream, "authenticated", None))

    def offer(self, stream):
        if getattr(stream, "authenticated", None):
            return [makeElement(NS.CSI, "csi")]
        return []

    def handlers(self, stream):
        return {}


class HeldPresence:
    """
    The presence held back from one inactive session: the latest from each
    sender, oldest change first, at most C{limit} senders.

    It holds no reference to the session, so that a session is never kept
    alive by its own queue.
    """

    def __init__(self, limit):
        self.limit = limit
        self.releasing = False
        self._bySender = OrderedDict()

    def __len__(self):
        return len(self._bySender)

    def senders(self):
        return list(self._bySender)

    def hold(self, presence):
        """
        Keep C{presence} in place of any earlier one from its sender.

        @return: whether more senders are held than the limit allows.
        """
        sender = presence.get("from")
        self._bySender.pop(sender, None)
        self._bySender[sender] = presence
        return len(self._bySender) > self.limit

    def release(self, session):
        """
        Send everything held to C{session}, oldest change first.
        """
        self.releasing = True
        try:
            while self._bySender:
                session.send(self._bySender.popitem(last=False)[1])
        finally:
            self.releasing = False


class CSIModule(Module):
    """
    XEP-0352 for the client sessions of one host.
    """

    name = "csi"
    summary = "client state indication, presence held while a client is inactive"
    xeps = ("XEP-0352",)
    optionSchema = {
        "max_held": ModuleOption(
            "integer", 1000, atLeast(1),
            help="Most senders whose latest presence is held back for one inactive "
                 "session (XEP-0352 §3.2); past it everything held is sent."),
    }

    def __init__(self, api):
        Module.__init__(self, api)
        # session -> HeldPresence while the session is inactive.
        self._inactive = weakref.WeakKeyDictionary()

    def load(self):
        self.maxHeld = self.api.options["max_held"]
        if not isinstance(self.maxHeld, int) or isinstance(self.maxHeld, bool) or self.maxHeld < 1:
            raise ValueError("csi: max_held must be a positive integer, got %r" % (self.maxHeld,))
        self.api.addStreamResponder(CSIFeature())
        self.api.addElementHandler(_ACTIVE, self.onActive)
        self.api.addElementHandler(_INACTIVE, self.onInactive)
        self.api.hook(SESSION_ENDED, self.onSessionEnded)

    def unload(self):
        """
        Unhook, and give every inactive session what was held for it.
        """
        Module.unload(self)
        for session, held in list(self._inactive.items()):
            self._stopHolding(session)
            held.release(session)
        self._inactive.clear()

    def isInactive(self, session):
        return session in self._inactive

    # Client state (§4.2)

    def onInactive(self, session, element):
        if session in self._inactive:
            return
        filters = session.sendFilters
        if filters is None:
            self.api.log.debug("{session!r} cannot hold stanzas back", session=session)
            return
        self._inactive[session] = HeldPresence(self.maxHeld)
        filters.append(self._filter)

    def onActive(self, session, element):
        held = self._inactive.pop(session, None)
        if held is None:
            return
        self._stopHolding(session)
        held.release(session)

    def onSessionEnded(self, session):
        if self._inactive.pop(session, None) is not None:
            self._stopHolding(session)

    def _stopHolding(self, session):
        filters = session.sendFilters
        if filters is not None and self._filter in filters:
            filters.remove(self._filter)

    # Holding

    def _filter(self, session, stanza):
        """
        The send filter of an inactive session: hold presence updates,
        release them before anything that must not overtake them.

        @return: C{True} when C{stanza} is held.
        """
        held = self._inactive.get(session)
        if held is None or held.releasing:
            return False
        tag = stanza.tag
        if not isinstance(tag, str):
            return False
        kind = _localName(tag)
        if kind == "presence":
            if stanza.get("type") in _UPDATE_TYPES:
                if held.hold(stanza):
                    held.release(session)
                return True
            held.release(session)
        elif kind == "iq" or (kind == "message" and self._hasBody(stanza)):
            held.release(session)
        return False

    def _hasBody(self, message):
        namespace = message.tag[:message.tag.index("}") + 1] if message.tag[:1] == "{" else ""
        return next(message.iter(namespace + "body"), None) is not None
