"""
The rules of privacy lists (XEP-0016 §2.1, §2.2): items, lists, which item
matches which stanza, and what one account has of them.

Nothing here waits or touches storage: these are the values the policy
keeps in memory and judges every stanza with.
"""

from dataclasses import dataclass, field

from xmppframe.api import parseJID

# The stanza categories an item can name with a child element (§2.1).
MESSAGE = "message"
IQ = "iq"
PRESENCE_IN = "presence-in"
PRESENCE_OUT = "presence-out"
ITEM_KINDS = (MESSAGE, IQ, PRESENCE_IN, PRESENCE_OUT)
# Categories no child names, matched only by items without children
# (§2.13 "Blocking All Communication"): subscription requests and probes
# received, and anything sent but a presence notification.
OTHER_IN = "other-in"
OTHER_OUT = "other-out"

#: Directions: the account receives the stanza, or sends it.
INBOUND = "in"
OUTBOUND = "out"

ALLOW = "allow"
DENY = "deny"
ITEM_TYPES = ("jid", "group", "subscription")

#: §2.11 note: presence notifications are those without a type or of type
#: 'unavailable'.
_NOTIFICATION_TYPES = (None, "unavailable")


def stanzaCategory(kind, type, direction):
    """
    What an item child must name to match a stanza (§2.1): a presence
    "notification" is one without a type or of type 'unavailable' (§2.10,
    §2.11 notes); subscription requests and probes are matched only by
    items that block everything (§2.13).

    @param kind: C{'message'}, C{'presence'} or C{'iq'}.
    @param direction: L{INBOUND} (the user receives it) or L{OUTBOUND}.
    """
    if direction == OUTBOUND:
        if kind == "presence" and type in _NOTIFICATION_TYPES:
            return PRESENCE_OUT
        return OTHER_OUT
    if kind == "presence":
        return PRESENCE_IN if type in _NOTIFICATION_TYPES else OTHER_IN
    return kind


def jidMatches(pattern, jid):
    """
    §2.1 (and XEP-0191 §6) JID matching: C{user@domain/resource} only that
    resource, C{user@domain} any of its resources, C{domain/resource} only
    that resource of the domain, C{domain} the domain and every JID at it.
    """
    if pattern.domain != jid.domain:
        return False
    if pattern.localpart is None:
        if pattern.resource is None:
            return True
        return jid.localpart is None and jid.resource == pattern.resource
    if pattern.localpart != jid.localpart:
        return False
    return pattern.resource is None or pattern.resource == jid.resource


@dataclass(frozen=True)
class PrivacyItem:
    """
    One rule of a privacy list (§2.1).

    @ivar action: L{ALLOW} or L{DENY}.
    @ivar order: its place in the list, a non-negative integer.
    @ivar type: C{'jid'}, C{'group'}, C{'subscription'}, or C{None} for the
        fall-through item.
    @ivar value: a L{JID} for 'jid', a group name or subscription state.
    @ivar kinds: a frozenset of L{ITEM_KINDS} it applies to; empty for
        every stanza in both directions.
    """

    action: str
    order: int
    type: str = None
    value: object = None
    kinds: frozenset = field(default=frozenset())

    @property
    def isBlock(self):
        """
        Whether this is a blocked JID of XEP-0191 §5: type 'jid', action
        'deny', every stanza.
        """
        return self.type == "jid" and self.action == DENY and not self.kinds

    @property
    def needsRoster(self):
        return self.type in ("group", "subscription")

    def matches(self, other, category, rosterItem):
        """
        @param other: the JID of the other party.
        @param rosterItem: the user's L{RosterItem} for C{other}'s bare JID,
            or C{None} (subscription 'none', no groups: §2.1).
        """
        if self.kinds and category not in self.kinds:
            return False
        if self.type is None:
            return True
        if self.type == "jid":
            return jidMatches(self.value, other)
        if self.type == "subscription":
            return (rosterItem.subscription if rosterItem is not None else "none") == self.value
        return rosterItem is not None and self.value in rosterItem.groups

    def toStored(self):
        return {"action": self.action, "order": self.order, "type": self.type,
                "value": None if self.value is None else str(self.value),
                "kinds": sorted(self.kinds)}

    @classmethod
    def fromStored(cls, value):
        type = value.get("type")
        text = value.get("value")
        return cls(action=value["action"], order=int(value["order"]), type=type,
                   value=parseJID(text) if type == "jid" else text,
                   kinds=frozenset(value.get("kinds") or ()))


@dataclass(frozen=True)
class PrivacyList:
    """
    A named, ordered privacy list (§2.1); its items are kept in ascending
    'order' (§2.2 rule 5).
    """

    name: str
    items: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "items", tuple(sorted(self.items, key=lambda i: i.order)))

    @property
    def needsRoster(self):
        return any(item.needsRoster for item in self.items)

    def decide(self, other, category, rosterLookup):
        """
        The first item matching the stanza (§2.2 rules 5–6), or C{None}:
        no item matches, and the fall-through is to allow (rule 7).

        @param rosterLookup: C{f(bareJID) -> RosterItem or None}.
        """
        rosterItem = None
        looked = False
        for item in self.items:
            if item.needsRoster and not looked:
                rosterItem = rosterLookup(other.bare)
                looked = True
            if item.matches(other, category, rosterItem):
                return item
        return None

    def denies(self, other, category, rosterLookup):
        """
        @return: the denying item, or C{None} when the stanza is allowed.
        """
        item = self.decide(other, category, rosterLookup)
        return item if item is not None and item.action == DENY else None


class UserPrivacy:
    """
    What is known of one account's rules: its lists, which is the default,
    the active list of each of its sessions, and (when a list has group or
    subscription items) the roster facts those need (§2.2 rule 9).

    @ivar roster: bare JID -> L{RosterItem}, or C{None} while not loaded.
    """

    def __init__(self, jid, lists=None, default=None):
        self.jid = jid
        self.lists = dict(lists or {})
        self.default = default
        self.active = {}
        self.roster = None

    @property
    def needsRoster(self):
        return any(l.needsRoster for l in self.lists.values())

    @property
    def ready(self):
        """
        Whether every decision can be made from memory.
        """
        # Most accounts have no lists: answered without walking any.
        return self.roster is not None or not self.lists or not self.needsRoster

    @property
    def defaultList(self):
        return self.lists.get(self.default) if self.default is not None else None

    def effectiveList(self, session):
        """
        The list that applies to C{session} (or to the account with no
        session): its active list, else the default (§2.2 rules 1–2).
        """
        name = self.active.get(session) if session is not None else None
        if name is not None:
            return self.lists.get(name)
        return self.defaultList

    def rosterItem(self, bare):
        return self.roster.get(bare) if self.roster is not None else None

    def blocked(self):
        """
        The blocklist (XEP-0191 §5): the JIDs of the default list's block
        items.
        """
        default = self.defaultList
        return [item.value for item in default.items if item.isBlock] if default else []
