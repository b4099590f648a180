"""
Removing an account: one cascade for every way an account goes, in band
(XEP-0077 §3.2, through L{xmppframe.api.ModuleAPI.removeAccount}) or by
the admin command (C{xmppframe user delete}, L{removeOffline}).

What an account owns is known only to the modules that keep it (roster,
vCard, private XML, privacy lists, offline messages, archive, pending
subscription requests, last activity...), so nothing here lists stores:
L{removeAccount} deletes the credentials, fires
L{xmppframe.events.ACCOUNT_REMOVED} and waits until every module's handler
has finished, then closes the account's sessions.  A module that keeps
data for an account hooks that event and returns a Deferred of its
cleanup.

The admin command runs without the server: L{removeOffline} loads the
host's configured modules against storage, as the server does but with no
listener, runs the same cascade, and unloads them.  A server running on
the same database at that moment is a separate process: its sessions of
the account stay open until they end, and what it holds in memory for the
account (an online roster, say) is not dropped.  Delete accounts of a
running server in band, or stop it first.
"""

from twisted.logger import Logger

from xmppframe.events import ACCOUNT_REMOVED
from xmppframe.jid import makeJID

_log = Logger()

#: The stream error that ends the sessions of a removed account: XEP-0077
#: §3.2, "the server SHOULD then return a <not-authorized/> stream error
#: and terminate all active sessions for the entity".
REMOVED_CONDITION = "not-authorized"
REMOVED_TEXT = "The account was removed"


class RemovalIncomplete(Exception):
    """
    The account's credentials are gone, but some module could not drop
    what it keeps for it (each failure is logged).

    @ivar failures: the C{(handler, Failure)} pairs.
    """

    def __init__(self, account, failures):
        Exception.__init__(self, "%s was removed, but %d module cleanup(s) failed: %s" % (
            account, len(failures),
            "; ".join(failure.getErrorMessage() for _, failure in failures)))
        self.failures = failures


async def removeAccount(host, sessions, username, answer=None):
    """
    Remove the account C{username} of C{host} and everything its modules
    keep for it.

      1. Its credentials are deleted: nobody logs in as it any more.
      2. C{answer()} is called, if given: the in-band request's result
         goes out before the stream closes.
      3. Every session of the account is closed with the stream error
         XEP-0077 §3.2 names, C{not-authorized}.  Each one ends as any
         session does: its contacts get its C{unavailable} presence
         (RFC 6121 §4.6), and what modules do when a session ends (a last
         activity stored, say) is done before the data is dropped.
      4. L{ACCOUNT_REMOVED} is fired, and every handler waited for: each
         module drops what it keeps for the account, and the roster
         module cancels the subscriptions, C{unsubscribe} and
         C{unsubscribed} to each contact (RFC 6121 §3.2.2, §3.3.2;
         XEP-0077 §3.2: "the server SHOULD also cancel all existing
         presence subscriptions").

    @param host: the L{IVirtualHost}; its C{auth} holds the credentials.
    @param sessions: the L{ISessionManager}.
    @param username: the prepared localpart.
    @raise xmppframe.auth.NoSuchUser: if there is no such account (nothing
        is done then).
    @raise RemovalIncomplete: if a module's cleanup failed; the rest was
        done.
    """
    account = "%s@%s" % (username, host.name)
    await host.auth.deleteUser(username)
    if answer is not None:
        answer()
    bare = makeJID(username, host.name)
    for session in list(sessions.sessionsFor(bare)):
        session.close(REMOVED_CONDITION, REMOVED_TEXT)
    failures = await host.events.fireAllAndWait(ACCOUNT_REMOVED, username)
    _log.info("Removed account {account} and its data", account=account)
    if failures:
        raise RemovalIncomplete(account, failures)


class _NoFederation:
    """
    The router's way to other domains while the admin command runs: it
    does not federate, so what the cascade sends to remote contacts (the
    cancelled subscriptions) is counted and dropped.

    @ivar dropped: the JIDs, as text, of the remote addressees.
    """

    def __init__(self):
        self.dropped = []

    def route(self, stanza, to):
        self.dropped.append(str(to))


async def removeOffline(config, storage, reactor, hostName, username):
    """
    Run L{removeAccount} without a running server: build the server's
    objects on C{storage} (already open), load the host modules of
    C{config} as C{serve} does, with no listener and no federation, remove
    the account, and unload them.

    Local contacts' rosters are updated as in band (their subscriptions to
    the account are cancelled); remote contacts cannot be told.

    @return: the sorted remote JIDs that could not be told.
    """
    # Imported here: the server module pulls in every stream.
    from xmppframe.server import Server
    server = Server(config, reactor, storage=storage)
    federation = _NoFederation()
    server.router.remote = federation
    await server.loadModules()
    try:
        await removeAccount(server.hosts[hostName], server.sessions, username)
    finally:
        await server.unloadModules()
    return sorted(set(federation.dropped))
