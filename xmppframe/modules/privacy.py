"""
Privacy lists (XEP-0016, first specified as RFC 3921 §10 "Blocking
Communication") and the one mechanism that enforces them.

The blocking command (XEP-0191, L{xmppframe.modules.blocking}) is a front
end to the same rules: XEP-0191 §6 asks for one back-end store and
recommends mapping the blocklist onto the default privacy list, one item of
type 'jid' and action 'deny' with no child elements (all stanzas, both
directions) per blocked JID.  So there is one policy here and one place that
applies it: the router's C{inbound/<kind>} events on the recipient's host
(what a user receives) and C{outbound/<kind>} events on the sender's host
(what a user sends, including the presence broadcast copies the server
routes on the user's behalf: that is how a blocked contact sees the user
offline).

Decisions must be made while the router waits, but lists and roster facts
live in storage.  Each account's lists, and its roster's subscriptions and
groups when a list needs them, are kept in memory: loaded when a session is
bound, kept while the account has sessions, and cached in a bounded LRU
otherwise.  A stanza whose decision needs data not yet in memory is claimed,
the data loaded, and the stanza routed again once decided; a per-stanza
mark (see L{PrivacyModule._reroute}) keeps the filters that already passed
it from judging it twice.  The outbound filter loads a local recipient's
data too, so that the second routing passes the inbound filter at once and
other modules' outbound handlers (which run after this one) see the stanza
once.
"""

from collections import OrderedDict
from copy import deepcopy
from dataclasses import dataclass, field
import secrets

from lxml import etree
from zope.interface import implementer

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from xmppframe.errors import StanzaError
from xmppframe.api import (
    ACCOUNT_REMOVED, ROSTER_CHANGED, SESSION_BOUND, SESSION_ENDED, SUBSCRIPTIONS, atLeast,
    inboundEvent, InvalidJID, IPrivacy, iqResponseEvent, IRoster, Module, ModuleOption,
    outboundEvent, parseJID, Priority, UsersWithData)
from xmppframe.xml.stanza import errorReply, isError, makeElement, makeStanza

#: XEP-0016 §9.  (Namespaces here until they join L{xmppframe.xml.namespaces}.)
PRIVACY = "jabber:iq:privacy"
#: XEP-0191 §10: the application condition of an outbound stanza refused
#: because its recipient is blocked.
BLOCKING_ERRORS = "urn:xmpp:blocking:errors"

# The stanza categories an item can name with a child element (XEP-0016 §2.1).
MESSAGE = "message"
IQ = "iq"
PRESENCE_IN = "presence-in"
PRESENCE_OUT = "presence-out"
ITEM_KINDS = (MESSAGE, IQ, PRESENCE_IN, PRESENCE_OUT)
# Categories no child names, matched only by items without children
# (XEP-0016 §2.13 "Blocking All Communication"): subscription requests and
# probes received, and anything sent but a presence notification.
OTHER_IN = "other-in"
OTHER_OUT = "other-out"

INBOUND = "in"
OUTBOUND = "out"

ALLOW = "allow"
DENY = "deny"
ITEM_TYPES = ("jid", "group", "subscription")

#: The name of the default list the blocking command creates when the user
#: has none (XEP-0191 §6).
BLOCKLIST_NAME = "blocklist"

#: Priority of the filters: privacy lists are the first delivery rule
#: (XEP-0016 §2.2 rule 4).
FILTER_PRIORITY = Priority.FILTER

_MAX_ORDER = 2 ** 32 - 1
_LIST_KEY = "list:"
_DEFAULT_KEY = "default"
_PUSH_ID_PREFIX = "privacy-push-"
_NOTIFICATION_TYPES = (None, "unavailable")

def _q(local):
    return "{%s}%s" % (PRIVACY, local)


def stanzaCategory(kind, type, direction):
    """
    What an item child must name to match a stanza (XEP-0016 §2.1): a
    presence "notification" is one without a type or of type
    'unavailable' (§2 note); subscription requests and probes are matched
    only by items that block everything.

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
    XEP-0016 §2.1 (and XEP-0191 §7) JID matching: C{user@domain/resource}
    only that resource, C{user@domain} any of its resources,
    C{domain/resource} only that resource of the domain, C{domain} the
    domain and every JID at it.
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
    One rule of a privacy list (XEP-0016 §2.1).

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
        Whether this is a blocked JID of XEP-0191 §6: type 'jid', action
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
            or C{None} (subscription 'none', no groups: XEP-0016 §2.1).
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
    A named, ordered privacy list (XEP-0016 §2.1); its items are kept in
    ascending 'order' (§2.2 rule 5).
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


# XML (XEP-0016 §2.1 syntax, §9 schema)

def parseItem(element):
    """
    Read one C{<item/>}; bad input is a C{bad-request} saying what is wrong.
    """
    action = element.get("action")
    if action not in (ALLOW, DENY):
        raise StanzaError("bad-request", text="An item's action must be 'allow' or 'deny'")
    orderText = element.get("order")
    if orderText is None or not orderText.isdigit() or not orderText.isascii():
        raise StanzaError("bad-request", text="An item's order must be a non-negative integer")
    order = int(orderText)
    if order > _MAX_ORDER:
        raise StanzaError("bad-request", text="An item's order must fit an unsignedInt")
    type = element.get("type")
    value = element.get("value")
    if type is None:
        value = None
    elif type not in ITEM_TYPES:
        raise StanzaError("bad-request", text="Unknown item type %r" % (type,))
    elif value is None:
        raise StanzaError("bad-request", text="An item of type %r needs a value" % (type,))
    elif type == "jid":
        try:
            value = parseJID(value)
        except InvalidJID as e:
            raise StanzaError("bad-request", text="Item value is not a JID: %s" % (e,))
    elif type == "subscription" and value not in SUBSCRIPTIONS:
        raise StanzaError("bad-request", text="Unknown subscription state %r" % (value,))
    kinds = set()
    for child in element:
        if not isinstance(child.tag, str):
            continue
        namespace, _, local = child.tag[1:].partition("}")
        if namespace != PRIVACY or local not in ITEM_KINDS:
            raise StanzaError("bad-request", text="Unknown item child %r" % (child.tag,))
        kinds.add(local)
    return PrivacyItem(action, order, type, value, frozenset(kinds))


def parseList(element, maxItems=None):
    """
    Read a C{<list/>} with its items.  Orders must be unique (§2.1).
    """
    name = element.get("name")
    if not name:
        raise StanzaError("bad-request", text="A list needs a name")
    items = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tag != _q("item"):
            raise StanzaError("bad-request", text="A list holds only items")
        items.append(parseItem(child))
    if maxItems is not None and len(items) > maxItems:
        raise StanzaError("policy-violation", text="A list may hold %d items at most" % (maxItems,))
    if len({item.order for item in items}) != len(items):
        raise StanzaError("bad-request", text="Item orders must be unique")
    return PrivacyList(name, tuple(items))


def itemElement(item, parent):
    element = etree.SubElement(parent, _q("item"))
    if item.type is not None:
        element.set("type", item.type)
        element.set("value", str(item.value))
    element.set("action", item.action)
    element.set("order", str(item.order))
    for kind in ITEM_KINDS:
        if kind in item.kinds:
            etree.SubElement(element, _q(kind))
    return element


def listElement(privacyList, parent, withItems=True):
    element = etree.SubElement(parent, _q("list"))
    element.set("name", privacyList.name)
    if withItems:
        for item in privacyList.items:
            itemElement(item, element)
    return element


class UserPrivacy:
    """
    What the policy knows of one account: its lists, which is the default,
    the active list of each of its sessions, and (when a list has group or
    subscription items) the roster facts those need.

    @ivar roster: bare JID -> L{RosterItem}, or C{None} while not loaded.
    """

    def __init__(self, jid, lists=None, default=None):
        self.jid = jid
        self.lists = dict(lists or {})
        self.default = default
        self.active = {}
        self.roster = None

    @classmethod
    def fromStored(cls, jid, entries):
        lists = {}
        for key, value in entries.items():
            if key.startswith(_LIST_KEY):
                name = key[len(_LIST_KEY):]
                lists[name] = PrivacyList(name, tuple(PrivacyItem.fromStored(v) for v in value))
        default = entries.get(_DEFAULT_KEY)
        return cls(jid, lists, default if default in lists else None)

    @property
    def needsRoster(self):
        return any(l.needsRoster for l in self.lists.values())

    @property
    def ready(self):
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
        The blocklist (XEP-0191 §6): the JIDs of the default list's block
        items.
        """
        default = self.defaultList
        return [item.value for item in default.items if item.isBlock] if default else []


class PrivacyPolicy:
    """
    Decides, synchronously, whether a stanza may pass, from the accounts'
    data held in memory; loads that data on request.

    @param store: the L{IMapStore} the lists are kept in.
    @param sessions: the L{ISessionManager}.
    @param domain: the host's domain.
    @param roster: a callable returning the host's L{IRoster} or C{None}.
    @param log: a L{Logger} for a failure to list the accounts with lists.

    Nearly every account has no lists, so which accounts have some is read
    once (L{UsersWithData}) and a login of any other reads nothing.  That
    holds while every write to C{store} goes through this policy; each
    write notes its account before it is made, and an account stays noted
    after its lists are removed (it is read at its next load, as before).
    """

    def __init__(self, store, sessions, domain, roster, cacheSize=1000, log=None):
        self.store = store
        self._withLists = UsersWithData(store, log if log is not None else Logger())
        self.sessions = sessions
        self.domain = domain
        self._roster = roster
        self._cacheSize = cacheSize
        # Every account whose state is in memory; those with no session
        # are also in _idle, least recently used first, and only they count
        # against cacheSize: an online account is never evicted, so keeping
        # the bound costs O(1) however many accounts are online.
        self._states = {}
        self._idle = OrderedDict()
        self._waiting = {}

    # Loading

    def ready(self, user):
        """
        @return: the L{UserPrivacy} of C{user} if everything a decision
            needs is in memory, else C{None} (call L{load}).
        """
        state = self._states.get(user)
        if state is None or not state.ready:
            return None
        if user in self._idle:
            self._idle.move_to_end(user)
        return state

    def load(self, user):
        """
        @return: a Deferred firing with C{user}'s ready L{UserPrivacy}.
            Concurrent calls share one load.
        """
        state = self.ready(user)
        if state is not None:
            return defer.succeed(state)
        d = defer.Deferred()
        waiters = self._waiting.get(user)
        if waiters is not None:
            waiters.append(d)
            return d
        self._waiting[user] = [d]
        defer.ensureDeferred(self._load(user)).addBoth(self._wake, user)
        return d

    def _wake(self, result, user):
        for d in self._waiting.pop(user, ()):
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)

    async def _load(self, user):
        state = self._states.get(user)
        if state is None:
            entries = await self.store.items(user) if self._withLists.mayHave(user) else {}
            state = UserPrivacy.fromStored(self.accountJID(user), entries)
        if not state.ready:
            state.roster = await self.loadRoster(user)
        self._keep(user, state)
        return state

    async def loadRoster(self, user):
        """
        @return: bare JID -> RosterItem of the user's roster ({} without a
            roster service).
        """
        roster = self._roster()
        if roster is None:
            return {}
        return {item.jid: item for item in await roster.getItems(user)}

    def _keep(self, user, state):
        self._states[user] = state
        if self.sessions.sessionsFor(state.jid):
            self._idle.pop(user, None)
        else:
            self._becameIdle(user)

    def _becameIdle(self, user):
        self._idle[user] = None
        self._idle.move_to_end(user)
        while len(self._idle) > self._cacheSize:
            oldest, _ = self._idle.popitem(last=False)
            self._states.pop(oldest, None)

    def sessionBound(self, session):
        """
        An account with a session stays in memory whatever the cache size.
        """
        self._idle.pop(session.jid.localpart, None)

    def forget(self, user):
        """
        Drop what is in memory of C{user}, to be read from storage again.
        """
        self._states.pop(user, None)
        self._idle.pop(user, None)

    def accountJID(self, user):
        """
        The bare JID of account C{user}: the session table's while the
        account is online (as it is when its first session binds), so a
        login does not prepare the address again.
        """
        text = "%s@%s" % (user, self.domain)
        return self.sessions.knownJID(text) or parseJID(text)

    def cached(self, user):
        return self._states.get(user)

    # Roster changes (XEP-0016 §2.2 rule 9)

    def rosterChanged(self, user, contact, item):
        """
        Keep the roster facts of C{user} current: C{item} is the new
        L{RosterItem} of bare JID C{contact}, or C{None} if it was removed.
        """
        state = self._states.get(user)
        if state is None or state.roster is None:
            return
        if item is None:
            state.roster.pop(contact, None)
        else:
            state.roster[contact] = item

    def sessionEnded(self, session):
        state = self._states.get(session.jid.localpart)
        if state is None:
            return
        state.active.pop(session, None)
        if not self.sessions.sessionsFor(state.jid):
            # Roster changes keep reaching the state (roster/changed), so
            # it stays whole while cached.
            self._becameIdle(session.jid.localpart)

    # Decisions

    def inboundDenial(self, state, to, sender, category):
        """
        The item denying a stanza from C{sender} to C{to} (bare or full), or
        C{None}.  A full JID is judged by its session's list; a bare JID by
        the lists of all the account's sessions (or the default list when it
        has none), and is refused only if all of them refuse it.
        """
        if to.resource is not None:
            lists = [state.effectiveList(self.sessions.sessionFor(to))]
        else:
            sessions = self.sessions.sessionsFor(to.bare)
            if sessions and state.active:
                lists = {id(l): l for l in (state.effectiveList(s) for s in sessions)}.values()
            else:
                lists = [state.defaultList]
        denial = None
        for privacyList in lists:
            if privacyList is None:
                return None
            item = privacyList.denies(sender, category, state.rosterItem)
            if item is None:
                return None
            denial = denial or item
        return denial

    def outboundDenial(self, state, session, to, category):
        """
        The item denying C{session}'s (or, with C{None}, the account's)
        stanza to C{to}, or C{None}.
        """
        privacyList = state.effectiveList(session)
        if privacyList is None:
            return None
        return privacyList.denies(to, category, state.rosterItem)

    # Changes (the caller has loaded the state; memory first, then storage)

    def setList(self, state, privacyList):
        state.lists[privacyList.name] = privacyList
        self._withLists.stored(state.jid.localpart)
        return self.store.set(state.jid.localpart, _LIST_KEY + privacyList.name,
                              [item.toStored() for item in privacyList.items])

    def removeList(self, state, name):
        del state.lists[name]
        for session, active in list(state.active.items()):
            if active == name:
                del state.active[session]
        d = self.store.delete(state.jid.localpart, _LIST_KEY + name)
        if state.default == name:
            state.default = None
            d.addCallback(lambda _: self.store.delete(state.jid.localpart, _DEFAULT_KEY))
        return d

    def setDefault(self, state, name):
        state.default = name
        self._withLists.stored(state.jid.localpart)
        return self.store.set(state.jid.localpart, _DEFAULT_KEY, name)


@implementer(IPrivacy)
class PrivacyModule(Module):
    """
    XEP-0016 privacy lists for one host, and the enforcement of every
    privacy rule (the blocklist included) on its accounts' stanzas.

    Options: C{max_lists}, C{max_items} (per account and per list, beyond
    which a set is a C{policy-violation}), C{cache_size} (accounts without
    sessions whose lists stay in memory).
    """

    name = "privacy"
    summary = "privacy lists, and the filter enforcing them and the blocklist"
    dependencies = ("roster",)
    xeps = ("XEP-0016",)
    optionSchema = {
        "max_lists": ModuleOption(
            "integer", 50, atLeast(1),
            help="Privacy lists one account may keep (XEP-0016 §2.2 asks for a limit)."),
        "max_items": ModuleOption(
            "integer", 250, atLeast(1),
            help="Items in one privacy list, and blocked JIDs (XEP-0191)."),
        "cache_size": ModuleOption(
            "integer", 1000, atLeast(1),
            help="Accounts without sessions whose lists stay in memory."),
    }

    def __init__(self, api):
        Module.__init__(self, api)
        self.options = api.options
        self.policy = None
        # stanza -> set of (direction, bare JID) already judged, while it
        # is routed again (see _reroute).
        self._passing = {}

    def load(self):
        self.api.provide(IPrivacy, self)
        self.policy = PrivacyPolicy(
            self.api.openStore("map", "privacy"), self.api.sessions, self.api.host.name,
            self._rosterService, self.options["cache_size"], self.api.log)
        self.api.addFeature(PRIVACY)
        self.api.hookIQ("get", "self", (PRIVACY, "query"), self._onGet)
        self.api.hookIQ("set", "self", (PRIVACY, "query"), self._onSet)
        for kind in ("message", "presence", "iq"):
            self.api.hook(inboundEvent(kind), self._onInbound, FILTER_PRIORITY)
            self.api.hook(outboundEvent(kind), self._onOutbound, FILTER_PRIORITY)
        self.api.hook(SESSION_BOUND, self._onSessionBound)
        self.api.hook(SESSION_ENDED, self.policy.sessionEnded)
        self.api.hook(iqResponseEvent("self"), self._onPushAnswer)
        self.api.hook(ACCOUNT_REMOVED, self._onAccountRemoved)
        self.api.hook(ROSTER_CHANGED, self._onRosterChanged)

    def _onAccountRemoved(self, user):
        """
        The account is gone (XEP-0077 §3.2): so are its lists.
        """
        self.policy.forget(user)
        self.policy.store.clear(user).addErrback(
            lambda f: self.api.log.failure("removing the privacy lists of {user} failed", f,
                                           user=user))

    def _rosterService(self):
        return self.api.service(IRoster)

    # Sessions

    def _onSessionBound(self, session):
        self.policy.sessionBound(session)
        self.policy.load(session.jid.localpart).addErrback(
            lambda f: self.api.log.failure("loading the privacy lists of {jid} failed", f,
                                           jid=session.jid))

    def rosterChanged(self, user, contact, item):
        """
        Tell the policy that C{user}'s roster item for bare JID C{contact} is
        now C{item} (C{None}: removed), so group and subscription rules
        follow it (XEP-0016 §2.2 rule 9).
        """
        self.policy.rosterChanged(user, contact, item)

    def _onRosterChanged(self, change):
        """
        L{ROSTER_CHANGED}: the roster module stored a change (a
        L{RosterChange}).
        """
        self.rosterChanged(change.user, change.contact, change.item)

    # Enforcement

    def _passed(self, stanza, direction, bare):
        marks = self._passing.get(stanza)
        return marks is not None and (direction, bare) in marks

    def _reroute(self, stanza, marks, origin=None):
        """
        Route C{stanza} again with C{marks} (a set of C{(direction, bare
        JID)}) telling this module's filters which of their judgements it
        has already passed.  The mark lives only while the router handles
        it, which is synchronous up to delivery.

        @param origin: the client session the stanza came from, if any: the
            stanza is processed again as coming from it (its 'from' is
            already stamped), so that modules that tell a client's stanzas
            from the server's by C{event.origin} see it as they would have.
        """
        previous = self._passing.get(stanza)
        self._passing[stanza] = set(marks) | (previous or set())
        try:
            if origin is not None and getattr(origin, "kind", None) == "c2s":
                self.api.router.process(origin, stanza)
            else:
                self.api.router.route(stanza)
        finally:
            if previous is None:
                self._passing.pop(stanza, None)
            else:
                self._passing[stanza] = previous

    def _localPolicy(self, jid):
        """
        The policy of the host serving account C{jid}, if it is local and
        has this module.
        """
        if jid.localpart is None:
            return None
        if jid.domain == self.api.host.name:
            return self.policy
        host = self.api.router.hostFor(jid.domain)
        module = host.modules.get(self.name) if host is not None else None
        return getattr(module, "policy", None)

    def _onInbound(self, event):
        """
        Filter what an account receives (XEP-0016 §2.14).
        """
        to = event.to
        if self._passed(event.stanza, INBOUND, to.bare):
            return None
        if event.sender.localpart is None and event.sender.domain == to.domain:
            # The account's own server is no contact of its.
            return None
        state = self.policy.ready(to.localpart)
        if state is None:
            return self._decideLater(event, INBOUND, [self.policy.load(to.localpart)])
        return self._enforceInbound(event, state)

    def _enforceInbound(self, event, state):
        if not state.lists:
            # Most accounts have no lists: nothing to judge.
            return None
        category = stanzaCategory(event.kind, event.type, INBOUND)
        if self.policy.inboundDenial(state, event.to, event.sender, category) is None:
            return None
        # XEP-0016 §2.14, XEP-0191 §3.3: presence is dropped silently;
        # messages and iq get/set are answered as if the account did not
        # exist; an iq result or error, or an error, is dropped.
        if event.kind == "message" or event.type in ("get", "set"):
            self._refuse(event, StanzaError("service-unavailable"), event.to.bare)
        return True

    def _onOutbound(self, event):
        """
        Filter what an account sends (XEP-0016 §2.12, §2.14; XEP-0191 §3.3).
        """
        to = event.to
        sender = event.sender
        if to is None or to.bare == sender.bare:
            # A broadcast (copies go out one by one) or the account itself
            # (XEP-0016 §2.1 note: never block one's own resources).
            return None
        if to.localpart is None and to.domain == sender.domain:
            return None
        if self._passed(event.stanza, OUTBOUND, sender.bare):
            return None
        state = self.policy.ready(sender.localpart)
        # The sender's data decides; a local recipient's is loaded too, so
        # that the inbound filter can decide at once.
        recipientPolicy = self._localPolicy(to)
        recipientMissing = (recipientPolicy is not None
                            and recipientPolicy.ready(to.localpart) is None)
        if state is not None and not recipientMissing:
            return self._enforceOutbound(event, state)
        loads = [self.policy.load(sender.localpart) if state is None else defer.succeed(state)]
        if recipientMissing:
            loads.append(recipientPolicy.load(to.localpart))
        return self._decideLater(event, OUTBOUND, loads)

    def _senderSession(self, event):
        origin = event.origin
        if origin is not None and getattr(origin, "kind", None) == "c2s":
            return origin
        if event.sender.resource is not None:
            return self.api.sessions.sessionFor(event.sender)
        return None

    def _enforceOutbound(self, event, state):
        if not state.lists:
            return None
        category = stanzaCategory(event.kind, event.type, OUTBOUND)
        item = self.policy.outboundDenial(state, self._senderSession(event), event.to, category)
        if item is None:
            return None
        if event.origin is not None and event.type not in ("result", "error"):
            # XEP-0016 §2.14: not-acceptable; XEP-0191 §3.3 adds <blocked/>
            # when the recipient is on the blocklist.  What the server sends
            # on the account's behalf (broadcast copies, probe answers) is
            # dropped silently: the contact sees the account offline.
            appCondition = makeElement(BLOCKING_ERRORS, "blocked") if item.isBlock else None
            self.api.router.bounce(event, StanzaError(
                "not-acceptable", type="cancel", appCondition=appCondition))
        return True

    def _refuse(self, event, error, bare):
        """
        Answer a refused stanza with C{error}.  An answer routed (rather
        than handed to a local session) is marked as judged, or the
        account's own outbound filter would stop it.
        """
        if isError(event.stanza):
            return
        if event.origin is not None:
            self.api.router.bounce(event, error)
            return
        reply = errorReply(event.stanza, error)
        if reply.get("to") is not None:
            self._reroute(reply, {(OUTBOUND, bare)})

    def _decideLater(self, event, direction, loads):
        """
        Judge the stanza once C{loads} (Deferreds of the data it needs)
        have fired.  If they already have (a store that answers at once),
        the judgement is the filter's answer.  Otherwise the stanza is
        claimed now, judged when the data is there, and routed again if it
        passes.
        """
        enforce = self._enforceInbound if direction == INBOUND else self._enforceOutbound
        if all(d.called for d in loads):
            results = [[] for d in loads]
            for d, result in zip(loads, results):
                d.addBoth(result.append)
            if not any(isinstance(r[0], Failure) for r in results):
                return enforce(event, results[0][0])
            loads = [defer.succeed(r[0]) if not isinstance(r[0], Failure) else defer.fail(r[0])
                     for r in results]

        def decide(states):
            if enforce(event, states[0]) is not None:
                return
            if direction == INBOUND:
                marks = {(INBOUND, event.to.bare), (OUTBOUND, event.sender.bare)}
            else:
                marks = {(OUTBOUND, event.sender.bare)}
            self._reroute(event.stanza, marks, event.origin)

        def failed(failure):
            self.api.log.failure("could not judge a stanza to {to} by privacy rules", failure,
                                 to=event.to)
            if event.kind == "message" or event.type in ("get", "set"):
                bare = event.to.bare if direction == INBOUND else event.sender.bare
                self._refuse(event, StanzaError("internal-server-error"), bare)

        d = defer.gatherResults(loads, consumeErrors=True)
        d.addCallback(decide)
        d.addErrback(lambda f: failed(f.value.subFailure if hasattr(f.value, "subFailure") else f))
        return True

    # XEP-0016 protocol

    def _onGet(self, event):
        return defer.ensureDeferred(self._get(event))

    def _onSet(self, event):
        return defer.ensureDeferred(self._set(event))

    @staticmethod
    def _children(event):
        return [child for child in event.stanza[0] if isinstance(child.tag, str)]

    async def _get(self, event):
        """
        XEP-0016 §2.3: the names of the lists (with the active and default
        ones), or one list.
        """
        children = self._children(event)
        state = await self.policy.load(event.sender.localpart)
        query = makeElement(PRIVACY, "query")
        if not children:
            active = state.active.get(event.origin)
            if active is not None:
                etree.SubElement(query, _q("active")).set("name", active)
            if state.default is not None:
                etree.SubElement(query, _q("default")).set("name", state.default)
            for name in sorted(state.lists):
                etree.SubElement(query, _q("list")).set("name", name)
            return query
        if len(children) > 1:
            raise StanzaError("bad-request", text="Only one list may be retrieved at a time")
        [child] = children
        if child.tag != _q("list") or not child.get("name"):
            raise StanzaError("bad-request", text="Expected a named <list/>")
        privacyList = state.lists.get(child.get("name"))
        if privacyList is None:
            raise StanzaError("item-not-found", text="No such list")
        listElement(privacyList, query)
        return query

    async def _set(self, event):
        """
        XEP-0016 §2.4–§2.8: one <active/>, <default/> or <list/>.
        """
        children = self._children(event)
        if len(children) != 1:
            raise StanzaError("bad-request", text="A privacy set holds exactly one element")
        [child] = children
        state = await self.policy.load(event.sender.localpart)
        session = event.origin
        if child.tag == _q("active"):
            return self._setActive(state, session, child.get("name"))
        if child.tag == _q("default"):
            return await self._setDefault(state, session, child.get("name"))
        if child.tag == _q("list"):
            if not child.get("name"):
                raise StanzaError("bad-request", text="A list needs a name")
            if not any(isinstance(c.tag, str) for c in child):
                return await self._removeList(state, session, child.get("name"))
            return await self._storeList(state, child)
        raise StanzaError("bad-request", text="Expected <active/>, <default/> or <list/>")

    def _setActive(self, state, session, name):
        """
        §2.4: the server applies the list before it answers.
        """
        if session is None:
            raise StanzaError("bad-request", text="Only a session has an active list")
        if name is not None and name not in state.lists:
            raise StanzaError("item-not-found", text="No such list")
        before = self._snapshot(state)
        if name is None:
            state.active.pop(session, None)
        else:
            state.active[session] = name
        self._presenceRulesChanged(state, before)
        return True

    def _usedByOthers(self, state, session, name):
        """
        Whether list C{name} applies to a connected resource other than
        C{session} (§2.2 rule 11): as its active list, or as the default
        for a session without one.
        """
        for other in self.api.sessions.sessionsFor(state.jid):
            if other is session:
                continue
            active = state.active.get(other)
            if active == name or (active is None and name == state.default):
                return True
        return False

    def _defaultAppliesToOthers(self, state, session):
        """
        Whether the default list applies to a connected resource other
        than C{session}: one without an active list (§2.5).
        """
        return any(other is not session and other not in state.active
                   for other in self.api.sessions.sessionsFor(state.jid))

    async def _setDefault(self, state, session, name):
        """
        §2.5: item-not-found for an unknown list, conflict while the
        current default applies to another resource.
        """
        if name is not None and name not in state.lists:
            raise StanzaError("item-not-found", text="No such list")
        if name == state.default:
            return True
        if state.default is not None and self._defaultAppliesToOthers(state, session):
            raise StanzaError("conflict", text="The default list is in use by another resource")
        before = self._snapshot(state)
        await self._write(state, self.policy.setDefault(state, name))
        self._presenceRulesChanged(state, before)
        return True

    async def _removeList(self, state, session, name):
        """
        §2.8: item-not-found if absent, conflict if another resource uses
        it; the pushes of §2.6 follow.
        """
        if name not in state.lists:
            raise StanzaError("item-not-found", text="No such list")
        if self._usedByOthers(state, session, name):
            raise StanzaError("conflict", text="The list is in use by another resource")
        before = self._snapshot(state)
        await self._write(state, self.policy.removeList(state, name))
        self._pushList(state, name)
        self._presenceRulesChanged(state, before)
        return True

    async def _storeList(self, state, element):
        """
        §2.6, §2.7: add or replace a whole list, push its name to every
        resource, and apply it at once where it applies (§2.2 rule 8).
        """
        privacyList = parseList(element, self.options["max_items"])
        if privacyList.name not in state.lists and len(state.lists) >= self.options["max_lists"]:
            raise StanzaError("policy-violation",
                              text="An account may have %d lists at most" % (self.options["max_lists"],))
        await self._checkGroups(state, privacyList)
        if privacyList.needsRoster and state.roster is None:
            state.roster = await self.policy.loadRoster(state.jid.localpart)
        before = self._snapshot(state)
        await self._write(state, self.policy.setList(state, privacyList))
        self._pushList(state, privacyList.name)
        self._presenceRulesChanged(state, before)
        return True

    async def _checkGroups(self, state, privacyList):
        """
        §2.1: a group item names a group of the user's roster, else
        item-not-found (checked when there is a roster service).
        """
        groups = {item.value for item in privacyList.items if item.type == "group"}
        if not groups or self._rosterService() is None:
            return
        roster = state.roster
        if roster is None:
            roster = await self.policy.loadRoster(state.jid.localpart)
        known = {group for item in roster.values() for group in item.groups}
        missing = groups - known
        if missing:
            raise StanzaError("item-not-found",
                              text="Not a group of the roster: %s" % (sorted(missing)[0],))

    async def _write(self, state, d):
        """
        Wait for a store write; if it fails, forget the account's state (it
        is read again from storage) and answer internal-server-error.
        """
        try:
            await d
        except Exception:
            self.api.log.failure("storing the privacy lists of {jid} failed", jid=state.jid)
            self.policy.forget(state.jid.localpart)
            raise StanzaError("internal-server-error")

    def _pushList(self, state, name):
        """
        §2.2 rule 10, §2.6: a privacy list push (the list's name only) to
        every connected resource.
        """
        for session in self.api.sessions.sessionsFor(state.jid):
            iq = makeStanza("iq", to=session.jid, type="set",
                            id=_PUSH_ID_PREFIX + secrets.token_hex(6))
            query = etree.SubElement(iq, _q("query"), nsmap={None: PRIVACY})
            etree.SubElement(query, _q("list")).set("name", name)
            session.send(iq)

    def _onPushAnswer(self, event):
        """
        Clients answer pushes (§2.6); the answers end here.
        """
        if (event.stanza.get("id") or "").startswith(_PUSH_ID_PREFIX):
            return True
        return None

    # Presence when the rules change (XEP-0016 §2.12 note, XEP-0191 §3.3)

    def _snapshot(self, state):
        return {session: state.effectiveList(session)
                for session in self.api.sessions.sessionsFor(state.jid)
                if getattr(session, "available", False)}

    def _presenceRulesChanged(self, state, before):
        """
        After a change of the rules, tell each contact allowed to see a
        session's presence before but not now that it is unavailable, and
        each one allowed now but not before its current presence.
        """
        changed = {session: old for session, old in before.items()
                   if state.effectiveList(session) is not old}
        if not changed:
            return
        d = defer.ensureDeferred(self._sendPresenceChanges(state, changed))
        d.addErrback(lambda f: self.api.log.failure(
            "telling contacts of {jid} of new presence rules failed", f, jid=state.jid))

    async def _sendPresenceChanges(self, state, changed):
        roster = await self.policy.loadRoster(state.jid.localpart)
        subscribers = [jid for jid, item in roster.items() if item.subscribedFrom]
        lookup = roster.get
        for session, old in changed.items():
            new = state.effectiveList(session)
            contacts = set(subscribers)
            for jid in getattr(session, "directedPresence", ()):
                try:
                    contacts.add(jid if not isinstance(jid, str) else parseJID(jid))
                except InvalidJID:
                    continue
            for contact in sorted(contacts, key=str):
                wasDenied = old is not None and old.denies(contact, PRESENCE_OUT, lookup)
                isDenied = new is not None and new.denies(contact, PRESENCE_OUT, lookup)
                if isDenied and not wasDenied:
                    unavailable = makeStanza("presence", to=contact, from_=session.jid,
                                             type="unavailable")
                    self._reroute(unavailable, {(OUTBOUND, state.jid)})
                elif wasDenied and not isDenied and session.presence is not None:
                    presence = deepcopy(session.presence)
                    presence.set("to", contact.full)
                    presence.set("from", session.jid.full)
                    self.api.router.route(presence)

    # The blocklist (XEP-0191 §6: the block items of the default list)

    def blocklist(self, user):
        """
        @return: Deferred firing with the list of blocked JIDs of C{user}.
        """
        return self.policy.load(user).addCallback(lambda state: state.blocked())

    def block(self, user, jids):
        """
        Block C{jids} (L{JID}s) for C{user}: add them as block items at the
        top of the default list, made (and made the default) if there is
        none; push the list and send unavailable presence where due.

        @return: Deferred firing with the JIDs newly blocked.
        """
        return defer.ensureDeferred(self._block(user, list(jids)))

    def unblock(self, user, jids=None):
        """
        Remove C{jids} (all blocked JIDs with C{None}) from the blocklist.

        @return: Deferred firing with the JIDs unblocked.
        """
        return defer.ensureDeferred(self._unblock(user, None if jids is None else list(jids)))

    async def _block(self, user, jids):
        state = await self.policy.load(user)
        current = state.defaultList
        already = set(state.blocked())
        new = []
        for jid in jids:
            if jid not in already and jid not in new:
                new.append(jid)
        if not new:
            return []
        items = list(current.items) if current is not None else []
        lowest = min((item.order for item in items), default=len(new))
        if lowest >= len(new):
            # XEP-0191 §6: blocked items come first in the list.
            blocks = [PrivacyItem(DENY, lowest - len(new) + i, "jid", jid)
                      for i, jid in enumerate(new)]
        else:
            blocks = [PrivacyItem(DENY, i, "jid", jid) for i, jid in enumerate(new)]
            items = [PrivacyItem(item.action, len(new) + i, item.type, item.value, item.kinds)
                     for i, item in enumerate(items)]
        name = current.name if current is not None else self._freeName(state)
        before = self._snapshot(state)
        await self._write(state, self.policy.setList(state, PrivacyList(name, tuple(blocks + items))))
        if current is None:
            await self._write(state, self.policy.setDefault(state, name))
        self._pushList(state, name)
        self._presenceRulesChanged(state, before)
        return new

    async def _unblock(self, user, jids):
        state = await self.policy.load(user)
        current = state.defaultList
        if current is None:
            return []
        wanted = None if jids is None else set(jids)
        kept, removed = [], []
        for item in current.items:
            if item.isBlock and (wanted is None or item.value in wanted):
                removed.append(item.value)
            else:
                kept.append(item)
        if not removed:
            return []
        before = self._snapshot(state)
        await self._write(state, self.policy.setList(state, PrivacyList(current.name, tuple(kept))))
        self._pushList(state, current.name)
        self._presenceRulesChanged(state, before)
        return removed

    @staticmethod
    def _freeName(state):
        name = BLOCKLIST_NAME
        counter = 1
        while name in state.lists:
            counter += 1
            name = "%s-%d" % (BLOCKLIST_NAME, counter)
        return name
