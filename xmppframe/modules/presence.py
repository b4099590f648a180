"""
Presence (RFC 6121 §4): broadcast to subscribers, probes, directed
presence, and unavailable presence however a session ends.

What this module does, by event:

  - C{presence/initial} (a session's initial presence, §4.2.2): the
    presence goes to every contact with a subscription 'from' or 'both',
    and to each of the account's available resources (the new one
    included: an entity is implicitly subscribed to its own presence); the
    other resources' last presence goes to the new one; and a probe from
    the account's bare JID goes to every contact it is subscribed to ('to'
    or 'both', §4.3.1).
  - C{presence/self} (broadcast presence, no 'to'): a later available
    presence goes to the same subscribers and resources (§4.4.2);
    unavailable presence goes to them too, and to every entity the session
    sent directed presence to (§4.5.2, §4.6.3), and ends the presence
    session.
  - C{session/ended} of an available session (a dropped connection):
    the server generates that unavailable presence itself (§4.5.2: "MUST
    NOT depend on receiving unavailable presence").
  - C{outbound/presence} of directed presence (§4.6): the 'to' of
    available presence a client addresses to another entity is added to
    the session's C{directedPresence}, and removed by directed unavailable
    presence; the router delivers the stanza itself.  Every such JID is
    kept (the interface's contract); when the session goes unavailable,
    JIDs whose bare JID is a subscriber are skipped because the broadcast
    already reaches them (§4.6.3 rules 1 and 2 both hold).
  - C{presence/bare} and C{presence/full} of a probe (§4.3.2): answered
    on the probed account's behalf, never delivered.  Inbound available
    and unavailable presence is left to the router, which delivers it to
    the available resources (§4.2.3, §4.4.3, §4.5.3, §8.5.2.1.2) whether
    or not the sender is a contact (§4.6.4: directed presence from
    non-contacts is delivered like any other).

Every stanza sent here is a new copy with its own 'to' (and 'from'); the
stanza the router handed over is never changed.  One roster read serves
each broadcast.  Subscription stanzas are the L{subscription} module's.
"""

from weakref import WeakSet

from twisted.internet import defer

from xmppframe.api import (
    INITIAL_PRESENCE, SESSION_ENDED, IRoster, Module, Priority, accountExists, addressed,
    availableSessions, currentPresence, outboundEvent, stanzaEvent)
from xmppframe.xml.stanza import makeStanza

__all__ = ["PresenceModule"]


class PresenceModule(Module):
    """
    Presence broadcast, probes and directed presence (RFC 6121 §4) for one
    host; needs the C{roster} module (L{xmppframe.interfaces.IRoster}).
    """

    name = "presence"
    summary = "presence broadcast, probes, directed and unavailable presence"
    xeps = ("RFC 6121 §4",)
    dependencies = ("roster",)

    #: Runs before other handlers of C{presence/bare|full}, since it only
    #: observes unavailable presence and claims nothing but probes.
    INBOUND_PRIORITY = Priority.NOTE
    #: Directed presence is noted before outbound filters such as privacy
    #: lists may stop the stanza.
    OUTBOUND_PRIORITY = Priority.NOTE

    def __init__(self, api):
        Module.__init__(self, api)
        # The sessions whose available presence this module has broadcast
        # and not yet ended: it tells initial presence (handled on
        # presence/initial) from an update (handled on presence/self), and
        # whether an unavailable presence ends a presence session.
        self._broadcasting = WeakSet()

    def load(self):
        self.api.hook(stanzaEvent("presence", "self"), self._onBroadcast)
        self.api.hook(INITIAL_PRESENCE, self._onInitialPresence)
        self.api.hook(SESSION_ENDED, self._onSessionEnded)
        self.api.hook(outboundEvent("presence"), self._onOutbound, self.OUTBOUND_PRIORITY)
        for target in ("bare", "full"):
            self.api.hook(stanzaEvent("presence", target), self._onInbound,
                          self.INBOUND_PRIORITY)

    @property
    def roster(self):
        return self.api.service(IRoster)

    def _run(self, coroutine, what):
        d = defer.ensureDeferred(coroutine)
        d.addErrback(lambda failure: self.api.log.failure(what, failure))
        return d

    # Broadcast presence from the account's own sessions

    def _onInitialPresence(self, event):
        """
        RFC 6121 §4.2.2, §4.3.1: the session's first available presence.
        """
        session = event.origin
        if session is None:
            return
        self._broadcasting.add(session)
        sender = session.jid
        presence = event.stanza
        for other in availableSessions(self.api.sessions, sender.bare):
            other.send(addressed(presence, other.jid, sender))
            if other is not session and other.presence is not None:
                session.send(addressed(other.presence, session.jid, other.jid))
        self._run(self._initialToContacts(sender, presence),
                  "initial presence broadcast failed")

    async def _initialToContacts(self, sender, presence):
        items = await self.roster.getItems(sender.localpart)
        account = sender.bare
        route = self.api.router.route
        for item in items:
            if item.subscribedFrom:
                route(addressed(presence, item.jid, sender), item.jid, sender)
        for item in items:
            if item.subscribedTo:
                route(makeStanza("presence", from_=account, to=item.jid, type="probe"))

    def _onBroadcast(self, event):
        """
        Presence without 'to' from a client: an update (§4.4.2) or
        unavailable presence (§4.5.2).  Initial presence is left to
        L{_onInitialPresence}, which the router fires next.
        """
        session = event.origin
        if session is None or session.jid is None:
            return None
        if event.type is None:
            if session in self._broadcasting:
                sender = session.jid
                for other in availableSessions(self.api.sessions, sender.bare):
                    other.send(addressed(event.stanza, other.jid, sender))
                self._run(self._updateToContacts(sender, event.stanza),
                          "presence broadcast failed")
        elif event.type == "unavailable":
            self._endPresence(session, event.stanza, toItself=True,
                              wasAvailable=session in self._broadcasting)
        return None

    async def _updateToContacts(self, sender, presence):
        items = await self.roster.getItems(sender.localpart)
        route = self.api.router.route
        for item in items:
            if item.subscribedFrom:
                route(addressed(presence, item.jid, sender), item.jid, sender)

    def _onSessionEnded(self, session):
        """
        §4.5.2: a session that ends while available (or having sent
        directed presence, §4.6.3 rule 3) goes unavailable on the server's
        word.
        """
        if session.jid is None or session.jid.resource is None:
            return
        wasAvailable = session.available or session in self._broadcasting
        if wasAvailable or session.directedPresence:
            presence = makeStanza("presence", from_=session.jid, type="unavailable")
            self._endPresence(session, presence, toItself=False, wasAvailable=wasAvailable)

    def _endPresence(self, session, presence, toItself, wasAvailable):
        """
        Send unavailable C{presence} of C{session} to the account's
        available resources (and to C{session} itself when C{toItself}),
        to the subscribers if the session was available, and to the
        entities it sent directed presence to; then forget both.
        """
        self._broadcasting.discard(session)
        directed = set(session.directedPresence)
        session.directedPresence.clear()
        sender = session.jid
        for other in self.api.sessions.sessionsFor(sender.bare):
            if other.available or (toItself and other is session):
                other.send(addressed(presence, other.jid, sender))
        if wasAvailable or directed:
            self._run(self._unavailableToOthers(sender, presence, wasAvailable, directed),
                      "unavailable presence broadcast failed")

    async def _unavailableToOthers(self, sender, presence, wasAvailable, directed):
        route = self.api.router.route
        subscribers = set()
        if wasAvailable:
            for item in await self.roster.getItems(sender.localpart):
                if item.subscribedFrom:
                    subscribers.add(item.jid)
                    route(addressed(presence, item.jid, sender), item.jid, sender)
        for jid in directed:
            if jid.bare not in subscribers and jid.bare != sender.bare:
                route(addressed(presence, jid, sender))

    # Directed presence (§4.6)

    def _onOutbound(self, event):
        """
        §4.6.3: remember who a client sent directed available presence to,
        forget them on directed unavailable presence.  Delivery is the
        router's.
        """
        session = event.origin
        to = event.to
        if session is None or to is None or event.type not in (None, "unavailable"):
            return None
        if to.bare == event.sender.bare:
            return None
        if event.type is None:
            session.directedPresence.add(to)
        else:
            session.directedPresence.discard(to)
        return None

    # Inbound presence to a local account

    def _onInbound(self, event):
        """
        Probes are answered here (§4.3.2, §8.5.2.1.2: "the server MUST
        handle it directly"); an entity that sends unavailable presence
        is dropped from the recipient's directed presence list (§4.6.1:
        SHOULD).  Anything else is not claimed.
        """
        if event.type == "probe":
            self._run(self._answerProbe(event.stanza, event.sender, event.to),
                      "answering a presence probe failed")
            return True
        if event.type == "unavailable" and event.sender.bare != event.to.bare:
            for session in self._targetSessions(event.to):
                session.directedPresence.discard(event.sender)
        return None

    def _targetSessions(self, to):
        if to.resource is None:
            return self.api.sessions.sessionsFor(to)
        session = self.api.sessions.sessionFor(to)
        return [] if session is None else [session]

    async def _answerProbe(self, probe, prober, target):
        """
        RFC 6121 §4.3.2 with §4.3.2.1 ('id' handling) and §4.6.6 (probes
        after directed presence).
        """
        account = target.bare
        route = self.api.router.route
        probeID = probe.get("id")
        if prober.bare == account:
            authorized = True
        elif not await accountExists(self.api.host, target.localpart,
                                     self.api.sessions, account):
            # §8.5.1: ignore, or say unsubscribed; the latter ends a stale
            # subscription at the prober's server.
            route(makeStanza("presence", from_=account, to=prober, type="unsubscribed",
                             id=probeID))
            return
        else:
            item = await self.roster.getItem(target.localpart, prober.bare)
            authorized = item is not None and item.subscribedFrom
        if not authorized:
            # §4.6.6: a prober the account sent directed presence to gets
            # mere presence of those resources; anyone else is told
            # 'unsubscribed' from the bare JID (§4.3.2 rule 1), which does
            # not touch a pre-approval.
            answered = False
            for session in self._targetSessions(target):
                if prober in session.directedPresence or prober.bare in session.directedPresence:
                    route(makeStanza("presence", from_=session.jid, to=prober,
                                     type=None if session.available else "unavailable"))
                    answered = True
            if not answered:
                route(makeStanza("presence", from_=account, to=prober, type="unsubscribed",
                                 id=probeID))
            return
        if target.resource is not None:
            # §4.3.2: a probe of a full JID learns only whether that
            # resource is available, without details.
            session = self.api.sessions.sessionFor(target)
            if session is not None and session.available:
                route(makeStanza("presence", from_=target, to=prober))
            else:
                route(makeStanza("presence", from_=target, to=prober, type="unavailable",
                                 id=probeID))
            return
        answers = currentPresence(self.api.sessions, account, prober)
        if not answers:
            # §4.3.2 rule 3: no available resource.
            answers = [makeStanza("presence", from_=account, to=prober, type="unavailable",
                                  id=probeID)]
        for answer in answers:
            route(answer)
