"""
Last Activity (XEP-0012): how long ago an account logged out, and how long
the server has been running.

What the server answers, by whom the C{jabber:iq:last} query is addressed
to (XEP-0012 §2):

  - the server's domain: its uptime, the seconds since this host was
    started, with no text (§5);
  - an account's bare JID: the server answers on the account's behalf
    (§3).  The account itself and the contacts allowed to see its
    presence, those with a subscription 'from' or 'both' on its roster
    (RFC 6121 §3), are told the seconds since its last logout and the
    status text of the unavailable presence it last sent; while it has a
    connected resource the answer is C{seconds='0'} and no text (§3, last
    paragraph).  Anyone else gets C{forbidden} (§3; §8: the answer would
    leak the account's network availability).  An account that does not
    exist gets C{service-unavailable} (RFC 6121 §8.5.1), and so does one
    the server has no logout on record for;
  - a full JID: the client answers with its idle time, if it wants to
    (§4).  The server only keeps the query from reaching the client when
    the sender may not see the account's presence: it answers
    C{forbidden} itself (§4: the server "MUST NOT deliver the IQ-get to an
    available resource but instead MUST return a <forbidden/> error").

Last Activity defines only iq get; an iq set is refused with
C{not-allowed}, and a C{<query/>} with child elements (its schema, §11,
allows only text) with C{bad-request} (RFC 6120 §8.3.3.1).

The logout is recorded when an account's last session ends, durably, in
the key-value store C{lastactivity}: one C{{"time": seconds since the
epoch, "status": text or null}} per account, deleted with the account
(XEP-0077 §3.2).  The server advertises C{jabber:iq:last} for itself and
for its accounts (§6).

Times come from C{self.api.reactor}, so tests drive them with a clock.
"""

from twisted.internet import defer

from xmppframe.api import (
    ACCOUNT_REMOVED, SESSION_ENDED, IRoster, Module, Priority, accountExists, inboundEvent)
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

__all__ = ["LastActivityModule"]

_QUERY = (NS.LAST_ACTIVITY, "query")
_QUERY_TAG = NS.qname(*_QUERY)


def lastQuery(seconds, text=None):
    """
    The C{<query xmlns='jabber:iq:last' seconds='...'/>} of an answer
    (XEP-0012 §2), with C{text} as its character data when given.
    """
    query = makeElement(NS.LAST_ACTIVITY, "query", {"seconds": "%d" % (max(0, seconds),)})
    if text:
        query.text = text
    return query


def statusOf(presence):
    """
    The text of the first C{<status/>} of C{presence} if it is unavailable
    presence, else C{None}: what XEP-0012 §3 returns with the seconds.
    """
    if presence is None or presence.get("type") != "unavailable":
        return None
    namespace = presence.tag[1:presence.tag.index("}")]
    return presence.findtext(NS.qname(namespace, "status")) or None


class LastActivityModule(Module):
    """
    Answers C{jabber:iq:last} queries to the server and, on their behalf,
    to its accounts (XEP-0012 §3, §5), and records when each account
    logged out.
    """

    name = "lastactivity"
    summary = "how long ago a contact logged out, and the server's uptime"
    dependencies = ("roster",)
    xeps = ("XEP-0012",)

    def load(self):
        self.started = self.api.reactor.seconds()
        self.store = self.api.openStore("keyvalue", "lastactivity")
        self.api.addFeature(NS.LAST_ACTIVITY)
        self.api.addAccountFeature(NS.LAST_ACTIVITY)
        self.api.hookIQ("get", "host", _QUERY, self.uptime)
        # An account's own query (no 'to', RFC 6120 §10.3.3) comes here too.
        self.api.hookIQ("get", "bare", _QUERY, self.lastActivity)
        for target in ("host", "bare"):
            self.api.hookIQ("set", target, _QUERY, self.refuseSet)
        self.api.hook(inboundEvent("iq"), self.screenFullJIDQuery, Priority.FILTER)
        self.api.hook(SESSION_ENDED, self.sessionEnded)
        self.api.hook(ACCOUNT_REMOVED, self.accountRemoved)

    # Queries

    def uptime(self, event):
        """
        §5: the seconds since the host started, with no text.
        """
        _checkQuery(event)
        return lastQuery(self.api.reactor.seconds() - self.started)

    def lastActivity(self, event):
        """
        §3: the seconds since the account logged out, and its last status.
        """
        return defer.ensureDeferred(self._lastActivity(event))

    async def _lastActivity(self, event):
        _checkQuery(event)
        account = event.to.bare
        user = account.localpart
        if not await accountExists(self.api.host, user, self.api.sessions, account):
            raise StanzaError("service-unavailable")
        if not await self.maySeePresence(account, event.sender):
            raise StanzaError("forbidden")
        if self.api.sessions.sessionsFor(account):
            # §3: "at least one connected or available resource": '0'.
            return lastQuery(0)
        record = await self.store.get(user)
        if record is None:
            raise StanzaError("service-unavailable",
                              text="No logout of this account is on record")
        return lastQuery(self.api.reactor.seconds() - record["time"], record["status"])

    def refuseSet(self, event):
        raise StanzaError("not-allowed", text="Last Activity is only ever asked for (iq get)")

    def screenFullJIDQuery(self, event):
        """
        §4: a query to a full JID reaches the client only if the sender
        may see the account's presence; otherwise the server answers
        C{forbidden}.  (The inbound event never fires for the account's
        own resources.)
        """
        stanza = event.stanza
        if (event.type != "get" or event.to.resource is None or len(stanza) != 1
                or stanza[0].tag != _QUERY_TAG):
            return None
        return defer.ensureDeferred(self._screen(event))

    async def _screen(self, event):
        if await self.maySeePresence(event.to.bare, event.sender):
            return None
        self.api.router.bounce(event, StanzaError("forbidden"))
        return True

    async def maySeePresence(self, account, sender):
        """
        Whether C{sender} may see the presence of C{account}, a local bare
        JID: the account itself, or a contact it has a subscription 'from'
        or 'both' with (RFC 6121 §3; XEP-0012 §8).
        """
        if sender.bare == account:
            return True
        item = await self.api.service(IRoster).getItem(account.localpart, sender.bare)
        return item is not None and item.subscribedFrom

    # Recording logouts

    def sessionEnded(self, session):
        """
        C{SESSION_ENDED}: when the account's last session goes, it has
        logged out; remember when, and the status of its last unavailable
        presence.
        """
        if session.host is not self.api.host or session.jid is None:
            return None
        account = session.jid.bare
        if self.api.sessions.sessionsFor(account):
            return None
        return self.store.set(account.localpart, {
            "time": self.api.reactor.seconds(), "status": statusOf(session.presence)})

    def accountRemoved(self, user):
        return self.store.delete(user)


def _checkQuery(event):
    """
    §11: the C{<query/>} of a get holds text at most.
    """
    if len(event.stanza[0]):
        raise StanzaError("bad-request", text="A Last Activity query has no child elements")
