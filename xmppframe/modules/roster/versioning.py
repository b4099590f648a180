"""
Roster versioning (RFC 6121 §2.6, XEP-0237).

Every change of an account's roster takes the next number of a
per-account counter and stamps the item with it, so the items changed
since a client's cached version are those with a larger stamp.  Removed
items leave a tombstone with their removal's number; only the last
C{max_tombstones} are kept, and a I{floor} records the newest number
forgotten: a client whose version is below the floor gets the whole roster
instead of interim pushes (the "stamp each item" strategy of XEP-0237
§6.3).  The version string is C{<epoch>-<number>}, where the epoch is
chosen at random when the account's version record is created, so that a
client's cached version from a lost or reset database is never mistaken
for a current one.
"""

import secrets

from xmppframe.api import InformativeFeature
from xmppframe.xml import namespaces as NS

__all__ = ["RosterVersioningFeature", "Version"]


class RosterVersioningFeature(InformativeFeature):
    """
    Advertises roster versioning, C{<ver xmlns='urn:xmpp:features:rosterver'/>}
    (RFC 6121 §2.6.1), next to resource binding (XEP-0237 §2: "at the
    latest, when informing a client that resource binding is required").
    """

    NAMESPACE = NS.ROSTER_VERSIONING
    LOCAL = "ver"


class Version:
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
            interim pushes (§2.6.3).
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

    def changesSince(self, since, decoded, parseJID):
        """
        The interim pushes for a client at change C{since} (§2.6.3): the
        C{(number, RosterItem or removed bare JID)} changed after it, in
        the order of modification.

        @param decoded: the roster's C{(RosterItem, number)} pairs.
        """
        changes = [(number, item) for item, number in decoded if number > since]
        for jid, number in self.removed:
            if number > since:
                changes.append((number, parseJID(jid)))
        changes.sort(key=lambda change: change[0])
        return changes
