"""
Message Archive Management (XEP-0313, C{urn:xmpp:mam:2}) for the
accounts of a host, with XEP-0359 stanza ids and XEP-0441 archiving
preferences.  One job per file:

  - L{ids}: archive ids and times, and how a message is stored;
  - L{prefs}: the XEP-0441 preferences;
  - L{archiving}: what is archived, the stanza id, and writing it;
  - L{query}: the query form, XEP-0059 paging, results, metadata;
  - L{cleanup}: retention.
"""

from twisted.internet import defer

from xmppframe.api import (
    ACCOUNT_REMOVED, MESSAGE_ANNOTATE, ROSTER_CHANGED, KeyedQueue, Module, ModuleOption, Priority, atLeast,
    inboundEvent, outboundEvent)
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS

from .archiving import ARCHIVE_STORE, Archiver, isArchivable
from .cleanup import Retention
from .ids import ArchiveIds, formatStamp, parseStamp
from .prefs import DEFAULTS, PREFS_STORE, ArchivingPrefs, Preferences, readPrefs
from .query import QUERY_FIELDS, ArchiveQueries, parseQuery, queryForm

__all__ = [
    "MamModule", "ArchivingPrefs", "ArchiveIds", "isArchivable", "NS_MAM", "NS_MAM_EXTENDED",
    "NS_SID", "formatStamp", "parseStamp", "ARCHIVE_STORE", "PREFS_STORE", "QUERY_FIELDS",
]

#: The namespaces, under the names this module always gave them.
NS_MAM = NS.MAM
NS_MAM_EXTENDED = NS.MAM_EXTENDED
NS_SID = NS.SID

_QUERY = (NS.MAM, "query")
_PREFS = (NS.MAM, "prefs")
_METADATA = (NS.MAM, "metadata")


def _checkDefault(value):
    return None if value in DEFAULTS else "expected one of %s" % (", ".join(DEFAULTS),)


class MamModule(Module):
    """
    Message Archive Management (XEP-0313), section by section.

    §3 Message archives.  Each account has one archive, on its bare JID
    (§3.3.1), of the messages it sent and received, in the order it
    received them (§3.1): each stored with the time, the peer's bare JID,
    an unpredictable unique id, and the whole stanza (L{ids}).

    §3.2 Retention and deletion.  C{retention_days} and C{max_messages}
    delete the oldest messages only, never leaving holes, from a periodic
    cleanup; ids are never reused (L{cleanup}).

    §3.5 Communicating the archive id.  A received message that is archived
    is given C{<stanza-id by='user@host' id='...'/>} (XEP-0359) before it
    is delivered, stored offline or carbon-copied: MAM asks for it on the
    router's annotation step (L{MESSAGE_ANNOTATE}), which runs once per
    message to a local account, and asks there for any C{<stanza-id/>} a
    sender forged in the account's name to be removed (XEP-0359 §3 rule
    2).  The id is made when the message is archived, so that it is known
    before the store has written it; the sender's own archive id is not
    given to the recipient (L{archiving}).

    §4 Querying an archive.  Only the account may query its archive: any
    other entity is C{forbidden} (§8.1).  Filters by JID, time and id
    (§4.1.1-§4.1.3), the form of fields (§4.1.5), results forwarded with
    their time (§4.2), paging with XEP-0059 and flipped pages (§4.3)
    (L{query}).

    §5 Archive metadata: the first and last message of the archive.

    §6.1.1 User archives.  Chat and normal messages with a body, each once
    per archive whatever the number of resources or copies; nothing a
    filter (blocking, privacy) refused.  XEP-0334 hints and the XEP-0441
    preferences (L{prefs}) narrow or widen that (L{archiving}).

    §7 Determining support.  The account advertises C{urn:xmpp:mam:2},
    C{urn:xmpp:mam:2#extended} and C{urn:xmpp:sid:0}.
    """

    name = "mam"
    summary = "message archive management, with stanza ids and archiving preferences"
    xeps = ("XEP-0313", "XEP-0059", "XEP-0359", "XEP-0441")
    optionSchema = {
        "default_archiving": ModuleOption(
            "string", "always", _checkDefault,
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

    def load(self):
        api = self.api
        options = api.options
        self._queues = KeyedQueue()
        self.ids = ArchiveIds(api.reactor)
        self.store = api.openStore("archive", ARCHIVE_STORE)
        self.prefs = Preferences(api.openStore("keyvalue", PREFS_STORE),
                                 ArchivingPrefs(options["default_archiving"]), api.log)
        self.archiver = Archiver(api, self.prefs, self.ids, self.store, self._queues)
        self.queries = ArchiveQueries(self.store, api.router.jids.parse, api.reply,
                                      self._queues, options["max_page_size"])
        self.retention = Retention(api, self.store, options["retention_days"],
                                   options["max_messages"], float(options["cleanup_interval"]))
        return defer.ensureDeferred(self._load())

    async def _load(self):
        await self.prefs.load()
        api = self.api
        for feature in (NS.MAM, NS.MAM_EXTENDED, NS.SID):
            api.addAccountFeature(feature)
        archiver = self.archiver
        api.hook(outboundEvent("message"), archiver.onOutgoing)
        api.hook(inboundEvent("message"), archiver.onInbound, Priority.OBSERVE)
        api.hook(MESSAGE_ANNOTATE, archiver.onAnnotate)
        api.hook(ROSTER_CHANGED, archiver.facts.changed)
        api.hook(ACCOUNT_REMOVED, self.accountRemoved)
        api.hookIQ("set", "self", _QUERY, self.onQuery)
        api.hookIQ("get", "self", _QUERY, lambda event: queryForm())
        api.hookIQ("get", "self", _PREFS, self.onGetPrefs)
        api.hookIQ("set", "self", _PREFS, self.onSetPrefs)
        api.hookIQ("get", "self", _METADATA, self.onMetadata)
        for type, payload in (("set", _QUERY), ("get", _QUERY), ("get", _PREFS),
                              ("set", _PREFS), ("get", _METADATA)):
            # XEP-0313 §8.1: only the account reads its archive.
            api.hookIQ(type, "bare", payload, self._forbidden)
        self.retention.start()

    def unload(self):
        """
        Unhook, stop the cleanup timer, and wait for archive writes already
        queued and for a cleanup under way.
        """
        Module.unload(self)
        return defer.DeferredList([self._queues.drain(), self.retention.stop()])

    def accountRemoved(self, user):
        """
        L{ACCOUNT_REMOVED}: the account's archive and preferences go, after
        the archive writes queued for it.
        """
        async def forget():
            await self.store.delete(user)
            await self.prefs.forget(user)
        return self._queues.run(user, forget)

    def prefsFor(self, user):
        """
        @return: the L{ArchivingPrefs} in force for C{user}.
        """
        return self.prefs.get(user)

    def cleanup(self):
        """
        Run the retention cleanup now (XEP-0313 §3.2).

        @return: a Deferred of the number of messages deleted.
        """
        return defer.ensureDeferred(self.retention.cleanup())

    # Queries (XEP-0313 §4, §5)

    def _forbidden(self, event):
        raise StanzaError("forbidden", text="Only the account itself may use its archive")

    def onQuery(self, event):
        """
        XEP-0313 §4: send the matching messages to the requesting session,
        then answer with C{<fin/>}.
        """
        query = parseQuery(event.stanza[0], self.queries.maxPageSize)
        return defer.ensureDeferred(self.queries.answer(event, query))

    def onMetadata(self, event):
        return defer.ensureDeferred(self.queries.metadata(event.sender.localpart))

    # Preferences (XEP-0441 §2.1)

    def onGetPrefs(self, event):
        return self.prefs.get(event.sender.localpart).toElement()

    def onSetPrefs(self, event):
        """
        Replace the account's preferences; the answer is what was applied.
        """
        prefs = readPrefs(event.stanza[0], self.api.router.jids.parse)
        d = self.prefs.set(event.sender.localpart, prefs)
        return d.addCallback(lambda applied: applied.toElement())
