"""
Where rosters are kept: storage, and the rosters of online accounts in
memory.

Each account's items are one map (contact bare JID -> item dict) in the map
store C{roster}; what versioning needs (L{Version}) is one value per account
in the key-value store C{roster-version}.  Every write goes through
L{RosterStore}, always under the account's lock (the module's), so that
versions are handed out in the order changes are stored.
"""

from xmppframe.api import InvalidJID

from .codec import itemElement, itemFromStored, removalElement, storedFromItem
from .versioning import Version

__all__ = ["ITEMS_STORE", "VERSIONS_STORE", "OnlineRosters", "RosterStore"]

ITEMS_STORE = "roster"
VERSIONS_STORE = "roster-version"


class OnlineRosters:
    """
    The rosters of the accounts with a bound session, in memory: presence
    reads the sender's roster for every broadcast and the probed
    account's item for every probe, and these reads would otherwise each
    go to storage.

    An account's items are loaded when its first session is bound (or on
    first use while online), kept current by the store's own writes (every
    roster write goes through it, under the account's lock, and so does
    every load), and dropped when the account's last session ends.  Each
    entry maps the contact's bare JID text to its immutable L{RosterItem},
    in storage order.
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


class RosterStore:
    """
    The rosters of one host: items and versions in storage, online
    accounts' items in memory.  Callers hold the account's lock.

    @ivar items: the map store of items.
    @ivar versions: the key-value store of version records.
    @ivar online: the L{OnlineRosters}.
    @param changed: C{changed(user, contact, item)}, called once a change
        is stored (C{item} C{None}: removed).
    """

    def __init__(self, items, versions, parseJID, log, changed):
        self.items = items
        self.versions = versions
        self.online = OnlineRosters()
        self._parseJID = parseJID
        self._log = log
        self._changed = changed

    async def item(self, user, contact):
        """
        @return: C{contact}'s stored L{RosterItem} in C{user}'s roster, or
            C{None}.
        """
        stored = await self.items.get(user, contact.full)
        return None if stored is None else itemFromStored(contact, stored)

    async def decoded(self, user):
        """
        @return: C{user}'s stored items as C{(RosterItem, change number)}.
        """
        return self.decodeAll(user, await self.items.items(user))

    async def count(self, user):
        return len(await self.items.items(user))

    def decodeAll(self, user, entries):
        """
        Stored entries as C{(RosterItem, change number)} pairs; an entry
        that cannot be read is logged and skipped rather than failing the
        whole roster.
        """
        decoded = []
        for key, value in entries.items():
            try:
                item = itemFromStored(self._parseJID(key), value)
                number = int(value.get("ver") or 0)
            except (InvalidJID, ValueError, TypeError, AttributeError):
                self._log.warn("skipping unreadable roster item {key!r} of {user}",
                               key=key, user=user)
                continue
            decoded.append((item, number))
        return decoded

    async def loadOnline(self, user, isOnline):
        """
        Put C{user}'s roster in memory, unless C{isOnline()} says the
        account went offline meanwhile.

        @return: the items in memory, or C{None}.
        """
        items = self.online.get(user)
        if items is not None:
            return items
        entries = await self.items.items(user)
        if not isOnline():
            return None
        items = {item.jid.full: item for item, _ in self.decodeAll(user, entries)}
        self.online.install(user, items)
        return items

    async def version(self, user):
        """
        @return: C{user}'s L{Version} record, stored first if it is new, so
            that a 'ver' given out from it stays valid.
        """
        stored = await self.versions.get(user)
        version = Version.fromStored(stored)
        if stored is None:
            await self.versions.set(user, version.toStored())
        return version

    async def store(self, user, item):
        """
        Store C{item} under a new version.  The version record is written
        first, so that a number is never handed out twice even if the item
        write is lost.

        @return: the C{(element, ver)} to push (RFC 6121 §2.3.2).
        """
        version = await self.version(user)
        number = version.bump()
        version.forget(item.jid.full)
        await self.versions.set(user, version.toStored())
        await self.items.set(user, item.jid.full, storedFromItem(item, number))
        self._stored(user, item.jid, item)
        return itemElement(item), version.text(number)

    async def delete(self, user, contact, maxTombstones):
        """
        Remove C{contact}'s item under a new version, leaving a tombstone.

        @return: the C{(element, ver)} to push (RFC 6121 §2.5.2).
        """
        version = await self.version(user)
        number = version.bump()
        version.remember(contact.full, number, maxTombstones)
        await self.versions.set(user, version.toStored())
        await self.items.delete(user, contact.full)
        self._stored(user, contact, None)
        return removalElement(contact), version.text(number)

    async def forget(self, user, items):
        """
        Remove C{user}'s whole roster, C{items}, and version record.
        """
        await self.items.clear(user)
        await self.versions.delete(user)
        self.online.drop(user)
        for item in items:
            self._changed(user, item.jid, None)

    def _stored(self, user, contact, item):
        self.online.changed(user, contact, item)
        self._changed(user, contact, item)
