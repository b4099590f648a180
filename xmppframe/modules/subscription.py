"""
Presence subscriptions (RFC 6121 §3 and Appendix A): the state machine a
server runs for its accounts' subscription stanzas, both ways.

Outbound (RFC 6121 §3.1.2, §3.1.5, §3.2.2, §3.3.2, §3.4.2; Appendix A.2):
a C{subscribe}, C{subscribed}, C{unsubscribe} or C{unsubscribed} a client
sends is claimed on C{outbound/presence} of the sender's host.  The
account's roster item and any pending request from the contact give the
state; the tables say whether the stanza is routed (always to the
contact's bare JID, from the account's bare JID) and what the new state
is, which is written through L{xmppframe.interfaces.IRoster} (that pushes
it to the interested resources).  Subscription stanzas the server itself
routes (an auto-reply here, the roster module's on item removal) have no
origin session and are left to the router: the code that made them has
already decided.  The hook runs before outbound filters (privacy lists,
blocking), which judge the copy routed on like any other stanza.

Inbound (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3; Appendix A.3): a
subscription stanza to a local account, bare or full JID alike, is
claimed on C{presence/bare} / C{presence/full} of the recipient's host,
delivered or silently ignored as the tables say, and may be answered on
the account's behalf (C{subscribed} when already subscribed or
pre-approved, C{unsubscribed} after an unsubscribe).

The same code handles a local contact and a remote one: the outbound side
only routes through the router, the inbound side only reads what arrives.

"Pending In" is not part of a roster item (§3.1.3: no item is made until
the account approves), so the inbound request itself is kept in the map
store C{subscription-requests} (account -> contact bare JID -> the
serialized C{subscribe} stanza).  It is delivered to the available
resources when it arrives and again to each newly available resource
until the account answers it (§3.1.3 rule 4); only one per contact is
kept, and at most C{max_pending_requests} per account (the §3.1.3
security warning).

Order.  Everything for one account (its outbound and inbound subscription
stanzas, re-delivery at login) runs in that account's queue, one at a
time, so the read-modify-write of its state never loses an update.  While
the queue is busy, available and unavailable presence to the account is
queued behind it: an approval's C{subscribed} thus reaches the client
before the contact's presence that follows it (§3.1.6 steps 1-3).
"""

from dataclasses import dataclass, replace

from lxml import etree

from xmppframe.api import (
    ACCOUNT_REMOVED, INITIAL_PRESENCE, accountExists, addressed, atLeast, currentPresence,
    InformativeFeature, IRoster, KeyedQueue, Module, ModuleOption, outboundEvent, Priority,
    stanzaEvent, unavailablePresence, UsersWithData)
from xmppframe.xml import namespaces as NS
from xmppframe.xml.safe import safeParser
from xmppframe.xml.stanza import makeStanza, serialize

__all__ = ["SubscriptionModule", "SubscriptionState", "Outcome", "outbound", "inbound",
           "PreApprovalFeature", "SUBSCRIPTION_TYPES"]

#: The presence types that manage subscriptions (RFC 6121 §3).
SUBSCRIPTION_TYPES = frozenset({"subscribe", "subscribed", "unsubscribe", "unsubscribed"})

_REQUEST_PARSER = safeParser()


def _subscription(to, from_):
    if to and from_:
        return "both"
    if to:
        return "to"
    if from_:
        return "from"
    return "none"


@dataclass(frozen=True)
class SubscriptionState:
    """
    One of the nine states of RFC 6121 Appendix A.1, from the account's
    point of view, with the pre-approval flag of §3.4.

    @ivar subscription: the roster's 'none', 'to', 'from' or 'both'.
    @ivar ask: Pending Out (the roster's C{ask='subscribe'}).
    @ivar pendingIn: the contact's request awaits the account's answer.
    @ivar approved: the account pre-approved the contact (§3.4).
    """

    subscription: str = "none"
    ask: bool = False
    pendingIn: bool = False
    approved: bool = False

    @classmethod
    def of(cls, item, pendingIn):
        """
        The state of roster item C{item} (C{None}: not in the roster, which
        Appendix A.1 counts as "None").
        """
        if item is None:
            return cls(pendingIn=pendingIn)
        return cls(item.subscription, item.ask, pendingIn, item.approved)

    @property
    def subscribedTo(self):
        return self.subscription in ("to", "both")

    @property
    def subscribedFrom(self):
        return self.subscription in ("from", "both")

    def withTo(self, on):
        return replace(self, subscription=_subscription(on, self.subscribedFrom))

    def withFrom(self, on):
        return replace(self, subscription=_subscription(self.subscribedTo, on))

    @property
    def name(self):
        """
        The state's name in RFC 6121 Appendix A, e.g. "None + Pending Out+In".
        """
        pending = []
        if self.ask:
            pending.append("Out")
        if self.pendingIn:
            pending.append("In")
        text = self.subscription.capitalize()
        if pending:
            text += " + Pending " + "+".join(pending)
        return text


@dataclass(frozen=True)
class Outcome:
    """
    What a subscription stanza does: C{send} (route it, outbound; deliver
    it, inbound), the new C{state}, and the presence type of an
    auto-reply on the account's behalf (or C{None}).
    """

    send: bool
    state: SubscriptionState
    reply: str = None


def outbound(state, type):
    """
    The account sends subscription stanza C{type} to the contact:
    RFC 6121 Appendix A.2 (Tables 2-5) and §3.4.2 (pre-approval).
    """
    if type == "subscribe":
        # Table 2: always routed; "Pending Out" unless subscribed already.
        if state.subscribedTo or state.ask:
            return Outcome(True, state)
        return Outcome(True, replace(state, ask=True))
    if type == "unsubscribe":
        # Table 3: always routed; the 'to' half and Pending Out go.
        return Outcome(True, replace(state.withTo(False), ask=False))
    if type == "subscribed":
        # Table 4 and §3.4.2.
        if state.subscribedFrom:
            return Outcome(False, state)
        if state.pendingIn:
            return Outcome(True, replace(state.withFrom(True), pendingIn=False, approved=False))
        return Outcome(False, replace(state, approved=True))
    if type == "unsubscribed":
        # Table 5 and §3.2.2: routed only when it cancels or denies
        # something; otherwise it only cancels a pre-approval.
        if state.subscribedFrom or state.pendingIn:
            return Outcome(True, replace(state.withFrom(False), pendingIn=False, approved=False))
        return Outcome(False, replace(state, approved=False))
    raise ValueError("not a subscription type: %r" % (type,))


def inbound(state, type):
    """
    The contact sends subscription stanza C{type} to the account:
    RFC 6121 Appendix A.3 (Tables 6-9), §3.1.3 and §3.4.2.
    """
    if type == "subscribe":
        # Table 6.
        if state.subscribedFrom:
            # [2] and §3.1.3 rule 2: already subscribed, say so again.
            return Outcome(False, state, "subscribed")
        if state.approved:
            # [1] and §3.4.2: pre-approved, so approved now.
            return Outcome(False, replace(state.withFrom(True), approved=False), "subscribed")
        if state.pendingIn:
            return Outcome(False, state)
        return Outcome(True, replace(state, pendingIn=True))
    if type == "unsubscribe":
        # Table 7 and §3.3.3.
        if state.subscribedFrom or state.pendingIn:
            return Outcome(True, replace(state.withFrom(False), pendingIn=False), "unsubscribed")
        return Outcome(False, state)
    if type == "subscribed":
        # Table 8 and §3.1.6: only an awaited approval counts.
        if state.ask and not state.subscribedTo:
            return Outcome(True, replace(state.withTo(True), ask=False))
        return Outcome(False, state)
    if type == "unsubscribed":
        # Table 9 and §3.2.3.
        if state.ask or state.subscribedTo:
            return Outcome(True, replace(state.withTo(False), ask=False))
        return Outcome(False, state)
    raise ValueError("not a subscription type: %r" % (type,))


class PreApprovalFeature(InformativeFeature):
    """
    Advertises C{<sub xmlns='urn:xmpp:features:pre-approval'/>} (RFC 6121
    §3.4), informative only, with the features offered after
    authentication.
    """

    NAMESPACE = NS.PRE_APPROVAL
    LOCAL = "sub"


class SubscriptionModule(Module):
    """
    Presence subscriptions (RFC 6121 §3, Appendix A) for one host; needs
    the C{roster} module.
    """

    name = "subscription"
    summary = "presence subscriptions and pre-approval"
    xeps = ("RFC 6121 §3",)
    dependencies = ("roster",)
    optionSchema = {
        "max_pending_requests": ModuleOption(
            "integer", 100, atLeast(1),
            "Most subscription requests kept for an account until it answers them "
            "(RFC 6121 §3.1.3 security warning); more are ignored."),
    }

    #: The account's own subscription stanzas are taken before outbound
    #: filters such as privacy lists (XEP-0016); what this module routes
    #: on is judged by those filters like any stanza.
    OUTBOUND_PRIORITY = Priority.ACCOUNT

    def __init__(self, api):
        Module.__init__(self, api)
        self._queues = KeyedQueue()
        self._requests = None
        self._maxPending = api.options["max_pending_requests"]

    def load(self):
        self._requests = self.api.openStore("map", "subscription-requests")
        # Who has pending requests, so that logins of others skip the read.
        self._requesters = UsersWithData(self._requests, self.api.log)
        self.api.hook(outboundEvent("presence"), self._onOutbound, self.OUTBOUND_PRIORITY)
        for target in ("bare", "full"):
            self.api.hook(stanzaEvent("presence", target), self._onInbound)
        self.api.hook(INITIAL_PRESENCE, self._onInitialPresence)
        self.api.hook(ACCOUNT_REMOVED, self._onAccountRemoved)
        self.api.addStreamResponder(PreApprovalFeature())

    @property
    def roster(self):
        return self.api.service(IRoster)

    def _serially(self, user, f, *args):
        d = self._queues.run(user, f, *args)
        d.addErrback(lambda failure: self.api.log.failure(
            "subscription work for {user} failed", failure, user=user))
        return d

    # Outbound (the account's client sends)

    def _onOutbound(self, event):
        if event.type not in SUBSCRIPTION_TYPES or event.origin is None or event.to is None:
            return None
        contact = event.to.bare
        account = event.sender.bare
        if contact == account:
            # Subscribing to oneself means nothing (§2.3.3 keeps the
            # account out of its own roster); dropped.
            return True
        self._serially(account.localpart, self._processOutbound,
                       event.stanza, event.type, account, contact)
        return True

    async def _processOutbound(self, stanza, type, account, contact):
        user = account.localpart
        item, old = await self._state(user, contact)
        outcome = outbound(old, type)
        route = self.api.router.route
        if outcome.send:
            if type == "unsubscribed" and old.subscribedFrom:
                # §3.2.2: while the contact is still subscribed, it is told
                # each resource is unavailable.
                for presence in unavailablePresence(self.api.sessions, account, contact):
                    route(presence)
            # §3.1.2 rule 1, §3 note: to the bare JID, from the bare JID.
            route(addressed(stanza, contact, account))
        await self._store(user, contact, item, old, outcome.state)
        if outcome.send and type == "subscribed":
            # §3.1.5: the new subscriber gets the current presence.
            for presence in currentPresence(self.api.sessions, account, contact):
                route(presence)

    # Inbound (a contact sends to the account)

    def _onInbound(self, event):
        account = event.to.bare
        if event.type in SUBSCRIPTION_TYPES:
            if event.sender.bare != account:
                # §3.1.3: a full JID 'to' is treated as the bare JID.
                self._serially(account.localpart, self._processInbound,
                               event.stanza, event.type, event.sender.bare, account)
            return True
        if event.type in (None, "unavailable") and self._queues.busy(account.localpart):
            self._serially(account.localpart, self._deliverPresence, event.stanza, event.to)
            return True
        return None

    async def _processInbound(self, stanza, type, contact, account):
        user = account.localpart
        if not await accountExists(self.api.host, user, self.api.sessions, account):
            # §8.5.1: silently ignored.
            return
        item, old = await self._state(user, contact)
        outcome = inbound(old, type)
        sessions = self.api.sessions.sessionsFor(account)
        delivered = addressed(stanza, account)
        if type == "subscribe" and outcome.send:
            pending = await self._requests.items(user)
            if len(pending) >= self._maxPending:
                self.api.log.warn(
                    "{user} has {count} pending subscription requests; one from {contact} ignored",
                    user=user, count=len(pending), contact=contact)
                return
            await self._requests.set(user, contact.full, serialize(delivered).decode("utf-8"))
            self._requesters.stored(user)
            # §3.1.3 rule 3: to every available resource.
            for session in sessions:
                if session.available:
                    session.send(delivered)
            return
        if outcome.send:
            # §3.1.6, §3.2.3, §3.3.3 step 1: to the interested resources
            # (and the available ones), before the roster push.
            for session in sessions:
                if session.available or session.interested:
                    session.send(delivered)
        await self._store(user, contact, item, old, outcome.state)
        route = self.api.router.route
        if type == "unsubscribe" and outcome.send and old.subscribedFrom:
            # §3.3.3 step 3.
            for presence in unavailablePresence(self.api.sessions, account, contact):
                route(presence)
        if outcome.reply is not None:
            route(makeStanza("presence", from_=account, to=contact, type=outcome.reply,
                             id=stanza.get("id")))
            if outcome.reply == "subscribed":
                # As after an approval by the client (§3.1.5).
                for presence in currentPresence(self.api.sessions, account, contact):
                    route(presence)

    async def _deliverPresence(self, stanza, to):
        """
        The router's own delivery of available or unavailable presence
        (§8.5.2.1.2, §8.5.3.1), for presence that waited in the queue.
        """
        if to.resource is not None:
            session = self.api.sessions.sessionFor(to)
            if session is not None:
                session.send(stanza)
            return
        for session in self.api.sessions.sessionsFor(to):
            if session.available:
                session.send(stanza)

    # State

    async def _state(self, user, contact):
        item = await self.roster.getItem(user, contact)
        request = await self._requests.get(user, contact.full)
        return item, SubscriptionState.of(item, request is not None)

    async def _store(self, user, contact, item, old, new):
        """
        Write what changed: the roster item's fields through L{IRoster}
        (which pushes it), and the pending request.
        """
        before = (old.subscription, old.ask, old.approved)
        after = (new.subscription, new.ask, new.approved)
        if before != after:
            await self.roster.updateSubscription(
                user, contact, subscription=new.subscription, ask=new.ask,
                approved=new.approved)
        if old.pendingIn and not new.pendingIn:
            await self._requests.delete(user, contact.full)

    # Pending requests (§3.1.3 rule 4)

    def _onInitialPresence(self, event):
        session = event.origin
        if session is None or session.jid is None:
            return
        self._serially(session.jid.localpart, self._redeliver, session)

    async def _redeliver(self, session):
        user = session.jid.localpart
        if not self._requesters.mayHave(user):
            return
        requests = await self._requests.items(user)
        if not requests:
            self._requesters.emptied(user)
        for contact in sorted(requests):
            try:
                stanza = etree.fromstring(requests[contact].encode("utf-8"), _REQUEST_PARSER)
            except (etree.XMLSyntaxError, AttributeError):
                self.api.log.warn("dropping an unreadable subscription request from "
                                  "{contact} to {user}", contact=contact, user=user)
                await self._requests.delete(user, contact)
                continue
            session.send(stanza)

    def _onAccountRemoved(self, user):
        """
        L{ACCOUNT_REMOVED}: the requests waiting for the account go; the
        removal waits for the Deferred.
        """
        return self._queues.run(user, self._forget, user)

    def unload(self):
        """
        Unhook, then wait for the subscription work already queued (a
        contact's roster change must be stored before storage closes).
        """
        Module.unload(self)
        return self._queues.drain()

    async def _forget(self, user):
        self._requesters.emptied(user)
        await self._requests.clear(user)
