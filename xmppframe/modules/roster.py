"""
Roster management (RFC 6121 §2) with roster versioning (RFC 6121 §2.6,
XEP-0237).

The roster module owns every account's roster: clients read and change it
with C{jabber:iq:roster} iqs, and other modules (presence subscriptions,
blocking) reach it only through L{xmppframe.interfaces.IRoster}, as
C{host.modules["roster"]}.

Storage.  Each account's items are one map (contact bare JID -> item
dict) in the map store C{roster}; what versioning needs is one value per
account in the key-value store C{roster-version}.  Every change takes the
next number of a per-account counter and stamps the item with it, so the
items changed since a client's cached version are those with a larger
stamp.  Removed items leave a tombstone with their removal's number; only
the last C{max_tombstones} are kept, and a I{floor} records the newest
number forgotten: a client whose version is below the floor gets the whole
roster instead of interim pushes (the "stamp each item" strategy of
XEP-0237 §6.3).  The version string is C{<epoch>-<number>}, where the epoch
is chosen at random when the account's version record is created, so that
a client's cached version from a lost or reset database is never mistaken
for a current one.

Every change of one account's roster runs under that account's lock, so
that concurrent updates (a roster set and an inbound subscription, say)
cannot lose writes, versions are handed out in the order changes are
stored, and roster pushes go out in that order (RFC 6121 §2.6.3: "Roster
pushes MUST occur in order of modification").
"""

import secrets
import unicodedata
from copy import deepcopy

from lxml import etree

from zope.interface import implementer

from twisted.internet import defer

from xmppframe.api import (
    ACCOUNT_REMOVED, ROSTER_CHANGED, SESSION_BOUND, SESSION_ENDED, SUBSCRIPTIONS, atLeast,
    InformativeFeature, InvalidJID, iqEvent, iqResponseEvent, IRoster, JIDCache, KeyedQueue,
    Module, ModuleOption, RosterChange, RosterItem)
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import iqResult, makeElement, makeStanza

__all__ = ["RosterModule", "RosterVersioningFeature", "ROSTER", "ROSTER_VERSIONING"]

#: RFC 6121 §2.1: the roster namespace.
ROSTER = "jabber:iq:roster"
#: RFC 6121 §2.6.1: the roster versioning stream feature's namespace.
ROSTER_VERSIONING = "urn:xmpp:features:rosterver"

_QUERY = NS.qname(ROSTER, "query")
_ITEM = NS.qname(ROSTER, "item")
_GROUP = NS.qname(ROSTER, "group")

#: Where roster push ids start, so that the clients' answers to pushes
#: (RFC 6121 §2.1.6) are recognised and dropped.
_PUSH_ID_PREFIX = "roster-push-"

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


class RosterVersioningFeature(InformativeFeature):
    """
    Advertises roster versioning, C{<ver xmlns='urn:xmpp:features:rosterver'/>}
    (RFC 6121 §2.6.1), next to resource binding (XEP-0237 §2: "at the
    latest, when informing a client that resource binding is required").
    """

    NAMESPACE = ROSTER_VERSIONING
    LOCAL = "ver"


class _Version:
    """
    An account's roster version record: epoch, counter, floor and the
    remembered removals (oldest first).
    """

    __slots__ = ("epoch", "counter", "floor", "removed")

    def __init__(self, epoch, counter=0, floor=0, removed=()):
        self.epoch = epoch
        self.counter = counter
        self.floor = floor
        self.removed = [(jid, number) for jid, number in removed]

    @classmethod
    def fromStored(cls, value):
        """
        Read a stored record; C{None} or anything malformed starts a new
        epoch, which sends clients the whole roster once.
        """
        try:
            return cls(value["epoch"], int(value["counter"]), int(value["floor"]),
                       [(str(jid), int(number)) for jid, number in value["removed"]])
        except (TypeError, KeyError, ValueError):
            return cls(secrets.token_hex(4))

    def toStored(self):
        return {"epoch": self.epoch, "counter": self.counter, "floor": self.floor,
                "removed": [[jid, number] for jid, number in self.removed]}

    def text(self, number=None):
        """
        The opaque 'ver' string (RFC 6121 §2.1.1) of change C{number}, or
        of the current version.
        """
        return "%s-%d" % (self.epoch, self.counter if number is None else number)

    def parse(self, text):
        """
        @return: the change number a client's 'ver' names in this epoch,
            or C{None} if it names nothing this record can answer with
            interim pushes.
        """
        epoch, dash, number = text.rpartition("-")
        if not dash or epoch != self.epoch or not number.isdigit():
            return None
        number = int(number)
        if number < self.floor or number > self.counter:
            return None
        return number

    def bump(self):
        self.counter += 1
        return self.counter

    def remember(self, jid, number, limit):
        """
        Keep a tombstone for C{jid} removed at change C{number}, forgetting
        the oldest beyond C{limit} (and raising the floor past them).
        """
        self.forget(jid)
        self.removed.append((jid, number))
        while len(self.removed) > limit:
            _, dropped = self.removed.pop(0)
            self.floor = max(self.floor, dropped)

    def forget(self, jid):
        self.removed = [(other, number) for other, number in self.removed if other != jid]


class _OnlineRosters:
    """
    The rosters of the accounts with a bound session, in memory: presence
    reads the sender's roster for every broadcast and the probed
    account's item for every probe, and these reads would otherwise each
    go to storage.

    The roster module owns it: an account's items are loaded when its
    first session is bound (or on first use while online), kept current by
    the module's own writes (every roster write goes through the module,
    under the account's lock, and so does every load), and dropped when
    the account's last session ends.  Each entry maps the contact's bare
    JID text to its immutable L{RosterItem}, in storage order.
    """

    __slots__ = ("_rosters",)

    def __init__(self):
        self._rosters = {}

    def get(self, user):
        """
        @return: C{user}'s items (contact text -> L{RosterItem}), or
            C{None} if they are not in memory.
        """
        return self._rosters.get(user)

    def install(self, user, items):
        self._rosters[user] = items

    def changed(self, user, contact, item):
        """
        Follow a stored change: C{item} is C{contact}'s new item, or
        C{None} if it was removed.
        """
        items = self._rosters.get(user)
        if items is None:
            return
        if item is None:
            items.pop(contact.full, None)
        else:
            items[contact.full] = item

    def drop(self, user):
        self._rosters.pop(user, None)


def _itemFromStored(jid, value):
    return RosterItem(
        jid=jid, name=value.get("name") or None, groups=tuple(value.get("groups") or ()),
        subscription=value.get("subscription", "none"), ask=bool(value.get("ask")),
        approved=bool(value.get("approved")))


def _storedFromItem(item, number):
    return {"name": item.name, "groups": list(item.groups), "subscription": item.subscription,
            "ask": item.ask, "approved": item.approved, "ver": number}


def itemElement(item):
    """
    The C{<item/>} of a roster result or push (RFC 6121 §2.1.2): jid,
    name, subscription, C{ask='subscribe'} while Pending Out (§2.1.2.2),
    C{approved='true'} for a pre-approval (§2.1.2.1, §3.4), and groups.
    """
    element = etree.Element(_ITEM, jid=item.jid.full)
    if item.name:
        element.set("name", item.name)
    element.set("subscription", item.subscription)
    if item.ask:
        element.set("ask", "subscribe")
    if item.approved:
        element.set("approved", "true")
    for group in item.groups:
        etree.SubElement(element, _GROUP).text = group
    return element


def removalElement(jid):
    """
    The C{<item/>} of a push announcing a removal (RFC 6121 §2.5.2).
    """
    return etree.Element(_ITEM, jid=jid.full, subscription="remove")


def _sameGroup(name):
    """
    The key under which two group names are duplicates (RFC 6121 §2.3.3
    suggests resourcepart comparison; Unicode normalisation form C is the
    part of it that matters for names a client sends).
    """
    return unicodedata.normalize("NFC", name)


@implementer(IRoster)
class RosterModule(Module):
    """
    Rosters (RFC 6121 §2) for one host.

    Options: see L{OPTIONS}.
    """

    name = "roster"
    summary = "rosters, with roster versioning"
    xeps = ("RFC 6121 §2",)
    optionSchema = OPTIONS

    def __init__(self, api):
        Module.__init__(self, api)
        self._locks = KeyedQueue()
        self._online = _OnlineRosters()
        self._items = None
        self._versions = None
        jids = getattr(api.router, "jids", None)
        self._parseJID = (jids if jids is not None else JIDCache(1000)).parse
        self.options = api.options

    def load(self):
        self.api.provide(IRoster, self)
        self._items = self.api.openStore("map", "roster")
        self._versions = self.api.openStore("keyvalue", "roster-version")
        for type, handler in (("get", self._onGet), ("set", self._onSet)):
            # RFC 6120 §10.3.3: no 'to' (or the account's own bare JID,
            # which the router also calls 'self') is handled on the
            # account's behalf.  Not through hookIQ: pushes must follow
            # the reply, so these handlers send it themselves.
            self.api.hook(iqEvent(type, "self", (ROSTER, "query")), handler)
            # RFC 6121 §2.1.5: a roster get or set addressed to another
            # account is not the sender's to make.
            self.api.hookIQ(type, "bare", (ROSTER, "query"), self._forbidden)
        # A client answers a push (which has no 'from') with no 'to', or
        # with its own bare JID: both are the 'self' target.
        self.api.hook(iqResponseEvent("self"), self._onPushAnswer)
        self.api.hook(ACCOUNT_REMOVED, self._onAccountRemoved)
        self.api.hook(SESSION_BOUND, self._onSessionBound)
        self.api.hook(SESSION_ENDED, self._onSessionEnded)
        self.api.addStreamResponder(RosterVersioningFeature())

    # IRoster

    # Contacts may be given as JIDs or strings; a bad one fails the
    # returned Deferred (InvalidJID), like every other error here.

    # An online account's roster is answered from memory (L{_OnlineRosters}).

    def getItem(self, user, contact):
        items = self._online.get(user)
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
        stored = await self._items.get(user, contact.full)
        return None if stored is None else _itemFromStored(contact, stored)

    def getItems(self, user):
        items = self._online.get(user)
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
        d = self._items.items(user)
        d.addCallback(lambda entries: [item for item, _ in self._decodeAll(user, entries)])
        return d

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
        return self._locks.run(user, self._loadOnlineLocked, user)

    async def _loadOnlineLocked(self, user):
        items = self._online.get(user)
        if items is not None:
            return items
        entries = await self._items.items(user)
        if not self._isOnline(user):
            return None
        items = {item.jid.full: item for item, _ in self._decodeAll(user, entries)}
        self._online.install(user, items)
        return items

    def _onSessionBound(self, session):
        user = session.jid.localpart
        if user is None or self._online.get(user) is not None:
            return
        d = self._loadOnline(user)
        d.addErrback(lambda failure: self.api.log.failure(
            "could not load the roster of {user}", failure, user=user))

    def _onSessionEnded(self, session):
        jid = session.jid
        if jid is None or jid.localpart is None:
            return
        if not self.api.sessions.sessionsFor(jid.bare):
            self._online.drop(jid.localpart)

    def updateSubscription(self, user, contact, subscription=None, ask=None, approved=None):
        try:
            contact = self._contact(contact)
        except InvalidJID:
            return defer.fail()
        if subscription is not None and subscription not in SUBSCRIPTIONS:
            return defer.fail(ValueError("not a subscription state: %r" % (subscription,)))
        return self._locks.run(user, self._updateSubscription, user, contact,
                               subscription, ask, approved)

    def removeItem(self, user, contact):
        try:
            contact = self._contact(contact)
        except InvalidJID:
            return defer.fail()
        return self._locks.run(user, self._removeItem, user, contact)

    async def _updateSubscription(self, user, contact, subscription, ask, approved):
        stored = await self._items.get(user, contact.full)
        old = RosterItem(contact) if stored is None else _itemFromStored(contact, stored)
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
        self._push(user, *await self._store(user, new))
        return new

    async def _removeItem(self, user, contact):
        stored = await self._items.get(user, contact.full)
        if stored is None:
            return False
        self._push(user, *await self._delete(user, contact))
        return True

    # Changing a roster (always under the account's lock)

    async def _loadVersion(self, user):
        """
        @return: C{user}'s version record, stored first if it is new, so
            that a 'ver' given out from it stays valid.
        """
        stored = await self._versions.get(user)
        version = _Version.fromStored(stored)
        if stored is None:
            await self._versions.set(user, version.toStored())
        return version

    async def _store(self, user, item):
        """
        Store C{item} under a new version.  The version record is written
        first, so that a number is never handed out twice even if the item
        write is lost.

        @return: the C{(element, ver)} to push (RFC 6121 §2.3.2).
        """
        version = await self._loadVersion(user)
        number = version.bump()
        version.forget(item.jid.full)
        await self._versions.set(user, version.toStored())
        await self._items.set(user, item.jid.full, _storedFromItem(item, number))
        self._changed(user, item.jid, item)
        return itemElement(item), version.text(number)

    async def _delete(self, user, contact):
        """
        Remove C{contact}'s item under a new version, leaving a tombstone.

        @return: the C{(element, ver)} to push (RFC 6121 §2.5.2).
        """
        version = await self._loadVersion(user)
        number = version.bump()
        version.remember(contact.full, number, self.options["max_tombstones"])
        await self._versions.set(user, version.toStored())
        await self._items.delete(user, contact.full)
        self._changed(user, contact, None)
        return removalElement(contact), version.text(number)

    def _changed(self, user, contact, item):
        """
        Tell the host's modules (L{ROSTER_CHANGED}) that C{user}'s item for
        C{contact} is now C{item} (C{None}: removed); called once the
        change is stored.
        """
        self._online.changed(user, contact, item)
        self.api.host.events.fireAll(ROSTER_CHANGED, RosterChange(user, contact, item))

    # Roster pushes (RFC 6121 §2.1.6)

    def _interestedSessions(self, user):
        return [session for session in self.api.sessions.sessionsFor(self._accountJID(user))
                if session.interested]

    def _accountJID(self, user):
        text = "%s@%s" % (user, self.api.host.name)
        # The session table has it while the account is online.
        return self.api.sessions.knownJID(text) or self._parseJID(text)

    def _push(self, user, item, ver, sessions=None):
        """
        Send a roster push of C{item} with version C{ver} to each of
        C{sessions}, the account's interested resources by default.  A
        push has no 'from': it comes implicitly from the account's bare JID
        (RFC 6121 §2.1.6 rule 2).
        """
        if sessions is None:
            sessions = self._interestedSessions(user)
        for session in sessions:
            iq = makeStanza("iq", to=session.jid.full, type="set",
                            id=_PUSH_ID_PREFIX + secrets.token_hex(6))
            query = etree.SubElement(iq, _QUERY, nsmap={None: ROSTER})
            query.set("ver", ver)
            query.append(deepcopy(item))
            session.send(iq)

    def _onPushAnswer(self, event):
        """
        RFC 6121 §2.1.6: clients answer pushes with a result (or an error,
        which the server SHOULD ignore); both are dropped here.
        """
        if (event.stanza.get("id") or "").startswith(_PUSH_ID_PREFIX):
            return True
        return None

    # Client requests

    def _forbidden(self, event):
        raise StanzaError("forbidden", text="Only the account itself may use its roster")

    def _serve(self, event, work, *args):
        """
        Run C{work(event, reply, *args)} under the sender's lock.  C{work}
        calls C{reply(payload)} (an element, or C{True} for an empty
        result) and may send pushes after it, so that they follow the reply
        as in RFC 6121 §2.3.2 and §2.6.3, and precede any later change's.
        A L{StanzaError} it raises before replying is the reply; anything
        else is logged and answered with internal-server-error (RFC 6121
        §2.2).
        """
        replied = []

        def reply(payload):
            replied.append(True)
            self.api.reply(event, iqResult(event.stanza, None if payload is True else payload))

        d = self._locks.run(event.sender.localpart, work, event, reply, *args)
        d.addErrback(self._workFailed, event, replied)
        return True

    def _workFailed(self, failure, event, replied):
        if replied:
            self.api.log.failure("roster work failed after the reply", failure)
        elif failure.check(StanzaError):
            self.api.replyError(event, failure.value)
        else:
            self.api.log.failure("roster request failed", failure)
            self.api.replyError(event, StanzaError("internal-server-error"))

    def _onGet(self, event):
        """
        A roster get (RFC 6121 §2.1.3, §2.2), optionally with a cached
        version (§2.6.2).
        """
        query = event.stanza[0]
        if any(child.tag == _ITEM for child in query):
            self.api.replyError(event, StanzaError(
                "bad-request", text="A roster get contains no items"))
            return True
        return self._serve(event, self._get, query.get("ver"))

    async def _get(self, event, reply, clientVersion):
        user = event.sender.localpart
        version = await self._loadVersion(user)
        entries = await self._items.items(user)
        session = event.origin
        if session is not None:
            # §2.2: it requested the roster, so it is an interested resource.
            session.interested = True
        decoded = self._decodeAll(user, entries)
        since = version.parse(clientVersion) if clientVersion else None
        if since is not None:
            changes = [(number, itemElement(item)) for item, number in decoded if number > since]
            for jid, number in version.removed:
                if number > since:
                    changes.append((number, removalElement(self._parseJID(jid))))
            # §2.6.3: interim pushes, unless the whole roster is smaller.
            if len(changes) <= max(len(decoded), 1):
                reply(True)
                changes.sort(key=lambda change: change[0])
                if session is not None:
                    for number, element in changes:
                        self._push(user, element, version.text(number), [session])
                return
        query = makeElement(ROSTER, "query")
        query.set("ver", version.text())
        for item, _ in sorted(decoded, key=lambda pair: pair[0].jid.full):
            query.append(itemElement(item))
        reply(query)

    def _onSet(self, event):
        """
        A roster set (RFC 6121 §2.1.5): add or update (§2.3, §2.4) or
        remove (§2.5) one item.
        """
        try:
            return self._set(event)
        except StanzaError as e:
            self.api.replyError(event, e)
            return True

    def _set(self, event):
        query = event.stanza[0]
        items = [child for child in query if child.tag == _ITEM]
        if len(items) != 1:
            # §2.1.5 rule 1, §2.3.3.
            raise StanzaError("bad-request", text="A roster set contains exactly one item")
        element = items[0]
        contact = self._requestedContact(element, event.sender)
        if element.get("subscription") == "remove":
            return self._serve(event, self._removeRequested, contact)
        # §2.1.5 rule 2: any other 'subscription' value is ignored, and so
        # are 'ask' and 'approved', which a client MUST NOT send
        # (§2.1.2.1, §2.1.2.2): only presence stanzas change them.
        name, groups = self._requestedNameAndGroups(element)
        return self._serve(event, self._setRequested, contact, name, groups)

    def _requestedContact(self, element, sender):
        text = element.get("jid")
        if text is None:
            # §2.1.2.3: the 'jid' attribute is REQUIRED.
            raise StanzaError("bad-request", text="A roster item needs a 'jid'")
        try:
            contact = self._parseJID(text)
        except InvalidJID as e:
            raise StanzaError("jid-malformed", text=str(e))
        if contact.resource is not None:
            raise StanzaError("jid-malformed", text="A roster item is a bare JID")
        if contact == sender.bare:
            # §2.3.3 interoperability note: an account is not its own contact.
            raise StanzaError("not-allowed", text="Your own JID cannot be in your roster")
        return contact

    def _requestedNameAndGroups(self, element):
        """
        Check a roster set's handle and groups against §2.3.3.
        """
        options = self.options
        # §2.4.1: an empty 'name' is the same as none.
        name = element.get("name") or None
        if name is not None and len(name) > options["max_name_length"]:
            raise StanzaError("not-acceptable", text="The name is longer than %d characters"
                              % (options["max_name_length"],))
        groups = []
        seen = set()
        for child in element:
            if child.tag != _GROUP:
                continue
            group = child.text or ""
            if not group:
                raise StanzaError("not-acceptable", text="A group name may not be empty")
            if len(group) > options["max_group_length"]:
                raise StanzaError("not-acceptable", text="A group name is longer than %d characters"
                                  % (options["max_group_length"],))
            key = _sameGroup(group)
            if key in seen:
                raise StanzaError("bad-request", text="Duplicate group %r" % (group,))
            seen.add(key)
            groups.append(group)
        if len(groups) > options["max_groups"]:
            raise StanzaError("not-acceptable", text="An item may be in %d groups at most"
                              % (options["max_groups"],))
        return name, tuple(groups)

    async def _setRequested(self, event, reply, contact, name, groups):
        """
        §2.3.2, §2.4.2: store the item exactly as given (keeping its
        subscription state), reply, then push it to every interested
        resource, the requesting one included.
        """
        user = event.sender.localpart
        stored = await self._items.get(user, contact.full)
        if stored is None:
            count = len(await self._items.items(user))
            if count >= self.options["max_items"]:
                raise StanzaError("policy-violation", text="A roster holds %d items at most"
                                  % (self.options["max_items"],))
            old = RosterItem(contact)
        else:
            old = _itemFromStored(contact, stored)
        new = old.evolve(name=name, groups=groups)
        if stored is not None and new == old:
            # Nothing changed: no modification, so no new version and no
            # push (§2.6.3 definition of a roster modification).
            reply(True)
            return
        push = await self._store(user, new)
        # §2.3.2 shows the result before the pushes.
        reply(True)
        self._push(user, *push)

    async def _removeRequested(self, event, reply, contact):
        """
        §2.5.2: remove the item, reply, push the removal, then cancel the
        subscriptions both ways with presence from the account's bare JID.
        """
        user = event.sender.localpart
        stored = await self._items.get(user, contact.full)
        if stored is None:
            # §2.5.3
            raise StanzaError("item-not-found", type="modify",
                              text="%s is not in your roster" % (contact.full,))
        item = _itemFromStored(contact, stored)
        push = await self._delete(user, contact)
        reply(True)
        self._push(user, *push)
        self._cancelSubscriptions(event.sender.bare, item)

    def _cancelSubscriptions(self, account, item):
        """
        RFC 6121 §2.5.2: C{unsubscribe} if the account was subscribed to
        the contact (or had asked to be, "Pending Out": §3.3.1 cancels a
        request the same way), C{unsubscribed} if the contact was
        subscribed to the account.  Before the C{unsubscribed}, each
        available resource's C{unavailable} presence goes to the contact,
        as §3.2.2 requires while the contact is still subscribed.  A mere
        pre-approval (§3.4) goes with the item: §3.2.2 rule 2 forbids
        routing an C{unsubscribed} for it.
        """
        contact = item.jid.full
        if item.subscribedTo or item.ask:
            self._routePresence(account.full, contact, "unsubscribe")
        if item.subscribedFrom:
            for session in self.api.sessions.sessionsFor(account):
                if session.available:
                    self._routePresence(session.jid.full, contact, "unavailable")
            self._routePresence(account.full, contact, "unsubscribed")

    def _routePresence(self, sender, to, type):
        presence = makeStanza("presence", from_=sender, to=to, type=type,
                              id=secrets.token_hex(6))
        try:
            self.api.router.route(presence)
        except Exception:
            self.api.log.failure("routing {type} presence to {to} failed", type=type, to=to)

    # Accounts going away

    def _onAccountRemoved(self, user):
        """
        L{ACCOUNT_REMOVED}: XEP-0077 §3.2 says the server SHOULD cancel the
        subscriptions stored in the account's roster; then the roster and
        its version record go, so that a new account of the same name
        starts empty.
        """
        d = self._locks.run(user, self._forgetAccount, user)
        d.addErrback(lambda failure: self.api.log.failure(
            "could not remove the roster of removed account {user}", failure, user=user))

    async def _forgetAccount(self, user):
        entries = await self._items.items(user)
        account = self._accountJID(user)
        items = [item for item, _ in self._decodeAll(user, entries)]
        for item in items:
            self._cancelSubscriptions(account, item)
        await self._items.clear(user)
        await self._versions.delete(user)
        self._online.drop(user)
        for item in items:
            self._changed(user, item.jid, None)

    # Helpers

    def _contact(self, contact):
        if isinstance(contact, str):
            contact = self._parseJID(contact)
        return contact.bare

    def _decodeAll(self, user, entries):
        """
        Stored entries as C{(RosterItem, change number)} pairs; an entry
        that cannot be read is logged and skipped rather than failing the
        whole roster.
        """
        decoded = []
        for key, value in entries.items():
            try:
                item = _itemFromStored(self._parseJID(key), value)
                number = int(value.get("ver") or 0)
            except (InvalidJID, ValueError, TypeError, AttributeError):
                self.api.log.warn("skipping unreadable roster item {key!r} of {user}",
                                  key=key, user=user)
                continue
            decoded.append((item, number))
        return decoded
