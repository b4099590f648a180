"""
Offline messages (XEP-0160): messages to an account with no resource that
can receive them are stored, and delivered when the account next comes
online.

When messages are stored.  The router fires C{message/bare} for a message
to a bare JID, and for a message to a full JID whose resource is not
online (RFC 6121 §8.5.3.2.1).  This module claims it when the account has
no available resource of non-negative priority (XEP-0160 §2, RFC 6121
§8.5.2.1.1: "the server MUST NOT deliver the stanza to any available
resource with a negative priority") and the message is worth keeping
(XEP-0160 §3):

  - C{normal} (or no type) and C{chat} messages are stored, with a
    XEP-0203 C{<delay/>} saying when and that it was "Offline Storage";
  - a message whose only content is XEP-0085 chat states is not stored
    (XEP-0160 §3, XEP-0085 §5.8) and is dropped silently: a typing
    notification is worth neither a copy nor an error;
  - C{headline}, C{groupchat} and C{error} messages are left to the
    router, which drops headlines and errors and answers groupchat with
    C{service-unavailable} (RFC 6121 §8.5.2.2.1).

A message for an account that does not exist is answered with
C{service-unavailable} (RFC 6121 §8.5.1), and so is one that would take
the account's stored messages past the C{max_messages} option (XEP-0160
§2: "if the recipient's offline message queue is full, the server returns
a <service-unavailable/> error to the sender").

When they are delivered.  When a session sends available presence of
non-negative priority for the first time (initial presence, or a change
from a negative priority), the stored messages go to that session, oldest
first (XEP-0160 §2).  Messages are read, sent, and only then deleted, so a
crash between the two sends them again rather than losing them.

Order and exactly once.  Everything this module does for one account
(storing a message, delivering the stored ones) runs in that account's
queue, one piece of work at a time, in arrival order.  So two sessions
coming online together cannot both deliver the same messages: the second
delivery starts after the first has deleted what it sent.  While an
account's queue is busy, new messages to it are queued too, even if a
session is already available, and after storing a message the queue
delivers it at once when a session can take it: a message arriving while
stored ones are being delivered is neither lost in storage nor overtakes
them.

Stored messages live in the archive store C{offline} (per account, in id
order), so they survive a restart with the SQLite driver.
"""

import time
from copy import deepcopy

from lxml import etree

from xmppframe.api import (Priority, 
    ACCOUNT_REMOVED, INITIAL_PRESENCE, SESSION_ENDED, atLeast, KeyedQueue, Module, ModuleOption,
    stanzaEvent, UsersWithData)
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.safe import safeParser
from xmppframe.xml.stanza import makeElement, serialize

__all__ = ["OfflineModule", "delayStamp", "isChatStateOnly"]

#: The natural-language text of the delay element (XEP-0160 §2 example).
DELAY_REASON = "Offline Storage"

#: Stored messages read from the store at a time during delivery.
DELIVERY_BATCH = 100

#: Message types stored (XEP-0160 §3); a message without type is normal
#: (RFC 6121 §5.2.2).
_STORED_TYPES = frozenset({"normal", "chat"})

_PAYLOAD_PARSER = safeParser()


def delayStamp(seconds):
    """
    The XEP-0082 §3.3 DateTime for POSIX time C{seconds}, in UTC as
    XEP-0203 §3 requires: C{CCYY-MM-DDThh:mm:ssZ}.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def _localName(tag):
    return tag.rpartition("}")[2]


def _namespace(tag):
    return tag[1:tag.index("}")] if tag[:1] == "{" else None


def isChatStateOnly(message):
    """
    Whether C{message} carries nothing but XEP-0085 chat states (and
    perhaps the C{<thread/>} they belong to, XEP-0085 §5.7): a standalone
    notification, which is not stored offline (XEP-0085 §5.8, XEP-0160 §3).
    """
    chatStates = False
    for child in message:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if _namespace(tag) == NS.CHAT_STATES:
            chatStates = True
        elif _localName(tag) != "thread" or _namespace(tag) != _namespace(message.tag):
            return False
    return chatStates


def _receives(session):
    """
    Whether C{session} may be sent messages addressed to its bare JID
    (RFC 6121 §8.5.2.1.1): available, with a non-negative priority.
    """
    return session.available and session.priority >= 0


class OfflineModule(Module):
    """
    Stores messages for accounts that cannot receive them and delivers
    them at their next available presence (XEP-0160).
    """

    name = "offline"
    summary = "messages to offline accounts are stored and delivered later"
    xeps = ("XEP-0160",)
    optionSchema = {
        "max_messages": ModuleOption(
            "integer", 1000, atLeast(1),
            help="Most messages stored for one account; past it senders get "
                 "service-unavailable (XEP-0160 §2)."),
    }

    def __init__(self, api):
        Module.__init__(self, api)
        self._queues = KeyedQueue()
        # Sessions seen available with a negative priority, which get the
        # stored messages when they change to a non-negative one.
        self._negative = set()
        # The accounts that may have stored messages, so that the logins of
        # everyone else (nearly everyone) do not read the store.
        self._holders = None

    def load(self):
        self.maxMessages = self.api.options["max_messages"]
        if (not isinstance(self.maxMessages, int) or isinstance(self.maxMessages, bool)
                or self.maxMessages < 1):
            raise ValueError("offline: max_messages must be a positive integer, got %r"
                             % (self.maxMessages,))
        self.store = self.api.openStore("archive", "offline")
        self.api.addFeature(NS.MSGOFFLINE)  # XEP-0160 §4
        self.api.hook(stanzaEvent("message", "bare"), self.onMessage)
        self.api.hook(INITIAL_PRESENCE, self.onInitialPresence)
        self.api.hook(stanzaEvent("presence", "self"), self.onPresence,
                      priority=Priority.NOTE)
        self.api.hook(SESSION_ENDED, self.onSessionEnded)
        self.api.hook(ACCOUNT_REMOVED, self.onAccountRemoved)
        self._holders = UsersWithData(self.store, self.api.log)

    def unload(self):
        """
        Unhook, then wait for the work already queued: a message claimed
        before a shutdown is stored before the storage closes.
        """
        Module.unload(self)
        self._negative.clear()
        return self._queues.drain()

    # Storing

    def onMessage(self, event):
        """
        C{message/bare}: claim the message if it is to be stored (or, for a
        standalone chat state, dropped) rather than delivered now.
        """
        type = event.type or "normal"
        if type not in _STORED_TYPES:
            return None
        user = event.to.localpart
        receiving = any(_receives(s) for s in self.api.sessions.sessionsFor(event.to.bare))
        # While the account's queue is busy (stored messages being
        # delivered, or a message being stored) a new message must not
        # overtake what is queued, so it is queued too.
        if receiving and not self._queues.busy(user):
            return None
        if isChatStateOnly(event.stanza):
            # Delivered if someone can take it, else dropped: never stored.
            return None if receiving else True
        when = self.api.reactor.seconds()
        payload = self._stampedCopy(event.stanza, when)
        d = self._queues.run(user, self._store, event, user, payload, when)
        d.addErrback(self._storeFailed, event)
        # XEP-0160 §3: stored, not lost; the sender hears nothing more
        # until it is.
        self.api.durable(event, d)
        return True

    def _stampedCopy(self, stanza, when):
        """
        The serialized copy of C{stanza} to store: with a XEP-0203 delay
        from this host (XEP-0160 §2), leaving the router's stanza as it is.
        """
        copy = deepcopy(stanza)
        delay = makeElement(NS.DELAY, "delay", {"from": self.api.host.name,
                                             "stamp": delayStamp(when)})
        delay.text = DELAY_REASON
        copy.append(delay)
        return serialize(copy)

    async def _store(self, event, user, payload, when):
        auth = self.api.host.auth
        if auth is not None and not await auth.userExists(user):
            # RFC 6121 §8.5.1: no such user.
            self.api.router.bounce(event, StanzaError("service-unavailable"))
            return
        if await self.store.count(user) >= self.maxMessages:
            self.api.log.info("Offline storage of {user} is full; message refused", user=user)
            self.api.router.bounce(event, StanzaError(
                "service-unavailable", text="The recipient's offline message storage is full"))
            return
        await self.store.append(user, payload, with_=event.sender.bare.full, when=when)
        self._holders.stored(user)
        # A session may have become available while this waited: it gets
        # the message now, in order, rather than at its next login.  The
        # message is stored by now, so a failure here is not the sender's.
        try:
            await self._deliver(event.to.bare, None)
        except Exception:
            self.api.log.failure("Could not deliver the offline messages of {user}",
                                 user=event.to.bare)

    def _storeFailed(self, failure, event):
        self.api.log.failure("Could not store an offline message for {to}", failure,
                             to=event.to)
        self.api.router.bounce(event, StanzaError("internal-server-error"))

    def onAccountRemoved(self, user):
        """
        L{ACCOUNT_REMOVED}: the account's stored messages go with it, so
        that a new account of the same name never reads them.
        """
        def delete():
            self._holders.emptied(user)
            return self.store.delete(user)

        return self._queues.run(user, delete)

    # Delivering

    def onInitialPresence(self, event):
        """
        L{INITIAL_PRESENCE}: a session has become available; it gets the
        stored messages if its priority is non-negative (XEP-0160 §2).
        """
        self._noticePresence(event.origin)

    def onPresence(self, event):
        """
        C{presence/self}, observed without claiming: a session whose
        priority goes from negative to non-negative gets the stored
        messages then ("when the recipient next sends non-negative
        available presence", XEP-0160 §1).
        """
        session = event.origin
        if session is not None and session in self._negative:
            self._noticePresence(session)
        return None

    def onSessionEnded(self, session):
        self._negative.discard(session)

    def _noticePresence(self, session):
        if session is None or session.jid is None:
            return
        if not session.available:
            self._negative.discard(session)
            return
        if session.priority < 0:
            self._negative.add(session)
            return
        self._negative.discard(session)
        self.deliver(session)

    def deliver(self, session):
        """
        Send the stored messages of C{session}'s account to C{session},
        after any work already queued for the account.

        @return: a Deferred firing when done (errors are logged).
        """
        bare = session.jid.bare
        d = self._queues.run(bare.localpart, self._deliver, bare, session)
        d.addErrback(lambda failure: self.api.log.failure(
            "Could not deliver the offline messages of {user}", failure, user=bare))
        return d

    def _target(self, bare, preferred):
        """
        The session to deliver to: C{preferred} while it is bound and can
        receive, else the account's best receiving session (highest
        priority, most recently bound, as the router picks), else C{None}.
        """
        sessions = self.api.sessions
        if (preferred is not None and sessions.sessionFor(preferred.jid) is preferred
                and _receives(preferred)):
            return preferred
        candidates = [s for s in sessions.sessionsFor(bare) if _receives(s)]
        if not candidates:
            return None
        best = max(s.priority for s in candidates)
        return [s for s in candidates if s.priority == best][-1]

    async def _deliver(self, bare, preferred):
        """
        Read, send, delete, a batch at a time, until nothing is stored or
        nobody can receive (XEP-0160 §2).  Runs in the account's queue.
        """
        user = bare.localpart
        if not self._holders.mayHave(user):
            return
        # Reading after the last id sent guarantees progress even if a
        # delete did not take.
        lastSent = None
        leftovers = False
        while self._target(bare, preferred) is not None:
            items = await self.store.query(user, after=lastSent, limit=DELIVERY_BATCH)
            if not items:
                if not leftovers:
                    # Nothing stored (and, in the account's queue, nothing
                    # being stored): the next login need not look.
                    self._holders.emptied(user)
                return
            # The session may have gone while the store was read.
            target = self._target(bare, preferred)
            if target is None:
                return
            for item in items:
                try:
                    stanza = etree.fromstring(item.payload, _PAYLOAD_PARSER)
                except etree.XMLSyntaxError:
                    self.api.log.error("Dropping unreadable offline message {id} of {user}",
                                       id=item.id, user=bare)
                    continue
                target.send(stanza)
            removed = await self.store.delete(user, [item.id for item in items])
            if removed != len(items):
                leftovers = True
            lastSent = items[-1].id
            preferred = target
