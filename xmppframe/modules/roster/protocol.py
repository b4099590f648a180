"""
The client's side of the roster: roster get (RFC 6121 §2.1.3, §2.2, with
a cached version §2.6.2) and roster set (§2.1.5: add or update §2.3,
§2.4, remove §2.5).

Each request runs under the account's lock, and its reply is sent before
the pushes it causes (§2.3.2, §2.6.3), which precede any later change's:
"Roster pushes MUST occur in order of modification" (§2.6.3).
"""

import secrets

from xmppframe.api import RosterItem
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import iqResult, makeElement, makeStanza

from .codec import ITEM, itemElement, removalElement, requestedContact, requestedNameAndGroups

__all__ = ["RosterProtocol", "cancelSubscriptions"]


def cancelSubscriptions(api, account, item):
    """
    RFC 6121 §2.5.2: C{unsubscribe} if the account was subscribed to the
    contact (or had asked to be, "Pending Out": §3.3.1 cancels a request
    the same way), C{unsubscribed} if the contact was subscribed to the
    account.  Before the C{unsubscribed}, each available resource's
    C{unavailable} presence goes to the contact, as §3.2.2 requires while
    the contact is still subscribed.  A mere pre-approval (§3.4) goes with
    the item: §3.2.2 rule 2 forbids routing an C{unsubscribed} for it.
    """
    contact = item.jid.full
    if item.subscribedTo or item.ask:
        _routePresence(api, account.full, contact, "unsubscribe")
    if item.subscribedFrom:
        for session in api.sessions.sessionsFor(account):
            if session.available:
                _routePresence(api, session.jid.full, contact, "unavailable")
        _routePresence(api, account.full, contact, "unsubscribed")


def _routePresence(api, sender, to, type):
    presence = makeStanza("presence", from_=sender, to=to, type=type, id=secrets.token_hex(6))
    try:
        api.router.route(presence)
    except Exception:
        api.log.failure("routing {type} presence to {to} failed", type=type, to=to)


class RosterProtocol:
    """
    Answers an account's own roster gets and sets.

    @param store: the L{RosterStore}.
    @param locks: the accounts' locks (a L{KeyedQueue}).
    @param push: C{push(user, element, ver, sessions=None)} sends a roster
        push.
    """

    def __init__(self, api, store, locks, push, parseJID):
        self.api = api
        self.store = store
        self.locks = locks
        self.push = push
        self._parseJID = parseJID

    def forbidden(self, event):
        # §2.1.5: a roster get or set addressed to another account is not
        # the sender's to make.
        raise StanzaError("forbidden", text="Only the account itself may use its roster")

    def _serve(self, event, work, *args):
        """
        Run C{work(event, reply, *args)} under the sender's lock.  C{work}
        calls C{reply(payload)} (an element, or C{True} for an empty
        result) and may send pushes after it.  A L{StanzaError} it raises
        before replying is the reply; anything else is logged and answered
        with internal-server-error (§2.2).
        """
        replied = []

        def reply(payload):
            replied.append(True)
            self.api.reply(event, iqResult(event.stanza, None if payload is True else payload))

        d = self.locks.run(event.sender.localpart, work, event, reply, *args)
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

    # Roster get

    def onGet(self, event):
        query = event.stanza[0]
        if any(child.tag == ITEM for child in query):
            # §2.1.3: a roster get contains no items.
            self.api.replyError(event, StanzaError(
                "bad-request", text="A roster get contains no items"))
            return True
        return self._serve(event, self._get, query.get("ver"))

    async def _get(self, event, reply, clientVersion):
        user = event.sender.localpart
        version = await self.store.version(user)
        decoded = await self.store.decoded(user)
        session = event.origin
        if session is not None:
            # §2.2: it requested the roster, so it is an interested resource.
            session.interested = True
        since = version.parse(clientVersion) if clientVersion else None
        if since is not None:
            changes = version.changesSince(since, decoded, self._parseJID)
            # §2.6.3: interim pushes, unless the whole roster is smaller.
            if len(changes) <= max(len(decoded), 1):
                reply(True)
                if session is not None:
                    for number, change in changes:
                        element = (itemElement(change) if isinstance(change, RosterItem)
                                   else removalElement(change))
                        self.push(user, element, version.text(number), [session])
                return
        query = makeElement(NS.ROSTER, "query")
        query.set("ver", version.text())
        for item, _ in sorted(decoded, key=lambda pair: pair[0].jid.full):
            query.append(itemElement(item))
        reply(query)

    # Roster set

    def onSet(self, event):
        try:
            return self._set(event)
        except StanzaError as e:
            self.api.replyError(event, e)
            return True

    def _set(self, event):
        query = event.stanza[0]
        items = [child for child in query if child.tag == ITEM]
        if len(items) != 1:
            # §2.1.5 rule 1, §2.3.3.
            raise StanzaError("bad-request", text="A roster set contains exactly one item")
        element = items[0]
        contact = requestedContact(element, event.sender, self._parseJID)
        if element.get("subscription") == "remove":
            return self._serve(event, self._removeRequested, contact)
        # §2.1.5 rule 2: any other 'subscription' value is ignored, and so
        # are 'ask' and 'approved', which a client MUST NOT send
        # (§2.1.2.1, §2.1.2.2): only presence stanzas change them.
        name, groups = requestedNameAndGroups(element, self.api.options)
        return self._serve(event, self._setRequested, contact, name, groups)

    async def _setRequested(self, event, reply, contact, name, groups):
        """
        §2.3.2, §2.4.2: store the item exactly as given (keeping its
        subscription state), reply, then push it to every interested
        resource, the requesting one included.
        """
        user = event.sender.localpart
        options = self.api.options
        old = await self.store.item(user, contact)
        if old is None:
            if await self.store.count(user) >= options["max_items"]:
                raise StanzaError("policy-violation", text="A roster holds %d items at most"
                                  % (options["max_items"],))
            new = RosterItem(contact, name=name, groups=groups)
        else:
            new = old.evolve(name=name, groups=groups)
            if new == old:
                # Nothing changed: no modification, so no new version and
                # no push (§2.6.3 definition of a roster modification).
                reply(True)
                return
        pushed = await self.store.store(user, new)
        # §2.3.2 shows the result before the pushes.
        reply(True)
        self.push(user, *pushed)

    async def _removeRequested(self, event, reply, contact):
        """
        §2.5.2: remove the item, reply, push the removal, then cancel the
        subscriptions both ways with presence from the account's bare JID.
        """
        user = event.sender.localpart
        item = await self.store.item(user, contact)
        if item is None:
            # §2.5.3
            raise StanzaError("item-not-found", type="modify",
                              text="%s is not in your roster" % (contact.full,))
        pushed = await self.store.delete(user, contact, self.api.options["max_tombstones"])
        reply(True)
        self.push(user, *pushed)
        cancelSubscriptions(self.api, event.sender.bare, item)
