"""
The accounts' rules in memory: loaded, cached, kept current, judged from,
and written through.

Decisions are made while the router waits for them, but lists and roster
facts live in storage.  Each account's lists, and its roster's
subscriptions and groups when a list needs them (XEP-0016 §2.2 rule 9), are
kept in memory: loaded when a session is bound, kept while the account has
sessions, and cached in a bounded LRU otherwise.  When a decision needs an
account that is not in memory, the filter waits for L{PrivacyPolicy.load}
(the router holds the stanza meanwhile).
"""

from collections import OrderedDict

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from xmppframe.api import UsersWithData, parseJID

from xmppframe.modules.privacy.model import PrivacyItem, PrivacyList, UserPrivacy

# How an account's rules are stored: one entry per list, and the default.
_LIST_KEY = "list:"
_DEFAULT_KEY = "default"


def fromStored(jid, entries):
    """
    The L{UserPrivacy} of the account C{jid} from its stored C{entries}.
    """
    lists = {}
    for key, value in entries.items():
        if key.startswith(_LIST_KEY):
            name = key[len(_LIST_KEY):]
            lists[name] = PrivacyList(name, tuple(PrivacyItem.fromStored(v) for v in value))
    default = entries.get(_DEFAULT_KEY)
    return UserPrivacy(jid, lists, default if default in lists else None)


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
            state = fromStored(self.accountJID(user), entries)
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

    def sessionEnded(self, session):
        state = self._states.get(session.jid.localpart)
        if state is None:
            return
        state.active.pop(session, None)
        if not self.sessions.sessionsFor(state.jid):
            # Roster changes keep reaching the state (roster/changed), so
            # it stays whole while cached.
            self._becameIdle(session.jid.localpart)

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

    def removeAccount(self, user):
        """
        The account is gone: so are its lists.

        @return: a Deferred that fires when storage has forgotten them.
        """
        self.forget(user)
        return self.store.clear(user)
