"""
Archiving preferences (XEP-0441): what an account wants archived.

Per account: a default of C{always}, C{never} or C{roster} (§2.1.1), and
C{always}/C{never} JID lists (§2.3; C{never} wins when a JID is in both).
They live in the key-value store C{mam-prefs} and are all read at load:
whether a message gets a stanza id is decided before it is delivered, so
the preferences must be in memory.
"""

from lxml import etree

from twisted.internet import defer

from xmppframe.api import InvalidJID
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

__all__ = ["DEFAULTS", "PREFS_STORE", "ArchivingPrefs", "Preferences", "readPrefs"]

#: XEP-0441 §2.1.1 default behaviours.
DEFAULTS = ("always", "never", "roster")

#: The key-value store of every account's preferences.
PREFS_STORE = "mam-prefs"

_LISTS = ("always", "never")
_JID = NS.qname(NS.MAM, "jid")


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
        """
        The C{<prefs/>} of a XEP-0441 §2.1 answer.
        """
        prefs = makeElement(NS.MAM, "prefs", {"default": self.default})
        for name in _LISTS:
            listElement = etree.SubElement(prefs, NS.qname(NS.MAM, name))
            for jid in getattr(self, name):
                etree.SubElement(listElement, _JID).text = jid
        return prefs


def readPrefs(element, parseJID):
    """
    The preferences a client sets with C{element}, a C{<prefs/>}
    (XEP-0441 §2.1), its JIDs prepared with C{parseJID}.

    @raise StanzaError: C{bad-request} without a valid 'default',
        C{jid-malformed} for a JID that is not one.
    """
    default = element.get("default")
    if default not in DEFAULTS:
        # XEP-0441 §2.1.1: the attribute MUST be one of the three.
        raise StanzaError("bad-request", text="<prefs/> needs a 'default' of always, never "
                          "or roster, not %r" % (default,))
    lists = {name: [] for name in _LISTS}
    for name, jids in lists.items():
        listElement = element.find(NS.qname(NS.MAM, name))
        if listElement is None:
            continue
        for jidElement in listElement.findall(_JID):
            text = (jidElement.text or "").strip()
            try:
                jid = parseJID(text).full
            except InvalidJID as e:
                raise StanzaError("jid-malformed", text="Invalid JID %r in <%s/>: %s"
                                  % (text, name, e))
            if jid not in jids:
                jids.append(jid)
    return ArchivingPrefs(default, lists["always"], lists["never"])


class Preferences:
    """
    Every account's preferences, in memory and in C{store}.

    @param default: the L{ArchivingPrefs} of accounts that set none.
    """

    def __init__(self, store, default, log):
        self._store = store
        self._log = log
        self.default = default
        self._prefs = {}

    async def load(self):
        for user in await self._store.keys():
            value = await self._store.get(user)
            if value is None:
                continue
            try:
                self._prefs[user] = ArchivingPrefs.fromStored(value)
            except (KeyError, TypeError, ValueError):
                self._log.error("Ignoring unreadable archiving preferences of {user}", user=user)

    def get(self, user):
        """
        @return: the L{ArchivingPrefs} in force for C{user}.
        """
        return self._prefs.get(user, self.default)

    def forget(self, user):
        """
        Drop C{user}'s preferences: the default applies again.

        @return: a Deferred that fires once they are deleted from the store.
        """
        self._prefs.pop(user, None)
        return defer.maybeDeferred(self._store.delete, user)

    def set(self, user, prefs):
        """
        Store C{prefs} as C{user}'s; they apply once stored.

        @return: a Deferred firing with C{prefs}.
        """
        def stored(_):
            self._prefs[user] = prefs
            return prefs
        return defer.maybeDeferred(self._store.set, user, prefs.toStored()).addCallback(stored)
