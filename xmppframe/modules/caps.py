"""
Entity capabilities (XEP-0115): the server's own capabilities in the client
stream features, and verified, cached capabilities of its clients.

The server hashes its own disco#info (as the disco module builds it) into a
verification string (§5.1) and advertises it after authentication (§6.3),
answering disco#info for C{node#ver} as for the server itself.

The server notes the C{<c/>} of each client's broadcast presence and asks
nothing until another module (PEP) needs the answer and calls
L{CapsModule.featuresOf} (the L{ICaps} service).  For a verification
string it has not seen it then asks one client advertising it for the
disco#info of C{node#ver}, once however many clients advertise it and
however many callers wait, checks the answer (§5.4) and caches the features
under the string: in a bounded in-memory LRU and in a store, so the cache
survives a restart.
"""

import base64
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from lxml import etree

from zope.interface import implementer

from twisted.internet.defer import CancelledError, Deferred, succeed

from xmppframe.api import (
    SESSION_ENDED, atLeast, ICaps, IDisco, InvalidJID, Module, ModuleOption, outboundEvent, Priority)
from xmppframe.errors import StanzaError
from xmppframe.xml.dataforms import DATA_FORMS, Form, FormError
from xmppframe.xml.disco import infoQuery
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement, makeStanza

#: The hash functions the server verifies with, by their IANA "Hash
#: Function Textual Names" (§4 'hash'); SHA-1 is mandatory (§9.1).
HASHES = {
    "sha-1": hashlib.sha1,
    "sha-224": hashlib.sha224,
    "sha-256": hashlib.sha256,
    "sha-384": hashlib.sha384,
    "sha-512": hashlib.sha512,
}

#: The hash of the server's own verification string.
OWN_HASH = "sha-1"

#: Disco queries to clients under way at once, at most.
MAX_PENDING_QUERIES = 100

_C = NS.qname(NS.CAPS, "c")
_QUERY = NS.qname(NS.DISCO_INFO, "query")
_IDENTITY = NS.qname(NS.DISCO_INFO, "identity")
_FEATURE = NS.qname(NS.DISCO_INFO, "feature")
_X = NS.qname(DATA_FORMS, "x")
_XML_LANG = NS.qname(NS.XML, "lang")


class MalformedInfo(ValueError):
    """
    A disco#info result that XEP-0115 §5.4 calls ill-formed: it must not
    be cached.
    """


@dataclass(frozen=True)
class DiscoInfo:
    """
    What a verification string covers (§5.1).

    @ivar identities: C{(category, type, lang, name)} tuples; C{lang} and
        C{name} are C{''} when absent.
    @ivar features: the feature C{var}s.
    @ivar forms: C{(FORM_TYPE, ((var, (value, ...)), ...))} of each
        extended form (XEP-0128).
    """

    identities: tuple
    features: tuple
    forms: tuple = ()


def readDiscoInfo(query):
    """
    Read a disco#info C{<query/>} the way §5.4 says to process it.

    @raise MalformedInfo: for duplicate identities, features or FORM_TYPEs,
        or a FORM_TYPE with different values (§5.4 3.3–3.5); forms without
        a hidden FORM_TYPE are left out (§5.4 3.6).
    """
    identities = []
    features = []
    forms = []
    formTypes = set()
    for child in query:
        tag = child.tag
        if tag == _IDENTITY:
            category, type = child.get("category"), child.get("type")
            if not category or not type:
                raise MalformedInfo("an identity without category or type")
            identity = (category, type, child.get(_XML_LANG) or "", child.get("name") or "")
            if identity in identities:
                raise MalformedInfo("identity %s given twice" % ("/".join(identity),))
            identities.append(identity)
        elif tag == _FEATURE:
            var = child.get("var")
            if var is None:
                raise MalformedInfo("a feature without var")
            if var in features:
                raise MalformedInfo("feature %r given twice" % (var,))
            features.append(var)
        elif tag == _X:
            try:
                form = Form.fromElement(child)
            except FormError as e:
                raise MalformedInfo("bad extended form: %s" % (e,))
            formTypeField = form.formTypeField
            if formTypeField is None or formTypeField.type != "hidden":
                continue
            if len(set(formTypeField.values)) != 1:
                raise MalformedInfo("a FORM_TYPE with %d different values"
                                    % (len(set(formTypeField.values)),))
            if form.formType in formTypes:
                raise MalformedInfo("two forms of FORM_TYPE %r" % (form.formType,))
            formTypes.add(form.formType)
            forms.append((form.formType, tuple(
                (f.var, f.values) for f in form.fields if f.var is not None)))
    return DiscoInfo(tuple(identities), tuple(features), tuple(forms))


def verificationString(info, algorithm=OWN_HASH):
    """
    The verification string of C{info} (a L{DiscoInfo}) by the generation
    method of XEP-0115 §5.1.  Python sorts strings by code point, which is
    the order of their UTF-8 octets: the "i;octet" collation.

    @raise KeyError: for a hash not in L{HASHES}.
    """
    hashFunction = HASHES[algorithm]
    parts = []
    for category, type, lang, name in sorted(info.identities):
        parts.append("%s/%s/%s/%s<" % (category, type, lang, name))
    for feature in sorted(info.features):
        parts.append(feature + "<")
    for formType, fields in sorted(info.forms):
        parts.append(formType + "<")
        for var, values in sorted(fields):
            parts.append(var + "<")
            for value in sorted(values):
                parts.append(value + "<")
    digest = hashFunction("".join(parts).encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


def capsElement(node, ver, hash=OWN_HASH):
    """
    A C{<c xmlns='http://jabber.org/protocol/caps'/>} (§4).
    """
    return makeElement(NS.CAPS, "c", {"hash": hash, "node": node, "ver": ver})


class CapsStreamFeature:
    """
    The server's capabilities as a stream feature (§6.3), offered once the
    client has authenticated; it handles no elements.
    """

    def __init__(self, caps):
        self._caps = caps

    def offerKey(self, stream):
        # The ver changes when the server's disco#info does.
        return False if stream.authenticated is None else self._caps.ownVer()

    def offer(self, stream):
        if stream.authenticated is None:
            return []
        return [self._caps.ownCapsElement()]

    def handlers(self, stream):
        return {}


class _Entity:
    """
    What the server knows of one client's capabilities.

    @ivar key: C{(hash, ver)} it last advertised.
    @ivar features: its features once known, else C{None}.
    @ivar failed: whether asking it for C{key} failed.
    """

    __slots__ = ("key", "node", "features", "failed")

    def __init__(self, key, node):
        self.key = key
        self.node = node
        self.features = None
        self.failed = False


class _Query:
    """
    A disco#info query to a client under way: C{answer} is the Deferred
    of C{api.request}.
    """

    __slots__ = ("jid", "key", "verify", "answer")

    def __init__(self, jid, key, verify):
        self.jid = jid
        self.key = key
        self.verify = verify
        self.answer = None


@implementer(ICaps)
class CapsModule(Module):
    """
    XEP-0115 for one host.  Options: C{node}, C{cache_size},
    C{query_timeout}.
    """

    name = "caps"
    summary = "the server's entity capabilities, clients' caps verified and cached"
    dependencies = ("disco",)
    xeps = ("XEP-0115",)
    optionSchema = {
        "node": ModuleOption(
            "string", "https://xmppframe.example/caps",
            help="the URI naming this server software in its caps (XEP-0115 §4)"),
        "cache_size": ModuleOption(
            "integer", 1000, atLeast(1),
            help="verification strings whose features are kept in memory"),
        "query_timeout": ModuleOption(
            "number", 30.0, atLeast(1),
            help="seconds a client has to answer the server's disco#info query"),
    }

    def __init__(self, api):
        Module.__init__(self, api)
        self._cache = OrderedDict()
        self._entities = {}
        # The queries under way (a set of _Query).
        self._queries = set()
        # The lookups under way: (hash, ver), or a JID for a hash the
        # server does not know, -> [(jid, Deferred)] of who waits for it.
        self._lookups = {}
        self._store = None
        #: (what the server's disco#info was made of, its verification
        #: string): see L{ownVer}.
        self._ownVer = None
        self.options = api.options

    @property
    def _disco(self):
        return self.api.service(IDisco)

    def load(self):
        self._store = self.api.openStore("keyvalue", "caps")
        self.api.addFeature(NS.CAPS)
        self.api.addStreamResponder(CapsStreamFeature(self))
        self._disco.addInfoNodeProvider(self._ownNodeInfo)
        self.api.hook(outboundEvent("presence"), self._onPresence, Priority.NOTE)
        self.api.hook(SESSION_ENDED, self._onSessionEnded)
        self.api.provide(ICaps, self)

    def unload(self):
        disco = self.api.service(IDisco)
        if disco is not None:
            disco.removeInfoNodeProvider(self._ownNodeInfo)
        for query in list(self._queries):
            query.answer.cancel()
        self._queries.clear()
        for lookup in list(self._lookups):
            self._finish(lookup)
        Module.unload(self)

    # The server's own capabilities

    def ownVer(self):
        """
        The server's verification string, over its disco#info as it is now
        (modules add features as they load).  Every login's stream features
        carry it, so it is worked out again only when the identities,
        features or extended forms have changed.
        """
        disco = self._disco
        host = self.api.host
        forms = disco.infoForms()
        key = (host.features(), tuple(host.identities()),
               tuple(etree.tostring(form) for form in forms))
        if self._ownVer is None or self._ownVer[0] != key:
            info = readDiscoInfo(infoQuery(host.identities(), host.features(), forms))
            self._ownVer = (key, verificationString(info, OWN_HASH))
        return self._ownVer[1]

    def ownCapsElement(self):
        return capsElement(self.options["node"], self.ownVer())

    def _ownNodeInfo(self, node):
        """
        §6.2: disco#info to C{node#ver} is answered as to the server.
        """
        if node == "%s#%s" % (self.options["node"], self.ownVer()):
            return self._disco.serverInfo(node)
        return None

    # Other modules

    def featuresOf(self, fullJID):
        """
        L{ICaps.featuresOf}: the features of a local client's capabilities.
        Known ones (cached in memory) come at once; otherwise the store is
        read and, for a verification string it does not hold, one client
        advertising it is asked (§5.4 3.1), another when that answer fails
        (§5.4 3.9).  Callers asking meanwhile about any client with the
        same string wait for that same query.  A hash the server does not
        know is asked of that client and believed (§5.4 step 2).

        @param fullJID: a local client's full L{JID} (or its text).
        @return: Deferred firing with the set of features, or C{None} when
            unknown.
        """
        if isinstance(fullJID, str):
            try:
                fullJID = self.api.router.jids.parse(fullJID)
            except InvalidJID:
                return succeed(None)
        entity = self._entities.get(fullJID)
        if entity is None or entity.features is not None:
            return succeed(self._known(fullJID))
        key = entity.key
        if key[0] not in HASHES:
            if entity.failed:
                return succeed(None)
            return self._waitFor(fullJID, fullJID,
                                 lambda: self._ask(fullJID, entity, verify=False))
        features = self._cache.get(key)
        if features is not None:
            self._cache.move_to_end(key)
            entity.features = features
            return succeed(set(features))
        return self._waitFor(key, fullJID, lambda: self._load(key))

    def _known(self, jid):
        entity = self._entities.get(jid)
        if entity is None or entity.features is None:
            return None
        return set(entity.features)

    def _waitFor(self, lookup, jid, start):
        """
        A Deferred of the features of C{jid} once the lookup C{lookup} (a
        C{(hash, ver)}, or a JID for a hash only that client's answer
        covers) is done; the lookup is started by C{start()} unless it is
        under way.
        """
        d = Deferred()
        waiters = self._lookups.get(lookup)
        if waiters is not None:
            waiters.append((jid, d))
            return d
        self._lookups[lookup] = [(jid, d)]
        start()
        return d

    def _finish(self, lookup):
        """
        The lookup C{lookup} is done, one way or the other: everyone
        waiting for it gets what is known now.
        """
        for jid, d in self._lookups.pop(lookup, ()):
            d.callback(self._known(jid))

    # Clients' capabilities

    def _onPresence(self, event):
        """
        Note what a client's broadcast presence advertises; nothing is
        asked until someone needs the answer (L{featuresOf}).  A directed
        presence is left alone: what it advertises is for its recipient.
        """
        if event.origin is None or event.sender.resource is None or event.to is not None:
            return None
        if event.type == "unavailable":
            self._entities.pop(event.sender, None)
            return None
        if event.type is not None:
            return None
        for child in event.stanza:
            if child.tag == _C:
                self._advertised(event.sender, child)
                break
        return None

    def _onSessionEnded(self, session):
        if session.jid is not None:
            self._entities.pop(session.jid, None)

    def _advertised(self, jid, c):
        hash, node, ver = c.get("hash"), c.get("node"), c.get("ver")
        if not hash or not node or not ver:
            # §5.4 step 1: no hash is the legacy format, not supported.
            self._entities.pop(jid, None)
            return
        key = (hash, ver)
        entity = self._entities.get(jid)
        if entity is not None and entity.key == key:
            return
        entity = self._entities[jid] = _Entity(key, node)
        features = self._cache.get(key)
        if features is not None:
            self._cache.move_to_end(key)
            entity.features = features

    @staticmethod
    def _storeKey(key):
        return "%s %s" % key

    def _load(self, key):
        d = self._store.get(self._storeKey(key))
        d.addCallbacks(self._loaded, self._loadFailed, callbackArgs=(key,), errbackArgs=(key,))

    def _loaded(self, stored, key):
        if stored is not None:
            self._remember(key, frozenset(stored["features"]))
            self._finish(key)
            return
        self._askSomeone(key)

    def _loadFailed(self, failure, key):
        self.api.log.failure("could not read the caps cache", failure)
        self._askSomeone(key)

    def _askSomeone(self, key):
        """
        Ask a client that advertised C{key} and has not failed it yet
        (§5.4 3.9: on a bad answer, try another entity); when there is
        none, the lookup is over.
        """
        for jid, entity in self._entities.items():
            if entity.key == key and entity.features is None and not entity.failed:
                self._ask(jid, entity, verify=True)
                return
        self._finish(key)

    def _ask(self, jid, entity, verify):
        """
        Ask C{jid} for the disco#info of its C{node#ver} (§5.4 3.1), for
        C{query_timeout} seconds; only C{jid} can answer (api.request).
        """
        lookup = entity.key if verify else jid
        if len(self._queries) >= MAX_PENDING_QUERIES:
            self.api.log.warn("Too many caps queries under way; not asking {jid}", jid=jid)
            self._finish(lookup)
            return
        query = _Query(jid, entity.key, verify)
        iq = makeStanza("iq", to=jid.full, from_=self.api.host.name, type="get")
        disco = etree.SubElement(iq, _QUERY, nsmap={None: NS.DISCO_INFO})
        disco.set("node", "%s#%s" % (entity.node, entity.key[1]))
        self._queries.add(query)
        query.answer = self.api.request(iq, self.options["query_timeout"])
        query.answer.addCallbacks(self._onResponse, self._noResponse,
                                  callbackArgs=(query,), errbackArgs=(query,))
        query.answer.addErrback(lambda failure: self.api.log.failure(
            "caps: reading the answer of {jid} failed", failure, jid=jid))

    def _noResponse(self, failure, query):
        """
        An error answer, or none in time (L{RequestTimedOut}): asking
        C{query.jid} failed.  A query cancelled on unload is only dropped.
        """
        self._queries.discard(query)
        if failure.check(CancelledError):
            return
        failure.trap(StanzaError)
        self._failed(query)

    def _onResponse(self, result, query):
        self._queries.discard(query)
        answer = None
        for child in result:
            if child.tag == _QUERY:
                answer = child
        if answer is None:
            self._failed(query)
            return
        try:
            info = readDiscoInfo(answer)
        except MalformedInfo as e:
            self.api.log.debug("Ill-formed caps disco#info from {jid}: {why}",
                               jid=query.jid, why=e)
            self._failed(query)
            return
        features = frozenset(info.features)
        if not query.verify:
            entity = self._entities.get(query.jid)
            if entity is not None and entity.key == query.key:
                entity.features = features
            self._finish(query.jid)
            return
        hash, ver = query.key
        if verificationString(info, hash) != ver:
            self.api.log.debug("Caps of {jid} do not match their hash", jid=query.jid)
            self._failed(query)
            return
        self._remember(query.key, features)
        self._finish(query.key)
        d = self._store.set(self._storeKey(query.key), {
            "features": sorted(features),
            "identities": [list(identity) for identity in info.identities],
        })
        d.addErrback(lambda failure: self.api.log.failure(
            "could not store caps", failure))

    def _failed(self, query):
        entity = self._entities.get(query.jid)
        if entity is not None and entity.key == query.key:
            entity.failed = True
        if query.verify:
            self._askSomeone(query.key)
        else:
            self._finish(query.jid)

    def _remember(self, key, features):
        """
        Cache verified C{features} under C{key} (§5.4 3.8) and give them to
        every client that advertised it.
        """
        self._cache[key] = features
        self._cache.move_to_end(key)
        while len(self._cache) > self.options["cache_size"]:
            self._cache.popitem(last=False)
        for entity in self._entities.values():
            if entity.key == key:
                entity.features = features
