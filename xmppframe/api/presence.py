"""
Presence helpers for the modules that send presence on an account's
behalf (RFC 6121 §3, §4): the presence and subscription modules, and any
module that answers probes or ends a presence session.
"""

from xmppframe.xml.stanza import makeStanza


def addressed(stanza, to, from_=None):
    """
    A copy of C{stanza} addressed to C{to} (and from C{from_} when given):
    the one way presence is readdressed here, so that a stanza other code
    still holds is never changed.
    """
    # The element's own copy method: copy.deepcopy's dispatch and memo
    # cost more than the copy itself, and a broadcast makes one per contact.
    copy = stanza.__copy__()
    if copy.tail is not None:
        copy.tail = None
    copy.set("to", str(to))
    if from_ is not None:
        from_ = str(from_)
        if copy.get("from") != from_:
            copy.set("from", from_)
    return copy


def availableSessions(sessions, account):
    """
    The available resources of C{account} (a bare JID), in bind order.
    """
    return [session for session in sessions.sessionsFor(account) if session.available]


def currentPresence(sessions, account, to):
    """
    The last broadcast presence of each available resource of C{account},
    addressed to C{to} from the resource's full JID: the answer to a probe
    (RFC 6121 §4.3.2 rule 4, keeping each stanza's own 'id' per §4.3.2.1)
    and what follows a subscription approval (§3.1.5).
    """
    return [addressed(session.presence, to, session.jid)
            for session in availableSessions(sessions, account)
            if session.presence is not None]


def unavailablePresence(sessions, account, to):
    """
    Unavailable presence from each available resource of C{account} to
    C{to}, sent when C{to} loses its subscription (RFC 6121 §3.2.2,
    §3.3.3 step 3).
    """
    return [makeStanza("presence", from_=session.jid, to=to, type="unavailable")
            for session in availableSessions(sessions, account)]


async def accountExists(host, user, sessions=None, account=None):
    """
    Whether C{user} has an account on C{host} (RFC 6121 §8.5.1 treats
    stanzas to a missing account differently).  A host without an account
    provider (an embedded or test host) has every account.

    @param sessions: the L{xmppframe.interfaces.ISessionManager}, with
        C{account}, the account's bare JID: an account with a bound
        session exists, so storage is not asked (probes and subscription
        stanzas to online accounts are frequent).
    """
    if sessions is not None and account is not None and sessions.sessionsFor(account):
        return True
    auth = host.auth
    if auth is None:
        return True
    return bool(await auth.userExists(user))
