"""
Roster management (RFC 6121 §2) with roster versioning (RFC 6121 §2.6,
XEP-0237).

The roster module owns every account's roster: clients read and change it
with C{jabber:iq:roster} iqs (L{protocol}), and other modules (presence
subscriptions, blocking, privacy, archiving) reach it only through the
L{IRoster} service it provides.  One job per file:

  - L{codec}: items in XML and in storage, and the checks of a roster set
    (§2.1.2, §2.3.3);
  - L{store}: items and version records in storage, and the rosters of
    online accounts in memory;
  - L{versioning}: version records and the stream feature (§2.6);
  - L{protocol}: roster get and set (§2.1.3, §2.1.5, §2.2-§2.5).

Every change of one account's roster runs under that account's lock, so
that concurrent updates (a roster set and an inbound subscription, say)
cannot lose writes, versions are handed out in the order changes are
stored, and roster pushes go out in that order (§2.6.3: "Roster pushes
MUST occur in order of modification").
"""

from zope.interface import implementer

from twisted.internet import defer

from xmppframe.api import (
    ACCOUNT_REMOVED, ROSTER_CHANGED, SESSION_BOUND, SESSION_ENDED, SUBSCRIPTIONS, InvalidJID,
    IRoster, JIDCache, KeyedQueue, Module, ModuleOption, RosterChange, RosterItem, atLeast, iqEvent)
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

from .codec import itemElement, removalElement
from .protocol import RosterProtocol, cancelSubscriptions
from .store import ITEMS_STORE, VERSIONS_STORE, RosterStore
from .versioning import RosterVersioningFeature

__all__ = ["RosterModule", "RosterVersioningFeature", "ROSTER", "ROSTER_VERSIONING",
           "OPTIONS", "itemElement", "removalElement"]

#: The namespaces, under the names this module always gave them.
ROSTER = NS.ROSTER
ROSTER_VERSIONING = NS.ROSTER_VERSIONING

#: The module's options, C{[hosts."NAME".options.roster]}.
OPTIONS = {
    "max_items": ModuleOption(
        "integer", 1000, atLeast(0),
        "Most items an account's roster may hold; a roster set adding one more "
        "is refused with policy-violation."),
    "max_name_length": ModuleOption(
        "integer", 1023, atLeast(0),
        "Longest item name (handle), in characters (RFC 6121 §2.3.3: not-acceptable beyond)."),
    "max_group_length": ModuleOption(
        "integer", 1023, atLeast(1),
        "Longest group name, in characters (RFC 6121 §2.3.3: not-acceptable beyond)."),
    "max_groups": ModuleOption(
        "integer", 64, atLeast(0),
        "Most groups one item may be in (not-acceptable beyond)."),
    "max_tombstones": ModuleOption(
        "integer", 100, atLeast(0),
        "Removals remembered for interim roster pushes (RFC 6121 §2.6.3); a client "
        "whose cached version is older gets the whole roster."),
}


@implementer(IRoster)
class RosterModule(Module):
    """
    Rosters (RFC 6121 §2) for one host, and the L{IRoster} service.
    Users are prepared localparts; contacts may be given as JIDs or
    strings, and a bad one fails the returned Deferred (L{InvalidJID}),
    like every other error here.  An online account's roster is answered
    from memory.
    """

    name = "roster"
    summary = "rosters, with roster versioning"
    xeps = ("RFC 6121 §2",)
    optionSchema = OPTIONS

    def __init__(self, api):
        Module.__init__(self, api)
        self._locks = KeyedQueue()
        jids = getattr(api.router, "jids", None)
        self._parseJID = (jids if jids is not None else JIDCache(1000)).parse
        self.store = None

    def load(self):
        api = self.api
        api.provide(IRoster, self)
        self.store = RosterStore(
            api.openStore("map", ITEMS_STORE), api.openStore("keyvalue", VERSIONS_STORE),
            self._parseJID, api.log, self._changed)
        self.protocol = RosterProtocol(api, self.store, self._locks, self._push, self._parseJID)
        for type, handler in (("get", self.protocol.onGet), ("set", self.protocol.onSet)):
            # RFC 6120 §10.3.3: no 'to' (or the account's own bare JID,
            # which the router also calls 'self') is handled on the
            # account's behalf.  Not through hookIQ: pushes must follow
            # the reply, so these handlers send it themselves.
            api.hook(iqEvent(type, "self", (NS.ROSTER, "query")), handler)
            api.hookIQ(type, "bare", (NS.ROSTER, "query"), self.protocol.forbidden)
        api.hook(ACCOUNT_REMOVED, self._onAccountRemoved)
        api.hook(SESSION_BOUND, self._onSessionBound)
        api.hook(SESSION_ENDED, self._onSessionEnded)
        api.addStreamResponder(RosterVersioningFeature())

    @property
    def _items(self):
        """
        The items' map store (tests put a slow or failing one in its place).
        """
        return self.store.items

    @_items.setter
    def _items(self, items):
        self.store.items = items

    # IRoster

    def getItem(self, user, contact):
        items = self.store.online.get(user)
        if items is not None:
            try:
                contact = self._contact(contact)
            except InvalidJID:
                return defer.fail()
            return defer.succeed(items.get(contact.full))
        return defer.ensureDeferred(self._getItem(user, contact))

    async def _getItem(self, user, contact):
        contact = self._contact(contact)
        if self._isOnline(user):
            items = await self._loadOnline(user)
            if items is not None:
                return items.get(contact.full)
        return await self.store.item(user, contact)

    def getItems(self, user):
        items = self.store.online.get(user)
        if items is not None:
            return defer.succeed(list(items.values()))
        if self._isOnline(user):
            d = self._loadOnline(user)
            d.addCallback(self._itemsAfterLoad, user)
            return d
        return self._readItems(user)

    def _itemsAfterLoad(self, items, user):
        if items is None:
            return self._readItems(user)
        return list(items.values())

    def _readItems(self, user):
        d = defer.ensureDeferred(self.store.decoded(user))
        return d.addCallback(lambda decoded: [item for item, _ in decoded])

    def updateSubscription(self, user, contact, subscription=None, ask=None, approved=None):
        try:
            contact = self._contact(contact)
        except InvalidJID:
            return defer.fail()
        if subscription is not None and subscription not in SUBSCRIPTIONS:
            return defer.fail(ValueError("not a subscription state: %r" % (subscription,)))
        return self._locks.run(user, self._updateSubscription, user, contact,
                               subscription, ask, approved)

    async def _updateSubscription(self, user, contact, subscription, ask, approved):
        stored = await self.store.item(user, contact)
        old = RosterItem(contact) if stored is None else stored
        changes = {}
        if subscription is not None:
            changes["subscription"] = subscription
        if ask is not None:
            changes["ask"] = bool(ask)
        if approved is not None:
            changes["approved"] = bool(approved)
        new = old.evolve(**changes)
        if stored is not None and new == old:
            return old
        self._push(user, *await self.store.store(user, new))
        return new

    def removeItem(self, user, contact):
        try:
            contact = self._contact(contact)
        except InvalidJID:
            return defer.fail()
        return self._locks.run(user, self._removeItem, user, contact)

    async def _removeItem(self, user, contact):
        if await self.store.item(user, contact) is None:
            return False
        self._push(user, *await self.store.delete(user, contact, self.api.options["max_tombstones"]))
        return True

    # Online accounts' rosters in memory

    def _isOnline(self, user):
        return bool(self.api.sessions.sessionsFor(self._accountJID(user)))

    def _loadOnline(self, user):
        """
        Load C{user}'s roster into memory, under the account's lock so that
        no write runs meanwhile.

        @return: a Deferred firing with the items in memory, or C{None} if
            the account went offline before they were read.
        """
        return self._locks.run(user, self.store.loadOnline, user, lambda: self._isOnline(user))

    def _onSessionBound(self, session):
        user = session.jid.localpart
        if user is None or self.store.online.get(user) is not None:
            return
        d = self._loadOnline(user)
        d.addErrback(lambda failure: self.api.log.failure(
            "could not load the roster of {user}", failure, user=user))

    def _onSessionEnded(self, session):
        jid = session.jid
        if jid is None or jid.localpart is None:
            return
        if not self.api.sessions.sessionsFor(jid.bare):
            self.store.online.drop(jid.localpart)

    # Changes and pushes

    def _changed(self, user, contact, item):
        """
        Tell the host's modules (L{ROSTER_CHANGED}) that C{user}'s item for
        C{contact} is now C{item} (C{None}: removed); called once the
        change is stored.
        """
        self.api.host.events.fireAll(ROSTER_CHANGED, RosterChange(user, contact, item))

    def _push(self, user, element, ver, sessions=None):
        """
        RFC 6121 §2.1.6: push C{element}, a changed item, with version
        C{ver}, to each of C{sessions}, the account's interested resources
        by default.  The push comes from the account's bare JID (no
        'from'); the clients' answers are absorbed by the API.
        """
        if sessions is None:
            sessions = [session for session in self.api.sessions.sessionsFor(
                self._accountJID(user)) if session.interested]
        if not sessions:
            return
        query = makeElement(NS.ROSTER, "query", {"ver": ver})
        query.append(element)
        self.api.push(user, query, sessions)

    # Accounts going away

    def _onAccountRemoved(self, user):
        """
        L{ACCOUNT_REMOVED}: XEP-0077 §3.2 says the server SHOULD cancel the
        subscriptions stored in the account's roster; then the roster and
        its version record go, so that a new account of the same name
        starts empty.  The removal waits for the returned Deferred.
        """
        return self._locks.run(user, self._forgetAccount, user)

    def unload(self):
        """
        Unhook, then wait for the roster changes already queued, so that
        they are stored before storage closes.
        """
        Module.unload(self)
        return self._locks.drain()

    async def _forgetAccount(self, user):
        items = [item for item, _ in await self.store.decoded(user)]
        account = self._accountJID(user)
        for item in items:
            cancelSubscriptions(self.api, account, item)
        await self.store.forget(user, items)

    # Helpers

    def _accountJID(self, user):
        text = "%s@%s" % (user, self.api.host.name)
        # The session table has it while the account is online.
        return self.api.sessions.knownJID(text) or self._parseJID(text)

    def _contact(self, contact):
        if isinstance(contact, str):
            contact = self._parseJID(contact)
        return contact.bare
