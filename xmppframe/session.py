"""
The session manager: which client sessions are bound to which full JIDs.

This is the one table of local sessions.  Modules ask it through the
interface rather than keeping session lists of their own, so that a session
that ends is forgotten in one place.
"""

import secrets

from zope.interface import implementer

from twisted.logger import Logger

from xmppframe.events import SESSION_BOUND, SESSION_ENDED
from xmppframe.interfaces import ISessionManager


@implementer(ISessionManager)
class SessionManager:
    """
    Bound client sessions of every host, by bare and full JID.

    Resource conflicts follow RFC 6120 §7.7.2.2 with the policy most
    servers use: the newer session wins and the older one is closed with a
    C{conflict} stream error, so that a client that lost its connection can
    log in again at once.
    """

    _log = Logger()

    def __init__(self):
        # bare JID -> {resource: session}, in bind order (dicts keep it).
        self._byBare = {}
        # bare JID -> tuple of its sessions, in bind order: what
        # sessionsFor answers, built on bind and unbind rather than on each
        # of the several lookups every routed stanza makes.
        self._tuples = {}
        # The text of each bound full JID and of its bare JID -> the JID:
        # the addresses most stanzas carry, found without preparing them
        # again (a bounded JID cache would thrash once more sessions are
        # bound than it holds).
        self._known = {}

    def bind(self, session, resource):
        """
        Bind C{session} (whose C{jid} is its bare JID) to C{resource}, or to
        a generated resource when C{resource} is C{None} (RFC 6120 §7.6).
        """
        bare = session.jid.bare
        resources = self._byBare.setdefault(bare, {})
        if resource is None:
            resource = secrets.token_hex(8)
            while resource in resources:
                resource = secrets.token_hex(8)
        full = bare.withResource(resource)
        previous = resources.pop(full.resource, None)
        if previous is not None and previous is not session:
            # The replaced session ends here, before its successor is in
            # the table, so that SESSION_ENDED handlers see it go.
            self._tuples[bare] = tuple(resources.values())
            self._log.info("{jid} replaced by a new session (conflict)", jid=full)
            previous.replaced = True
            previous.close("conflict", "Replaced by new connection")
            if previous.host is not None:
                previous.host.events.fireAll(SESSION_ENDED, previous)
        session.jid = full
        resources = self._byBare.setdefault(bare, {})
        resources[full.resource] = session
        self._tuples[bare] = tuple(resources.values())
        self._known[full.full] = full
        self._known[bare.full] = bare
        if session.host is not None:
            session.host.events.fireAll(SESSION_BOUND, session)
        return full

    def unbind(self, session):
        jid = session.jid
        if jid is None or jid.resource is None:
            return
        resources = self._byBare.get(jid.bare)
        if not resources or resources.get(jid.resource) is not session:
            return
        del resources[jid.resource]
        self._known.pop(jid.full, None)
        if resources:
            self._tuples[jid.bare] = tuple(resources.values())
        else:
            del self._byBare[jid.bare]
            del self._tuples[jid.bare]
            self._known.pop(jid.bare.full, None)
        if session.host is not None:
            session.host.events.fireAll(SESSION_ENDED, session)

    def sessionFor(self, fullJID):
        resources = self._byBare.get(fullJID.bare)
        if resources is None:
            return None
        return resources.get(fullJID.resource)

    def sessionsFor(self, bareJID):
        return self._tuples.get(bareJID, ())

    def knownJID(self, text):
        return self._known.get(text)

    def allSessions(self):
        for resources in list(self._byBare.values()):
            yield from list(resources.values())

    def __len__(self):
        return sum(len(r) for r in self._byBare.values())
