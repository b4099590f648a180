"""
Message Carbons (XEP-0280): every Carbons-enabled session of an account
sees both sides of the account's conversations, whichever of its devices
took part.

Enabling.  A session turns Carbons on and off with an iq set of
C{<enable/>} or C{<disable/>} to its own account (no C{to}, or its bare
JID; XEP-0280 §4, §5).  Repeating either is not an error (§10.1).  The
setting belongs to the session and is forgotten when it ends.

Which messages are copied (§6.1): C{chat}; C{normal} with a body; any
message carrying IM payloads (receipts, chat states, chat markers); an
C{error} that carries such content back (this server keeps no record of
what it copied, so an error counts as "sent in response to" an eligible
message when its echoed payload would make one eligible); MUC invitations
(XEP-0249 and mediated).  Never: C{groupchat}, a message marked
C{<private xmlns='urn:xmpp:carbons:2'/>} or hinted C{<no-copy
xmlns='urn:xmpp:hints'/>} (§9), a message that already is a carbon, nor a
MUC private message received from an occupant (recognised by its
C{<x xmlns='http://jabber.org/protocol/muc#user'/>}).  The rules are a
reading of §6.1 that cannot track MUC joins or past messages, so
C{urn:xmpp:carbons:rules:0} (§6.2) is not advertised.

Sent carbons (§8).  When a session sends an eligible message, every other
Carbons-enabled session of the account gets a copy wrapped in
C{<sent/>}, whether or not the sender enabled Carbons.  This is observed
on C{outbound/message}, below the filters that may stop a message
(privacy lists, blocking), and never claimed.

Received carbons (§7).  When the router has delivered an eligible message
to some sessions of an account (RFC 6121 §8.5), every other
Carbons-enabled session of it gets a copy wrapped in C{<received/>}.
The router says whom it delivered to with L{MESSAGE_DELIVERED}, so the
delivery rules are not repeated here.  A message stored offline
(XEP-0160) was delivered to nobody and is not copied.

A message to the account itself (from one of its sessions to another, or
to its bare JID) is copied once, as a sent carbon, to the enabled
sessions that neither sent nor received it: each session sees it exactly
once.

Copies are addressed C{from} the bare JID and C{to} each session's full
JID, keep the original's type (§7, §8), and wrap the original in a
XEP-0297 C{<forwarded/>}.  The original is serialized once per message,
whatever the number of copies.
"""

import weakref
from copy import deepcopy
from xml.sax.saxutils import quoteattr

from xmppframe.errors import StanzaError
from xmppframe.api import Priority, MESSAGE_DELIVERED, SESSION_ENDED, Module, outboundEvent
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import serialize

__all__ = ["CarbonsModule", "CarbonCopy", "isEligible", "SENT", "RECEIVED"]

#: Payloads "typically used in IM" (XEP-0280 §6.1): XEP-0184 receipts,
#: XEP-0085 chat states, XEP-0333 chat markers.
IM_PAYLOADS = frozenset({NS.RECEIPTS, NS.CHAT_STATES, NS.CHAT_MARKERS})

#: The direction of a copy: what the account sent (§8), or received (§7).
SENT = "sent"
RECEIVED = "received"

_MUC_INVITE = NS.qname(NS.MUC_USER, "invite")


def _split(tag):
    if tag[:1] == "{":
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def isEligible(message, direction):
    """
    Whether C{message} is copied to an account's other sessions
    (XEP-0280 §6.1, §9; see the module docstring for the reading).

    @param direction: L{SENT} when the account sends it, L{RECEIVED} when
        it receives it: a MUC private message is copied when a local user
        sends it, not when an occupant sends it to them.
    """
    type = message.get("type") or "normal"
    if type == "groupchat":
        return False
    ownNamespace = _split(message.tag)[0]
    body = imPayload = mucUser = invitation = False
    for child in message:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        namespace, local = _split(tag)
        if namespace == NS.CARBONS:
            # <private/> (§9), or a <sent/>/<received/>: already a carbon.
            return False
        if namespace == NS.HINTS and local == "no-copy":
            return False
        if namespace == ownNamespace and local == "body":
            body = True
        elif namespace in IM_PAYLOADS:
            imPayload = True
        elif namespace == NS.CONFERENCE:
            invitation = True
        elif namespace == NS.MUC_USER:
            mucUser = True
            if child.find(_MUC_INVITE) is not None:
                invitation = True
    if invitation:
        return True
    if mucUser and direction == RECEIVED:
        # Already copied by the MUC service to every joined client (§6.1).
        return False
    if type == "chat":
        return True
    if type in ("normal", "error") and body:
        return True
    return imPayload


class CarbonCopy:
    """
    The forwarded copy of one message (XEP-0280 §7, §8; XEP-0297 §4),
    made once and addressed to each receiving session in turn.

    The original is serialized once; each copy is that serialization in a
    wrapper whose only varying part is its C{to}, written with
    C{sendSerialized} where the session has it.
    """

    def __init__(self, direction, message, account, to=None):
        """
        @param direction: L{SENT} or L{RECEIVED}.
        @param message: the original message (not changed).
        @param account: the bare L{JID} whose sessions get copies.
        @param to: the original's recipient; written into the copy when
            the original had no C{to} (a message to one's own account).
        """
        if message.get("to") is None and to is not None:
            message = deepcopy(message)
            message.set("to", to.full)
        head = "<message xmlns=%s from=%s" % (quoteattr(NS.CLIENT), quoteattr(account.full))
        type = message.get("type")
        if type is not None:
            head += " type=%s" % (quoteattr(type),)
        self._head = (head + " to=").encode("utf-8")
        self._tail = b"".join([
            ("><%s xmlns=%s><forwarded xmlns=%s>" % (
                direction, quoteattr(NS.CARBONS), quoteattr(NS.FORWARD))).encode("utf-8"),
            serialize(message),
            ("</forwarded></%s></message>" % (direction,)).encode("utf-8"),
        ])

    def bytesFor(self, jid):
        """
        The serialized copy addressed to the full JID C{jid}.
        """
        return self._head + quoteattr(jid.full).encode("utf-8") + self._tail

    def sendTo(self, session):
        data = self.bytesFor(session.jid)
        session.sendSerialized(data)


class CarbonsModule(Module):
    """
    XEP-0280 Message Carbons for the accounts of one host.
    """

    name = "carbons"
    summary = "message carbons, both sides of a conversation on every device"
    xeps = ("XEP-0280",)

    def __init__(self, api):
        Module.__init__(self, api)
        # The sessions that enabled Carbons; weak, so that a session is
        # never kept alive here even if its end were missed.
        self._enabled = weakref.WeakSet()

    def load(self):
        self.api.addFeature(NS.CARBONS)
        self.api.hookIQ("set", "self", (NS.CARBONS, "enable"), self.enable)
        self.api.hookIQ("set", "self", (NS.CARBONS, "disable"), self.disable)
        self.api.hook(outboundEvent("message"), self.onOutbound, Priority.OBSERVE)
        self.api.hook(MESSAGE_DELIVERED, self.onDelivered)
        self.api.hook(SESSION_ENDED, self.onSessionEnded)

    def unload(self):
        Module.unload(self)
        self._enabled.clear()

    # Enabling (XEP-0280 §4, §5, §10.1)

    def isEnabled(self, session):
        return session in self._enabled

    def enable(self, event):
        self._enabled.add(self._clientSession(event))
        return True

    def disable(self, event):
        self._enabled.discard(self._clientSession(event))
        return True

    def _clientSession(self, event):
        session = event.origin
        if session is None or session.kind != "c2s":
            # §4.1, §5.1: only a client of this server has Carbons.
            raise StanzaError("not-allowed", text="Carbons are for client sessions")
        return session

    def onSessionEnded(self, session):
        self._enabled.discard(session)

    # Copying

    def _enabledSessions(self, account, exclude):
        return [session for session in self.api.sessions.sessionsFor(account)
                if session in self._enabled and session not in exclude]

    def onOutbound(self, event):
        """
        C{outbound/message}: a sent carbon for the sender's other enabled
        sessions (XEP-0280 §8).  Messages to the account itself are copied
        once delivered (L{onDelivered}).  Never claims.
        """
        origin = event.origin
        if not self._enabled or origin is None or origin.kind != "c2s":
            return None
        account = event.sender.bare
        if event.to is None or event.to.bare == account:
            return None
        others = self._enabledSessions(account, (origin,))
        if others and isEligible(event.stanza, SENT):
            self._copy(SENT, event, account, others)
        return None

    def onDelivered(self, delivery):
        """
        L{MESSAGE_DELIVERED}: a received carbon for the recipient's enabled
        sessions that did not get the original (XEP-0280 §7); or, for a
        message from one of the account's own sessions, a sent carbon for
        those that neither sent nor got it.
        """
        if not self._enabled:
            return
        event = delivery.event
        account = event.to.bare
        origin = event.origin
        fromAccount = origin is not None and event.sender.bare == account
        exclude = list(delivery.recipients)
        if fromAccount:
            exclude.append(origin)
        others = self._enabledSessions(account, exclude)
        if not others:
            return
        direction = SENT if fromAccount else RECEIVED
        if isEligible(event.stanza, direction):
            self._copy(direction, event, account, others)

    def _copy(self, direction, event, account, sessions):
        carbon = CarbonCopy(direction, event.stanza, account, event.to)
        for session in sessions:
            carbon.sendTo(session)
