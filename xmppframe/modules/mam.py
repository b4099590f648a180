"""
Message Archive Management (XEP-0313, C{urn:xmpp:mam:2}) for user
archives, with XEP-0359 stanza ids and XEP-0441 archiving preferences.

What is archived (XEP-0313 §8.1 "User Archives").  Messages of type
C{chat} or C{normal} (or no type, RFC 6121 §5.2.2) that carry a C{<body/>}
and are sent or received by a local account, once per account archive:

  - outgoing ones on the sender's host, from C{outbound/message}, before
    they are routed;
  - incoming ones on the recipient's host, from C{message/full} and
    C{message/bare}, before they are delivered (so before offline storage
    claims them); a message to an unavailable full JID fires both events
    and is archived once;
  - a message an account sends to itself is archived once, as received.

C{groupchat}, C{headline} and C{error} messages, and messages without a
body (chat states, receipts), are not archived; neither are messages with a
XEP-0334 C{<no-store/>} or C{<no-permanent-store/>} hint, while a
C{<store/>} hint archives a chat or normal message even without a body.
Messages another module refuses (blocking, privacy) never reach these
events, so they are not archived (XEP-0313 §8.1).

Archive ids (XEP-0313 §3.3, §8.2; XEP-0359 §4).  Every message archived
for a recipient gets C{<stanza-id by='user@host' id='...'/>} before it is
delivered, yet the store assigns its own ids only once the write is done.
So this module makes the id itself, synchronously: the time it archives
the message, in microseconds, in fixed-width hex (so ids sort in time
order) followed by 32 random bits (so they cannot be guessed, XEP-0313 §3
"unpredictable").  The item is stored with exactly that time, and its
payload is the id, a newline, and the serialized message; an id is found
again with one query of the store's time index.  Any C{<stanza-id/>} whose
C{by} is the recipient's bare JID is removed from every incoming message,
archived or not: a sender must not forge ours (XEP-0359 §5 rule 2, §8).

Preferences (XEP-0441).  Per account: a default of C{always}, C{never} or
C{roster}, and C{always}/C{never} JID lists (C{never} wins when a JID is in
both).  They live in the key-value store C{mam-prefs} and are all read at
load, because the decision to stamp a message has to be made before it is
delivered.  C{roster} asks the C{roster} module (L{IRoster.getItem}); no
roster module means "not in the roster".  When the roster's answer is not
available at once (a database read), the message is delivered without a
stanza id and archived when the answer comes: a client then misses the id
of that one message, which is better than being given an id the archive
does not have.

Retention (XEP-0313 §3.2).  Options C{retention_days} and C{max_messages}
delete the oldest messages only, never leaving holes, from a periodic
cleanup (one timer, every C{cleanup_interval} seconds).

Queries (XEP-0313 §4).  Only the account itself may read its archive
(§10.1); other entities get C{forbidden}.  Filters: C{with}, C{start},
C{end}, and the C{#extended} C{before-id}, C{after-id} and C{ids}; paging
with XEP-0059 (C{max} capped at C{max_page_size}, C{after}, C{before}
including the empty C{<before/>} for the last page, C{index}), and
C{<flip-page/>}.  C{<count/>} and C{index} are given when they cost no
scan of the archive: for unfiltered queries, and index 0 for the first
page of any query.
"""

import binascii
import os
from copy import deepcopy
from datetime import datetime, timedelta, timezone

from lxml import etree

from twisted.internet import defer

from xmppframe.api import (
    atLeast, InvalidJID, IRoster, KeyedQueue, Module, ModuleOption, outboundEvent, Priority,
    stanzaEvent)
from xmppframe.xml.dataforms import Field, Form, FormError, buildForm, findForm, parseSubmittedForm
from xmppframe.errors import StanzaError
from xmppframe.xml.rsm import ResultSetRequest, buildResponse, findRequest
from xmppframe.xml.safe import safeParser
from xmppframe.xml.stanza import makeElement, makeStanza, serialize

__all__ = [
    "MamModule", "ArchivingPrefs", "ArchiveIds", "isArchivable", "NS_MAM", "NS_MAM_EXTENDED",
    "NS_SID", "formatStamp", "parseStamp",
]

#: XEP-0313 §11: the protocol namespace, and the disco feature of the
#: extended query fields (§4.1.3, §7).
NS_MAM = "urn:xmpp:mam:2"
NS_MAM_EXTENDED = "urn:xmpp:mam:2#extended"
#: XEP-0359 §7: stanza ids.
NS_SID = "urn:xmpp:sid:0"
#: XEP-0297: stanza forwarding.
NS_FORWARD = "urn:xmpp:forward:0"
#: XEP-0203: delayed delivery.
NS_DELAY = "urn:xmpp:delay"
#: XEP-0334: message processing hints.
NS_HINTS = "urn:xmpp:hints"

#: The archive's store names.
ARCHIVE_STORE = "mam"
PREFS_STORE = "mam-prefs"

#: XEP-0441 §2.1.1 default behaviours.
DEFAULTS = ("always", "never", "roster")

#: The priority of the incoming-message observers: before any module that
#: claims a message to deliver it otherwise (offline storage), so that the
#: stored or delivered copy carries the stanza id.
_BEFORE_DELIVERY = Priority.BEFORE_DELIVERY

#: Items deleted or read per store call during cleanup.
_CLEANUP_BATCH = 500

#: Extra items read per store call when a filter is applied after reading
#: (a 'with' with a resource).
_SCAN_BATCH = 100

_ARCHIVED_TYPES = frozenset({"normal", "chat"})
_STANZA_ID = "{%s}stanza-id" % (NS_SID,)
_QUERY = (NS_MAM, "query")
_PREFS = (NS_MAM, "prefs")
_METADATA = (NS_MAM, "metadata")
_FLIP_PAGE = "{%s}flip-page" % (NS_MAM,)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

_PAYLOAD_PARSER = safeParser()

#: The query form's fields (XEP-0313 §4.1.5, §11.2); none is required
#: (§4.1).
QUERY_FIELDS = (
    Field("with", "jid-single"),
    Field("start", "text-single"),
    Field("end", "text-single"),
    Field("before-id", "text-single"),
    Field("after-id", "text-single"),
    Field("ids", "list-multi"),
)
_QUERY_FIELD_NAMES = frozenset(f.var for f in QUERY_FIELDS)


# Times

def formatStamp(micros):
    """
    The XEP-0082 §3.3 DateTime, in UTC with microseconds, of C{micros}
    microseconds since the epoch: the C{stamp} of XEP-0203 C{<delay/>}.
    """
    return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parseStamp(text):
    """
    Read a XEP-0082 DateTime (a time zone is expected; without one UTC is
    assumed).

    @return: microseconds since the epoch, an C{int}.
    @raise ValueError: if C{text} is not a date and time.
    """
    text = text.strip()
    if not text or "T" not in text:
        raise ValueError("not a XEP-0082 DateTime: %r" % (text,))
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND


def _seconds(micros):
    """
    The store's POSIX time for C{micros}: always computed this way, so that
    an id's time and its item's time compare equal.
    """
    return micros / 1e6


# Ids

class ArchiveIds:
    """
    Makes archive ids: unique, in time order, unpredictable (XEP-0313 §3,
    §8.2; XEP-0359 §5 rule 1).

    @param clock: an L{IReactorTime}.
    @param randomBytes: C{n -> bytes}; L{os.urandom} by default.
    """

    def __init__(self, clock, randomBytes=os.urandom):
        self._clock = clock
        self._random = randomBytes
        self._last = 0

    def next(self):
        """
        @return: C{(archiveId, micros)}; C{micros} increases strictly from
            one call to the next, even when the clock does not.
        """
        micros = int(self._clock.seconds() * 1e6)
        if micros <= self._last:
            micros = self._last + 1
        self._last = micros
        return "%014x-%s" % (micros, binascii.hexlify(self._random(4)).decode("ascii")), micros

    @staticmethod
    def micros(archiveId):
        """
        @return: the time encoded in C{archiveId}, or C{None} if it is not
            one of ours.
        """
        timePart, dash, randomPart = archiveId.partition("-")
        if (not dash or len(timePart) != 14 or len(randomPart) != 8
                or not all(c in "0123456789abcdef" for c in timePart + randomPart)):
            return None
        return int(timePart, 16)


def _payload(archiveId, message):
    return archiveId.encode("ascii") + b"\n" + serialize(message)


class _Record:
    """
    One archived message, read back from an L{ArchiveItem}.
    """

    __slots__ = ("storeId", "archiveId", "micros", "with_", "xml")

    def __init__(self, item):
        self.storeId = int(item.id)
        head, _, self.xml = item.payload.partition(b"\n")
        self.archiveId = head.decode("ascii", "replace")
        self.micros = round(item.when * 1e6)
        self.with_ = item.with_

    def message(self):
        """
        @return: the archived message, or C{None} if it cannot be read.
        """
        try:
            return etree.fromstring(self.xml, _PAYLOAD_PARSER)
        except etree.XMLSyntaxError:
            return None


# Archiving rules

def _namespace(tag):
    return tag[1:tag.index("}")] if tag[:1] == "{" else None


def isArchivable(message):
    """
    Whether a message belongs in a user archive (XEP-0313 §8.1): type
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
        elif namespace == NS_HINTS:
            if local in ("no-store", "no-permanent-store"):
                return False
            if local == "store":
                store = True
    return body or store


class ArchivingPrefs:
    """
    One account's archiving preferences (XEP-0441 §2.1).

    @ivar default: C{'always'}, C{'never'} or C{'roster'}.
    @ivar always: a tuple of JID strings, prepared.
    @ivar never: likewise.
    """

    __slots__ = ("default", "always", "never")

    def __init__(self, default, always=(), never=()):
        if default not in DEFAULTS:
            raise ValueError("archiving default must be one of %s, not %r"
                             % (", ".join(DEFAULTS), default))
        self.default = default
        self.always = tuple(always)
        self.never = tuple(never)

    @classmethod
    def fromStored(cls, value):
        return cls(value["default"], value.get("always", ()), value.get("never", ()))

    def toStored(self):
        return {"default": self.default, "always": list(self.always), "never": list(self.never)}

    def listed(self, peer):
        """
        What the lists say of C{peer} (a L{JID}): C{False} if it is in
        C{never}, C{True} if in C{always}, else C{None}.  A listed bare JID
        matches every resource of it, a full one only itself (XEP-0441
        §2.3.1).
        """
        candidates = (peer.full, peer.bare.full)
        if any(jid in candidates for jid in self.never):
            return False
        if any(jid in candidates for jid in self.always):
            return True
        return None

    def toElement(self):
        prefs = makeElement(NS_MAM, "prefs", {"default": self.default})
        for name in ("always", "never"):
            listElement = etree.SubElement(prefs, "{%s}%s" % (NS_MAM, name))
            for jid in getattr(self, name):
                etree.SubElement(listElement, "{%s}jid" % (NS_MAM,)).text = jid
        return prefs


class _Query:
    """
    A parsed archive query: the filters that define the result set, and
    the page asked for.
    """

    __slots__ = ("with_", "start", "end", "beforeId", "afterId", "ids", "rsm", "flip")

    def __init__(self):
        self.with_ = self.start = self.end = None
        self.beforeId = self.afterId = self.ids = None
        self.rsm = ResultSetRequest()
        self.flip = False

    @property
    def filtered(self):
        """
        Whether the result set is less than the whole archive.
        """
        return any(value is not None for value in (
            self.with_, self.start, self.end, self.beforeId, self.afterId, self.ids))


class MamModule(Module):
    """
    Message Archive Management for the accounts of one host.
    """

    name = "mam"
    summary = "message archive management, with stanza ids and archiving preferences"
    xeps = ("XEP-0313", "XEP-0059", "XEP-0359", "XEP-0441")
    optionSchema = {
        "default_archiving": ModuleOption(
            "string", "always",
            lambda value: None if value in DEFAULTS else "expected one of %s" % (", ".join(DEFAULTS),),
            help="What is archived for accounts that set no preferences (XEP-0441 §2.1.1): "
                 "always, roster or never."),
        "retention_days": ModuleOption(
            "integer", 365, atLeast(0),
            help="Days a message is kept in the archive; 0 keeps messages forever."),
        "max_messages": ModuleOption(
            "integer", 100000, atLeast(0),
            help="Most messages kept per account, the oldest deleted first; 0 means no limit."),
        "max_page_size": ModuleOption(
            "integer", 250, atLeast(1),
            help="Most messages sent for one query (XEP-0313 §4.3.1); larger <max/> is capped."),
        "cleanup_interval": ModuleOption(
            "number", 3600.0, atLeast(1),
            help="Seconds between two runs of the retention cleanup."),
    }

    def __init__(self, api):
        Module.__init__(self, api)
        self._queues = KeyedQueue()
        self._prefs = {}
        self._timer = None
        self._cleaning = None
        self._loaded = False
        # The last incoming message handled: C{message/full} then
        # C{message/bare} for the same stanza archive it once.  Holding the
        # element also keeps lxml's proxy, so C{is} is reliable.
        self._lastIncoming = None

    # Loading

    def load(self):
        options = self.api.options
        self.defaultPrefs = ArchivingPrefs(options.get("default_archiving", "always"))
        self.retentionDays = options.get("retention_days", 365)
        self.maxMessages = options.get("max_messages", 100000)
        self.maxPageSize = options.get("max_page_size", 250)
        self.cleanupInterval = float(options.get("cleanup_interval", 3600.0))
        self.ids = ArchiveIds(self.api.reactor)
        self.store = self.api.openStore("archive", ARCHIVE_STORE)
        self.prefsStore = self.api.openStore("keyvalue", PREFS_STORE)
        return defer.ensureDeferred(self._load())

    async def _load(self):
        for user in await self.prefsStore.keys():
            value = await self.prefsStore.get(user)
            if value is None:
                continue
            try:
                self._prefs[user] = ArchivingPrefs.fromStored(value)
            except (KeyError, TypeError, ValueError):
                self.api.log.error("Ignoring unreadable archiving preferences of {user}", user=user)
        addAccountFeature = getattr(self.api, "addAccountFeature", self.api.addFeature)
        for feature in (NS_MAM, NS_MAM_EXTENDED, NS_SID):
            addAccountFeature(feature)
        self.api.hook(outboundEvent("message"), self.onOutgoing)
        for target in ("bare", "full"):
            self.api.hook(stanzaEvent("message", target), self.onIncoming,
                          priority=_BEFORE_DELIVERY)
        api = self.api
        api.hookIQ("set", "self", _QUERY, self.onQuery)
        api.hookIQ("get", "self", _QUERY, self.onQueryForm)
        api.hookIQ("get", "self", _PREFS, self.onGetPrefs)
        api.hookIQ("set", "self", _PREFS, self.onSetPrefs)
        api.hookIQ("get", "self", _METADATA, self.onMetadata)
        for type, payload in (("set", _QUERY), ("get", _QUERY), ("get", _PREFS),
                              ("set", _PREFS), ("get", _METADATA)):
            # XEP-0313 §10.1: only the account reads its archive.
            api.hookIQ(type, "bare", payload, self._forbidden)
        self._loaded = True
        if self.retentionDays or self.maxMessages:
            self._scheduleCleanup()

    def unload(self):
        """
        Unhook, stop the cleanup timer, and wait for archive writes already
        queued and for a cleanup under way.
        """
        Module.unload(self)
        self._loaded = False
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        waits = [self._queues.drain()]
        if self._cleaning is not None:
            waits.append(self._cleaning)
        return defer.DeferredList(waits)

    # Archiving

    def prefsFor(self, user):
        """
        @return: the L{ArchivingPrefs} in force for C{user}.
        """
        return self._prefs.get(user, self.defaultPrefs)

    def _decide(self, user, peer):
        """
        Whether to archive a message between C{user} and C{peer}
        (XEP-0441 §2.1, §2.3): C{True}, C{False}, or a Deferred firing with
        one of them when the roster has to be read.
        """
        prefs = self.prefsFor(user)
        listed = prefs.listed(peer)
        if listed is not None:
            return listed
        if prefs.default != "roster":
            return prefs.default == "always"
        return self._inRoster(user, peer.bare)

    def _inRoster(self, user, contact):
        roster = self.api.service(IRoster)
        if roster is None:
            return False

        def failed(failure):
            self.api.log.failure("Could not read the roster of {user}", failure, user=user)
            return False

        d = defer.maybeDeferred(roster.getItem, user, contact)
        d.addCallbacks(lambda item: item is not None, failed)
        answer = []
        d.addCallback(lambda value: answer.append(value) or value)
        return answer[0] if answer else d

    def onOutgoing(self, event):
        """
        C{outbound/message}: archive what a local account sends, in its own
        archive (never claims).  A message to the account itself is left to
        L{onIncoming}, so that it is archived once.
        """
        sender = event.sender
        to = event.to
        if sender.localpart is None or to is None or to.bare == sender.bare:
            return None
        if not isArchivable(event.stanza):
            return None
        self._archive(sender.localpart, sender.bare, to, event.stanza, stamp=False)
        return None

    def onIncoming(self, event):
        """
        C{message/full} and C{message/bare}: remove forged stanza ids, and
        archive the message in the recipient's archive, stamping it with
        the archive id before it is delivered (never claims).
        """
        stanza = event.stanza
        to = event.to
        if to is None or to.localpart is None or stanza is self._lastIncoming:
            return None
        self._lastIncoming = stanza
        archiveJID = to.bare
        self._stripStanzaIds(stanza, archiveJID)
        if isArchivable(stanza):
            self._archive(to.localpart, archiveJID, event.sender, stanza, stamp=True)
        return None

    def _stripStanzaIds(self, stanza, archiveJID):
        """
        XEP-0359 §5 rule 2: remove every C{<stanza-id/>} claiming to be
        from C{archiveJID}, whether or not one of ours is added.
        """
        for child in stanza.findall(_STANZA_ID):
            if self._sameJID(child.get("by"), archiveJID):
                stanza.remove(child)

    def _sameJID(self, text, jid):
        if text is None:
            return False
        try:
            return self.api.router.jids.parse(text) == jid
        except InvalidJID:
            return text.strip().lower() == jid.full.lower()

    def _archive(self, user, archiveJID, peer, stanza, stamp):
        decision = self._decide(user, peer)
        if decision is False:
            return
        archiveId, micros = self.ids.next()
        if stanza.find(_STANZA_ID) is not None and not stamp:
            # An outgoing message may carry ids the sender made up; they
            # are not ours to keep in the sender's archive.
            copy = deepcopy(stanza)
            self._stripStanzaIds(copy, archiveJID)
            payload = _payload(archiveId, copy)
        else:
            payload = _payload(archiveId, stanza)
        if decision is True and stamp:
            stanza.append(makeElement(NS_SID, "stanza-id", {
                "by": archiveJID.full, "id": archiveId}))
        withText = archiveJID.full if peer.bare == archiveJID else peer.bare.full
        d = self._queues.run(user, self._write, user, archiveJID, payload, withText,
                             micros, decision)
        d.addErrback(lambda failure: self.api.log.failure(
            "Could not archive a message of {user}", failure, user=archiveJID))

    async def _write(self, user, archiveJID, payload, withText, micros, decision):
        if decision is not True:
            if not await decision:
                return
        auth = self.api.host.auth
        if (auth is not None and not self.api.sessions.sessionsFor(archiveJID)
                and not await auth.userExists(user)):
            # RFC 6121 §8.5.1: there is no such account to archive for.
            return
        await self.store.append(user, payload, with_=withText, when=_seconds(micros))

    # Queries

    def _forbidden(self, event):
        raise StanzaError("forbidden", text="Only the account itself may use its archive")

    def onQueryForm(self, event):
        """
        XEP-0313 §4.1.5: the fields a query may use.
        """
        fields = [Field(f.var, f.type) for f in QUERY_FIELDS]
        query = makeElement(NS_MAM, "query")
        form = buildForm("form", NS_MAM, fields)
        # §4.1.5: 'ids' is open to any value (XEP-0122).
        for field in form:
            if field.get("var") == "ids":
                validate = etree.SubElement(
                    field, "{http://jabber.org/protocol/xdata-validate}validate",
                    {"datatype": "xs:string"},
                    nsmap={None: "http://jabber.org/protocol/xdata-validate"})
                etree.SubElement(validate, "{http://jabber.org/protocol/xdata-validate}open")
        query.append(form)
        return query

    def onQuery(self, event):
        """
        XEP-0313 §4: send the matching messages to the requesting session,
        then answer with C{<fin/>}.
        """
        query = self._parseQuery(event.stanza[0])
        return defer.ensureDeferred(self._answerQuery(event, query))

    def _parseQuery(self, element):
        if element.get("node") is not None:
            raise StanzaError("item-not-found", text="This archive has no pubsub nodes")
        query = _Query()
        formElement = findForm(element)
        if formElement is not None:
            self._readForm(formElement, query)
        query.rsm = findRequest(element) or ResultSetRequest()
        query.flip = element.find(_FLIP_PAGE) is not None
        return query

    def _readForm(self, formElement, query):
        try:
            form = Form.fromElement(formElement)
        except FormError as e:
            raise StanzaError("bad-request", text="Invalid data form: %s" % (e,))
        for field in form.fields:
            if field.var is not None and field.var not in _QUERY_FIELD_NAMES:
                # XEP-0313 §4.1.5.
                raise StanzaError("feature-not-implemented",
                                  text="Unknown query field %r" % (field.var,))
        # XEP-0313 §4.1: the FORM_TYPE is urn:xmpp:mam:2; another one is
        # refused, a missing one forgiven.
        values = parseSubmittedForm(formElement, QUERY_FIELDS, formType=NS_MAM)
        query.with_ = values.get("with")
        for name in ("start", "end"):
            text = values.get(name)
            if text is None or not text.strip():
                continue
            try:
                setattr(query, name, parseStamp(text))
            except ValueError:
                raise StanzaError("bad-request", text="The field %r must be a XEP-0082 DateTime, "
                                  "not %r" % (name, text))
        query.beforeId = values.get("before-id") or None
        query.afterId = values.get("after-id") or None
        ids = values.get("ids")
        if ids is not None:
            ids = [i for i in ids if i]
            if len(ids) > self.maxPageSize:
                raise StanzaError("policy-violation", text="At most %d ids per query"
                                  % (self.maxPageSize,))
            query.ids = ids

    async def _find(self, user, archiveId):
        """
        The stored item of C{archiveId}.

        @raise StanzaError: C{item-not-found} (XEP-0313 §4.1.3, §4.3.2).
        """
        micros = ArchiveIds.micros(archiveId)
        if micros is not None:
            when = _seconds(micros)
            for item in await self.store.query(user, start=when, end=when):
                record = _Record(item)
                if record.archiveId == archiveId:
                    return record
        raise StanzaError("item-not-found", text="No message %r in the archive" % (archiveId,))

    def _matcher(self, query):
        """
        A test on records for what the store cannot filter by, or C{None}:
        a 'with' with a resource matches messages to or from exactly that
        full JID (XEP-0313 §4.1.1).
        """
        if query.with_ is None or query.with_.resource is None:
            return None
        wanted = query.with_
        parse = self.api.router.jids.parse

        def matches(record):
            message = record.message()
            if message is None:
                return False
            for attribute in ("from", "to"):
                text = message.get(attribute)
                try:
                    if text is not None and parse(text) == wanted:
                        return True
                except InvalidJID:
                    pass
            return False
        return matches

    def _withText(self, query, archiveJID):
        if query.with_ is None:
            return None
        return query.with_.bare.full

    async def _answerQuery(self, event, query):
        user = event.sender.localpart
        archiveJID = event.sender.bare
        # A message delivered with its stanza id may still be being
        # written: the query sees every message archived before it.
        await self._queues.idle(user)
        lower = upper = None
        if query.afterId is not None:
            lower = (await self._find(user, query.afterId)).storeId
        if query.beforeId is not None:
            upper = (await self._find(user, query.beforeId)).storeId
        rsm = query.rsm
        if rsm.after is not None:
            after = (await self._find(user, rsm.after)).storeId
            lower = after if lower is None else max(lower, after)
        if rsm.before:
            before = (await self._find(user, rsm.before)).storeId
            upper = before if upper is None else min(upper, before)
        limit = self.maxPageSize if rsm.max is None else min(rsm.max, self.maxPageSize)
        skip = rsm.index if (rsm.index is not None and rsm.after is None
                             and not rsm.backwards) else 0
        withText = self._withText(query, archiveJID)
        matches = self._matcher(query)
        if query.ids is not None:
            records = await self._byIds(user, query, lower, upper, withText, matches)
            if rsm.backwards:
                records.reverse()
            records = records[skip:skip + limit + 1]
        else:
            records = await self._scan(user, query, lower, upper, withText, matches,
                                       skip + limit + 1, rsm.backwards)
            records = records[skip:]
        complete = len(records) <= limit
        page = records[:limit]
        if rsm.backwards:
            page.reverse()
        count = None
        if not query.filtered:
            count = await self.store.count(user)
        # The index is given for pages counted from the start only.  On
        # the last page it would be count - len(page) (XEP-0059 §2.1), but
        # clients paging backwards (slixmpp's reverse ResultIterator) read
        # "index + items == count" as the end of their walk and stop after
        # one page; the index is optional (XEP-0313 §4.3.2).
        firstIndex = skip if page and not rsm.backwards and rsm.after is None else None
        queryId = event.stanza[0].get("queryid")
        to = event.origin.jid.full if event.origin is not None else event.sender.full
        for record in (reversed(page) if query.flip else page):
            self.api.reply(event, self._resultMessage(record, archiveJID, to, queryId))
        fin = makeElement(NS_MAM, "fin", {"complete": "true" if complete else "false"})
        if queryId is not None:
            fin.set("queryid", queryId)
        fin.append(buildResponse(
            page[0].archiveId if page else None, page[-1].archiveId if page else None,
            firstIndex, count))
        return fin

    async def _scan(self, user, query, lower, upper, withText, matches, wanted, backwards):
        """
        Read up to C{wanted} matching records from the store, in archive
        order (newest first when C{backwards}), between the store ids
        C{lower} and C{upper} (both excluded).
        """
        start = None if query.start is None else _seconds(query.start)
        end = None if query.end is None else _seconds(query.end)
        records = []
        while len(records) < wanted:
            batch = wanted - len(records)
            if matches is not None:
                batch = max(batch, _SCAN_BATCH)
            items = await self.store.query(
                user, with_=withText, start=start, end=end,
                after=None if lower is None else str(lower),
                before=None if upper is None else str(upper),
                limit=batch, reverse=backwards)
            for item in items:
                record = _Record(item)
                if matches is None or matches(record):
                    records.append(record)
            if len(items) < batch:
                break
            if backwards:
                upper = int(items[-1].id)
            else:
                lower = int(items[-1].id)
        return records[:wanted]

    async def _byIds(self, user, query, lower, upper, withText, matches):
        """
        The records of the 'ids' field (XEP-0313 §4.1.3) that pass the
        other filters, in archive order.
        """
        found = {}
        for archiveId in query.ids:
            record = await self._find(user, archiveId)
            found[record.storeId] = record
        records = []
        for storeId in sorted(found):
            record = found[storeId]
            if ((lower is not None and storeId <= lower) or (upper is not None and storeId >= upper)
                    or (withText is not None and record.with_ != withText)
                    or (query.start is not None and record.micros < query.start)
                    or (query.end is not None and record.micros > query.end)
                    or (matches is not None and not matches(record))):
                continue
            records.append(record)
        return records

    def _resultMessage(self, record, archiveJID, to, queryId):
        """
        One result (XEP-0313 §4.2): the archived message forwarded
        (XEP-0297) with a XEP-0203 delay of when it was archived.
        """
        message = makeStanza("message", to=to, from_=archiveJID.full,
                             id=binascii.hexlify(os.urandom(6)).decode("ascii"))
        result = etree.SubElement(message, "{%s}result" % (NS_MAM,),
                                  {"id": record.archiveId}, nsmap={None: NS_MAM})
        if queryId is not None:
            result.set("queryid", queryId)
        forwarded = etree.SubElement(result, "{%s}forwarded" % (NS_FORWARD,),
                                     nsmap={None: NS_FORWARD})
        etree.SubElement(forwarded, "{%s}delay" % (NS_DELAY,),
                         {"stamp": formatStamp(record.micros)}, nsmap={None: NS_DELAY})
        archived = record.message()
        if archived is not None:
            forwarded.append(archived)
        return message

    def onMetadata(self, event):
        """
        XEP-0313 §6: the first and last messages of the archive.
        """
        return defer.ensureDeferred(self._metadata(event.sender.localpart))

    async def _metadata(self, user):
        await self._queues.idle(user)
        metadata = makeElement(NS_MAM, "metadata")
        first = await self.store.query(user, limit=1)
        if first:
            last = await self.store.query(user, limit=1, reverse=True)
            for name, item in (("start", first[0]), ("end", last[0])):
                record = _Record(item)
                etree.SubElement(metadata, "{%s}%s" % (NS_MAM, name), {
                    "id": record.archiveId, "timestamp": formatStamp(record.micros)})
        return metadata

    # Preferences

    def onGetPrefs(self, event):
        """
        XEP-0441 §2.1: the account's preferences.
        """
        return self.prefsFor(event.sender.localpart).toElement()

    def onSetPrefs(self, event):
        """
        XEP-0441 §2.1: replace the account's preferences; the answer is
        what was applied.
        """
        prefs = self._readPrefs(event.stanza[0])
        user = event.sender.localpart
        d = self.prefsStore.set(user, prefs.toStored())

        def stored(_):
            self._prefs[user] = prefs
            return prefs.toElement()
        return d.addCallback(stored)

    def _readPrefs(self, element):
        default = element.get("default")
        if default not in DEFAULTS:
            # XEP-0441 §2.1.1: the attribute MUST be one of the three.
            raise StanzaError("bad-request", text="<prefs/> needs a 'default' of always, never "
                              "or roster, not %r" % (default,))
        lists = {"always": [], "never": []}
        for name, jids in lists.items():
            listElement = element.find("{%s}%s" % (NS_MAM, name))
            if listElement is None:
                continue
            for jidElement in listElement.findall("{%s}jid" % (NS_MAM,)):
                text = (jidElement.text or "").strip()
                try:
                    jid = self.api.router.jids.parse(text).full
                except InvalidJID as e:
                    raise StanzaError("jid-malformed", text="Invalid JID %r in <%s/>: %s"
                                      % (text, name, e))
                if jid not in jids:
                    jids.append(jid)
        return ArchivingPrefs(default, lists["always"], lists["never"])

    # Retention

    def _scheduleCleanup(self):
        self._timer = self.api.reactor.callLater(self.cleanupInterval, self._runCleanup)

    def _runCleanup(self):
        self._timer = None
        d = self._cleaning = defer.ensureDeferred(self.cleanup())
        d.addErrback(lambda failure: self.api.log.failure("Archive cleanup failed", failure))

        def done(_):
            self._cleaning = None
            if self._loaded:
                self._scheduleCleanup()
        d.addCallback(done)

    async def cleanup(self):
        """
        Delete what the retention options no longer keep, oldest first and
        never leaving holes (XEP-0313 §3.2), for every account of the host.

        @return: the number of messages deleted.
        """
        auth = self.api.host.auth
        if auth is None:
            return 0
        deleted = 0
        cutoff = None
        if self.retentionDays:
            cutoff = self.api.reactor.seconds() - self.retentionDays * 86400
        for user in await auth.listUsers():
            if cutoff is not None:
                while True:
                    items = await self.store.query(user, end=cutoff, limit=_CLEANUP_BATCH)
                    if not items:
                        break
                    await self.store.delete(user, [item.id for item in items])
                    deleted += len(items)
                    if len(items) < _CLEANUP_BATCH:
                        break
            if self.maxMessages:
                excess = await self.store.count(user) - self.maxMessages
                while excess > 0:
                    items = await self.store.query(user, limit=min(excess, _CLEANUP_BATCH))
                    if not items:
                        break
                    await self.store.delete(user, [item.id for item in items])
                    deleted += len(items)
                    excess -= len(items)
        return deleted

