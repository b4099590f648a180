"""
What is archived, and writing it (XEP-0313 §3.5, §6.1.1; XEP-0359).

Messages of type C{chat} or C{normal} (or no type, RFC 6121 §5.2.2) with a
C{<body/>}, sent or received by a local account, once per account archive:

  - outgoing ones on the sender's host, from C{outbound/message}, before
    they are routed;
  - incoming ones on the recipient's host, from L{MESSAGE_ANNOTATE}: the
    router fires it once per message to a local account, after the inbound
    filters and before any delivery (offline storage included), so a
    message to a full JID that falls back to the bare JID
    (RFC 6121 §8.5.3.2.1) is archived once, and the delivered, stored and
    carbon-copied copies all carry its C{<stanza-id/>};
  - a message an account sends to itself is archived once, as received.

C{groupchat}, C{headline} and C{error} messages, bodiless ones (chat
states, receipts) and those with a XEP-0334 C{<no-store/>} or
C{<no-permanent-store/>} hint are not; a C{<store/>} hint archives a chat
or normal message without a body.  What blocking or privacy stops never
reaches these events (XEP-0313 §6.1).

Handlers only ask for changes: the archive's C{<stanza-id/>} is added with
L{MessageAnnotation.add}, and every C{<stanza-id/>} whose C{by} is the
recipient's bare JID, archived or not, is taken out with
L{MessageAnnotation.remove} (XEP-0359 §3 rule 2: a sender must not forge
ours).

Whether a message is archived is decided before it is delivered (the
preferences, XEP-0441).  For the C{roster} default the roster is asked
(L{IRoster.getItem}) from C{inbound/message}, a hook that may wait: the
router holds the message until the roster answers, and what the roster
said is remembered (and kept current by L{ROSTER_CHANGED}) for the
annotation step.  Writes run one at a time per account, in the order
messages were annotated, so the archive's order is the delivery order.
"""

from copy import deepcopy

from twisted.internet import defer

from xmppframe.api import InvalidJID, IRoster
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

from .ids import payload, storeTime

__all__ = ["ARCHIVE_STORE", "Archiver", "RosterFacts", "isArchivable"]

#: The archive store's name.
ARCHIVE_STORE = "mam"

_ARCHIVED_TYPES = frozenset({"normal", "chat"})
_STANZA_ID = NS.qname(NS.SID, "stanza-id")


def _namespace(tag):
    return tag[1:tag.index("}")] if tag[:1] == "{" else None


def isArchivable(message):
    """
    Whether a message belongs in a user archive (XEP-0313 §6.1.1): type
    C{chat} or C{normal} with a C{<body/>}, unless a XEP-0334 hint says
    otherwise (C{no-store}, C{no-permanent-store} keep it out; C{store}
    lets a bodiless one in).
    """
    if (message.get("type") or "normal") not in _ARCHIVED_TYPES:
        return False
    stanzaNamespace = _namespace(message.tag)
    body = store = False
    for child in message:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        namespace = _namespace(tag)
        local = tag.rpartition("}")[2]
        if namespace == stanzaNamespace and local == "body":
            body = True
        elif namespace == NS.HINTS:
            if local in ("no-store", "no-permanent-store"):
                return False
            if local == "store":
                store = True
    return body or store


class RosterFacts:
    """
    What the roster said of (account, contact): whether the contact is in
    the account's roster, for the XEP-0441 C{roster} default.  Filled by
    asking the roster, kept current by L{ROSTER_CHANGED}, and bounded: the
    oldest facts go first.
    """

    __slots__ = ("_facts", "_limit")

    def __init__(self, limit=10000):
        self._facts = {}
        self._limit = limit

    def get(self, user, contact):
        """
        @return: C{True}, C{False}, or C{None} if unknown.
        """
        return self._facts.get((user, contact.full))

    def learn(self, user, contact, inRoster):
        facts = self._facts
        if len(facts) >= self._limit:
            del facts[next(iter(facts))]
        facts[user, contact.full] = inRoster

    def changed(self, change):
        """
        L{ROSTER_CHANGED}: follow a stored roster change.
        """
        key = (change.user, change.contact.full)
        if key in self._facts:
            self._facts[key] = change.item is not None


class Archiver:
    """
    Decides what is archived, stamps incoming messages with their archive
    id, and queues the writes (one at a time per account).

    @param api: the module's L{ModuleAPI}.
    @param prefs: the L{Preferences}.
    @param ids: the L{ArchiveIds}.
    @param store: the archive store.
    @param queues: a L{KeyedQueue}, by account.
    """

    def __init__(self, api, prefs, ids, store, queues):
        self.api = api
        self.prefs = prefs
        self.ids = ids
        self.store = store
        self.queues = queues
        self.facts = RosterFacts()
        self._parseJID = api.router.jids.parse

    # Deciding (XEP-0441 §2.1, §2.3)

    def _decide(self, user, peer):
        """
        Whether to archive a message between C{user} and C{peer}: C{True},
        C{False}, or C{None} when the roster has to say.
        """
        prefs = self.prefs.get(user)
        listed = prefs.listed(peer)
        if listed is not None:
            return listed
        if prefs.default != "roster":
            return prefs.default == "always"
        if self.api.service(IRoster) is None:
            # No roster module: nobody is in the roster.
            return False
        return self.facts.get(user, peer.bare)

    def _askRoster(self, user, contact):
        """
        @return: a Deferred firing with whether C{contact} is in C{user}'s
            roster (C{False} when the roster cannot say), remembered.
        """
        roster = self.api.service(IRoster)
        if roster is None:
            return defer.succeed(False)

        def answered(item):
            inRoster = item is not None
            self.facts.learn(user, contact, inRoster)
            return inRoster

        def failed(failure):
            self.api.log.failure("Could not read the roster of {user}", failure, user=user)
            return False

        return defer.maybeDeferred(roster.getItem, user, contact).addCallbacks(answered, failed)

    # Hooks

    def onInbound(self, event):
        """
        C{inbound/message}, after the filters: when the recipient archives
        by roster (XEP-0441 §2.1.1) and the roster's answer is not known,
        wait for it, so that the annotation step can stamp the message.
        Never claims.
        """
        to = event.to
        if self.prefs.get(to.localpart).default != "roster":
            # The usual case, answered at once.
            return None
        if self._decide(to.localpart, event.sender) is not None:
            return None
        if not isArchivable(event.stanza):
            return None
        d = self._askRoster(to.localpart, event.sender.bare)
        return d.addCallback(lambda _: None)

    def onAnnotate(self, annotation):
        """
        L{MESSAGE_ANNOTATE}: ask for forged stanza ids to be removed, and
        archive the message in the recipient's archive, asking for its
        archive id to be added before it is delivered (XEP-0313 §3.5).
        """
        event = annotation.event
        stanza = event.stanza
        to = event.to
        archiveJID = to.bare
        forged = self._forged(stanza, archiveJID)
        for child in forged:
            annotation.remove(child)
        if not isArchivable(stanza):
            return
        if forged:
            stanza = self._withoutForged(stanza, archiveJID)
        stanzaId = self._archive(event, to.localpart, archiveJID, event.sender, stanza)
        if stanzaId is not None:
            annotation.add(makeElement(NS.SID, "stanza-id", {
                "by": archiveJID.full, "id": stanzaId}))

    def onOutgoing(self, event):
        """
        C{outbound/message}: archive what a local account sends, in its own
        archive (never claims).  A message to the account itself is left to
        L{onAnnotate}, so that it is archived once.
        """
        sender = event.sender
        to = event.to
        if sender.localpart is None or to is None or to.bare == sender.bare:
            return None
        stanza = event.stanza
        if not isArchivable(stanza):
            return None
        archiveJID = sender.bare
        if self._forged(stanza, archiveJID):
            # Ids the sender made up in its own name are not ours to keep.
            stanza = self._withoutForged(stanza, archiveJID)
        self._archive(event, sender.localpart, archiveJID, to, stanza)
        return None

    # Stanza ids

    def _forged(self, stanza, archiveJID):
        """
        XEP-0359 §3 rule 2: the C{<stanza-id/>}s of C{stanza} claiming to
        be by C{archiveJID}.
        """
        return [child for child in stanza.iterchildren(_STANZA_ID)
                if self._sameJID(child.get("by"), archiveJID)]

    def _withoutForged(self, stanza, archiveJID):
        copy = deepcopy(stanza)
        for child in self._forged(copy, archiveJID):
            copy.remove(child)
        return copy

    def _sameJID(self, text, jid):
        if text is None:
            return False
        try:
            return self._parseJID(text) == jid
        except InvalidJID:
            return text.strip().lower() == jid.full.lower()

    # Writing

    def _archive(self, event, user, archiveJID, peer, stanza):
        """
        Queue C{stanza} for C{user}'s archive, if the preferences say so;
        its sender is told nothing more until the write is committed
        (L{ModuleAPI.durable}).

        @return: its archive id if it will be archived, C{None} if not or
            if that is not known yet (the roster has not said): then the
            write waits for the roster and the message has no id.
        """
        decision = self._decide(user, peer)
        if decision is False:
            return None
        if decision is None:
            decision = self._askRoster(user, peer.bare)
        archiveId, micros = self.ids.next()
        withText = archiveJID.full if peer.bare == archiveJID else peer.bare.full
        d = self.queues.run(user, self._write, user, archiveJID, payload(archiveId, stanza),
                            withText, micros, decision)
        d.addErrback(lambda failure: self.api.log.failure(
            "Could not archive a message of {user}", failure, user=archiveJID))
        self.api.durable(event, d)
        return archiveId if decision is True else None

    async def _write(self, user, archiveJID, data, withText, micros, decision):
        if decision is not True and not await decision:
            return
        auth = self.api.host.auth
        if (auth is not None and not self.api.sessions.sessionsFor(archiveJID)
                and not await auth.userExists(user)):
            # RFC 6121 §8.5.1: there is no such account to archive for.
            return
        await self.store.append(user, data, with_=withText, when=storeTime(micros))
