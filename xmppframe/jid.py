"""
XMPP addresses (JIDs) as defined by RFC 7622.

A JID is C{[localpart "@"] domainpart ["/" resourcepart]} (RFC 7622 §3.1).
Each part is prepared on the way in, so two L{JID}s that name the same
entity compare equal and hash alike:

  - the localpart with the PRECIS UsernameCaseMapped profile (RFC 7622 §3.3,
    RFC 8265 §3.3), minus the characters of §3.3.1;
  - the domainpart as an IDNA2008 domain name with the UTS #46 mapping
    (lowercase, width mapping, A-labels turned into U-labels; §3.2), or an
    IPv4 address, or a bracketed IPv6 address;
  - the resourcepart with the PRECIS OpaqueString profile (RFC 7622 §3.4,
    RFC 8265 §4.2), which keeps its case.

Preparation costs tens of microseconds, far more than routing a stanza, so
the per-stanza path goes through a L{JIDCache}, and JIDs derived from a
prepared one (L{JID.bare}, L{JID.withResource}) skip it.
"""

import functools
import ipaddress
import re

import idna
from precis_i18n import get_profile

__all__ = [
    "InvalidJID",
    "JID",
    "JIDCache",
    "makeJID",
    "parseJID",
    "prepareDomainpart",
    "prepareLocalpart",
    "prepareResourcepart",
]


# RFC 7622 §3.1: each part is 1 to 1023 octets once prepared.
MAX_PART_OCTETS = 1023

# A cheap bound checked before any preparation, so a huge string is refused
# without running PRECIS or IDNA over it.  Preparation can shrink a string:
# NFC composes up to four code points into one (e.g. U+1F8F), so a part of
# more code points than this cannot fit in 1023 octets once prepared.
_MAX_RAW_PART_CHARS = 4 * MAX_PART_OCTETS

# RFC 7622 §3.3.1.
_LOCALPART_EXCLUDED = frozenset("\"&'/:<>@")

# The label separators of RFC 3490 §3.1, which UTS #46 maps to a dot; one of
# them at the end is the "final dot" RFC 7622 §3.2 says to strip first.
_FINAL_DOTS = frozenset(".\u3002\uff0e\uff61")

# A domain name already in its prepared form: lowercase LDH labels of 1..63
# octets that neither start nor end with a hyphen.  Labels with "--" in the
# third and fourth place (A-labels among them) take the full IDNA path.
_PREPARED_LDH_NAME = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")

# RFC 3986 §3.2.2 IPv4address: four decimal octets, no leading zeros.
_IPV4_ADDRESS = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")

# RFC 6874 §2: ZoneID = 1*( unreserved / pct-encoded ).
_ZONE_ID = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+")

_usernameCaseMapped = get_profile("UsernameCaseMapped")
_opaqueString = get_profile("OpaqueString")

# Printable ASCII, without and with the space: on such text PRECIS has
# nothing to do but what these patterns' users do themselves.  Width
# mapping, the OpaqueString space mapping and NFC leave it unchanged, the
# bidi rule has no right-to-left characters to look at, and both
# IdentifierClass (no space) and FreeformClass allow every such character
# (RFC 8264 §9.11, §9.12); UsernameCaseMapped then only lower-cases it
# (RFC 8265 §3.3.2).  Nearly every address is plain ASCII, and preparing it
# this way is many times faster than the general path, which stays for
# everything else (tests check that both give the same answer).
_ASCII_IDENTIFIER = re.compile("[\x21-\x7e]+")
_ASCII_FREEFORM = re.compile("[\x20-\x7e]+")


class InvalidJID(ValueError):
    """
    A string is not a valid JID, or not a valid part of one.  The message
    says which part is wrong and why; it is meant to be shown to the peer
    (for instance as the text of a C{jid-malformed} stanza error).
    """


def _describeType(value):
    return type(value).__name__


def _checkText(what, text):
    """
    Refuse anything but a string of plausible length, before preparation.
    """
    if not isinstance(text, str):
        raise InvalidJID("%s must be a str, not %s" % (what, _describeType(text)))
    if not text:
        raise InvalidJID("%s is empty" % (what,))
    if len(text) > _MAX_RAW_PART_CHARS:
        raise InvalidJID("%s is longer than %d octets" % (what, MAX_PART_OCTETS))


def _checkLength(what, prepared):
    """
    RFC 7622 §3.2-§3.4: every part is 1..1023 octets after preparation.
    """
    if not prepared:
        raise InvalidJID("%s is empty" % (what,))
    size = len(prepared.encode("utf-8"))
    if size > MAX_PART_OCTETS:
        raise InvalidJID("%s is %d octets long, more than the %d allowed"
                         % (what, size, MAX_PART_OCTETS))


def _precisProblem(what, error):
    """
    Turn a precis-i18n error into a sentence naming the offending character.
    """
    reason = error.reason
    if reason.startswith("DISALLOWED/"):
        reason = reason[len("DISALLOWED/"):]
    if error.end - error.start == 1:
        char = error.object[error.start]
        return InvalidJID("%s may not contain U+%04X (%s) at position %d"
                          % (what, ord(char), reason.replace("_", " "),
                             error.start))
    return InvalidJID("%s is not allowed (%s)" % (what, reason.replace("_", " ")))


def prepareLocalpart(localpart):
    """
    Prepare and enforce a localpart per RFC 7622 §3.3: the PRECIS
    UsernameCaseMapped profile (RFC 8265 §3.3, so "Juliet" becomes
    "juliet"), none of the characters excluded by §3.3.1, 1..1023 octets.

    @type localpart: C{str}
    @return: the prepared localpart.
    @raise InvalidJID: if C{localpart} cannot be one.
    """
    _checkText("localpart", localpart)
    if _ASCII_IDENTIFIER.fullmatch(localpart):
        prepared = localpart.lower()
    else:
        try:
            prepared = _usernameCaseMapped.enforce(localpart)
        except UnicodeError as e:
            raise _precisProblem("localpart", e) from None
    # After enforcement, since width mapping can turn e.g. U+FF20 into '@'.
    for char in prepared:
        if char in _LOCALPART_EXCLUDED:
            raise InvalidJID("localpart may not contain %r (RFC 7622 §3.3.1)"
                             % (char,))
    _checkLength("localpart", prepared)
    return prepared


def prepareResourcepart(resourcepart):
    """
    Prepare and enforce a resourcepart per RFC 7622 §3.4: the PRECIS
    OpaqueString profile (RFC 8265 §4.2; case is kept, non-ASCII spaces
    become ASCII spaces, NFC), 1..1023 octets.

    RFC 7622 §3.5 lists C{juliet@example.com/ foo} (example 18) among the
    strings that are not JIDs, though OpaqueString alone accepts it, so a
    resourcepart that starts with a space is refused as well.

    @type resourcepart: C{str}
    @return: the prepared resourcepart.
    @raise InvalidJID: if C{resourcepart} cannot be one.
    """
    _checkText("resourcepart", resourcepart)
    if _ASCII_FREEFORM.fullmatch(resourcepart):
        prepared = resourcepart
    else:
        try:
            prepared = _opaqueString.enforce(resourcepart)
        except UnicodeError as e:
            raise _precisProblem("resourcepart", e) from None
    if prepared.startswith(" "):
        raise InvalidJID("resourcepart may not start with a space "
                         "(RFC 7622 §3.5, example 18)")
    _checkLength("resourcepart", prepared)
    return prepared


def _prepareIPv6Literal(literal):
    """
    Prepare an RFC 6874 IP-literal (without its brackets) in its RFC 5952
    canonical text form, so that C{[::1]} and C{[0:0::1]} are the same
    domainpart.  IPvFuture literals are refused.
    """
    address, sep, zone = literal.partition("%25")
    if sep and not _ZONE_ID.fullmatch(zone):
        raise InvalidJID("domainpart [%s] has an invalid IPv6 zone identifier"
                         % (literal,))
    try:
        # ipaddress would read '%' as its own zone separator; we did that.
        if "%" in address:
            raise ValueError(address)
        canonical = ipaddress.IPv6Address(address).compressed
    except ValueError:
        raise InvalidJID("domainpart [%s] is not an IPv6 address" % (literal,)) from None
    if sep:
        return "[%s%%25%s]" % (canonical, zone)
    return "[%s]" % (canonical,)


def _prepareDomainName(name):
    """
    Prepare an internationalized domain name (RFC 7622 §3.2.1, §3.2.2):
    UTS #46 mapping (case and width folding), IDNA2008 validity of every
    label, and A-labels converted back to U-labels.
    """
    if (_PREPARED_LDH_NAME.fullmatch(name) and len(name) <= 253
            and "--" not in name):
        # The common case, already in its prepared form.  ("--" in third
        # and fourth place is reserved by IDNA2008, A-labels among them, so
        # such names take the full path.)
        prepared = name
    else:
        prepared = _prepareIDN(name)
    lastLabel = prepared.rpartition(".")[2]
    if lastLabel.isascii() and lastLabel.isdigit():
        # RFC 3986 Appendix B: what looks like an IPv4 address but is not
        # one would otherwise be read as a host name with a numeric TLD.
        raise InvalidJID("domainpart %r is neither an IPv4 address nor a "
                         "domain name" % (name,))
    return prepared


def _prepareIDN(name):
    """
    The full IDNA path: map per UTS #46 (non-transitional, STD3 rules),
    check every label against IDNA2008 (RFC 5891, 5892, 5893) through the
    A-label form, and return the U-label form RFC 7622 §3.2.1 asks for.
    """
    try:
        ascii = idna.encode(name, uts46=True, std3_rules=True)
        if ascii.endswith(b"."):
            # The one final dot was stripped already; this is another.
            raise idna.IDNAError("Empty Label")
        prepared = idna.decode(ascii)
    except (idna.IDNAError, UnicodeError) as e:
        raise InvalidJID("domainpart %r is not a valid domain name: %s"
                         % (name, e)) from None
    return prepared


@functools.lru_cache(maxsize=1024)
def _prepareDomainpartCached(domainpart):
    if domainpart[-1] in _FINAL_DOTS:
        # RFC 7622 §3.2: strip a final dot before anything else.
        domainpart = domainpart[:-1]
        if not domainpart:
            raise InvalidJID("domainpart is empty")
    if domainpart.startswith("[") and domainpart.endswith("]"):
        prepared = _prepareIPv6Literal(domainpart[1:-1])
    elif _IPV4_ADDRESS.fullmatch(domainpart):
        prepared = domainpart
    else:
        prepared = _prepareDomainName(domainpart)
    _checkLength("domainpart", prepared)
    return prepared


def prepareDomainpart(domainpart):
    """
    Prepare and enforce a domainpart per RFC 7622 §3.2: strip one final
    dot, then either an IPv4 address (RFC 3986 §3.2.2), a bracketed IPv6
    address (RFC 6874 IP-literal, in RFC 5952 canonical form), or an
    IDNA2008 domain name of U-labels and NR-LDH labels, case- and
    width-mapped per UTS #46.  1..1023 octets.

    Domains repeat far more than they vary, so valid results are kept in a
    small bounded cache.

    @type domainpart: C{str}
    @return: the prepared domainpart.
    @raise InvalidJID: if C{domainpart} cannot be one.
    """
    _checkText("domainpart", domainpart)
    return _prepareDomainpartCached(domainpart)


class JID:
    """
    An XMPP address (RFC 7622): an immutable value, equal to and hashing
    like every other JID of the same prepared parts.

    Build one with L{parseJID}, L{makeJID} or C{JID(localpart, domain,
    resource)} (the same as L{makeJID}); each prepares its input.

    @ivar localpart: the prepared localpart, or C{None}.
    @type localpart: C{str} or C{None}
    @ivar domain: the prepared domainpart.
    @type domain: C{str}
    @ivar resource: the prepared resourcepart, or C{None}.
    @type resource: C{str} or C{None}
    """

    __slots__ = ("localpart", "domain", "resource", "_bare", "_full", "_hash")

    def __new__(cls, localpart, domain, resource=None):
        return cls._fromPrepared(
            None if localpart is None else prepareLocalpart(localpart),
            prepareDomainpart(domain),
            None if resource is None else prepareResourcepart(resource))

    @classmethod
    def _fromPrepared(cls, localpart, domain, resource):
        """
        Build a JID from parts that are already prepared, without preparing
        them again.  Only for this module: the caller vouches for the parts.
        """
        self = object.__new__(cls)
        _setLocalpart(self, localpart)
        _setDomain(self, domain)
        _setResource(self, resource)
        _setBare(self, None)
        _setFull(self, None)
        _setHash(self, None)
        return self

    def __setattr__(self, name, value):
        raise AttributeError("JID is immutable")

    def __delattr__(self, name):
        raise AttributeError("JID is immutable")

    @property
    def isBare(self):
        """
        C{True} when this JID has no resourcepart.
        """
        return self.resource is None

    @property
    def bare(self):
        """
        This JID without its resourcepart: C{self} when it has none, else a
        JID made once and kept (a bare JID does not point at itself, so no
        reference cycle is made for the garbage collector to find).
        """
        if self.resource is None:
            return self
        bare = self._bare
        if bare is None:
            bare = JID._fromPrepared(self.localpart, self.domain, None)
            _setBare(self, bare)
        return bare

    @property
    def full(self):
        """
        The JID as a string (RFC 7622 §3.1), computed once.
        """
        full = self._full
        if full is None:
            full = self.domain
            if self.localpart is not None:
                full = self.localpart + "@" + full
            if self.resource is not None:
                full = full + "/" + self.resource
            _setFull(self, full)
        return full

    def withResource(self, resource):
        """
        This JID's bare JID with the resourcepart C{resource}, prepared.

        @param resource: the resourcepart, or C{None} for the bare JID.
        @raise InvalidJID: if C{resource} is not a valid resourcepart.
        """
        if resource is None:
            return self.bare
        return JID._fromPrepared(self.localpart, self.domain,
                                 prepareResourcepart(resource))

    def __str__(self):
        return self.full

    def __repr__(self):
        return "JID(%r)" % (self.full,)

    def __eq__(self, other):
        if not isinstance(other, JID):
            return NotImplemented
        return (self.domain == other.domain
                and self.localpart == other.localpart
                and self.resource == other.resource)

    def __hash__(self):
        h = self._hash
        if h is None:
            h = hash((self.localpart, self.domain, self.resource))
            _setHash(self, h)
        return h

    def __reduce__(self):
        # Prepared parts are idempotent under preparation, so unpickling
        # through makeJID is correct and never trusts the pickle.
        return (makeJID, (self.localpart, self.domain, self.resource))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


# Slot setters that bypass JID.__setattr__; used only while building a JID
# and to fill its per-instance caches.
_setLocalpart = JID.__dict__["localpart"].__set__
_setDomain = JID.__dict__["domain"].__set__
_setResource = JID.__dict__["resource"].__set__
_setBare = JID.__dict__["_bare"].__set__
_setFull = JID.__dict__["_full"].__set__
_setHash = JID.__dict__["_hash"].__set__


def makeJID(localpart, domain, resource=None):
    """
    Build a JID from its parts, preparing each (RFC 7622 §3.2-§3.4).

    @param localpart: the localpart, or C{None}.
    @param domain: the domainpart.
    @param resource: the resourcepart, or C{None}.
    @raise InvalidJID: if a part is not valid.
    """
    return JID(localpart, domain, resource)


def parseJID(text):
    """
    Parse and prepare a JID given as a string.

    The string is split before any preparation (RFC 7622 §3.1 implementation
    note), in the order of §3.2: the first '/' starts the resourcepart, and
    in what comes before it the first '@' ends the localpart.

    @type text: C{str}
    @raise InvalidJID: if C{text} is not a valid JID.
    """
    if not isinstance(text, str):
        raise InvalidJID("a JID must be a str, not %s" % (_describeType(text),))
    if not text:
        raise InvalidJID("a JID may not be empty")
    address, slash, resource = text.partition("/")
    localpart, at, domain = address.partition("@")
    if not at:
        localpart, domain = None, address
    elif not localpart:
        raise InvalidJID("localpart is empty (nothing before '@')")
    if not domain:
        raise InvalidJID("domainpart is empty")
    if slash and not resource:
        raise InvalidJID("resourcepart is empty (nothing after '/')")
    return JID._fromPrepared(
        None if localpart is None else prepareLocalpart(localpart),
        prepareDomainpart(domain),
        prepareResourcepart(resource) if slash else None)


def _parseOutcome(text):
    """
    The JID C{text} names, or the message of the L{InvalidJID} it raises.

    A message is cached rather than the exception itself: raising one
    exception object again and again would grow its traceback each time.
    """
    try:
        return parseJID(text)
    except InvalidJID as e:
        return str(e)


class JIDCache:
    """
    A bounded least-recently-used map of JID strings to parsed JIDs, for the
    per-stanza path: a hit is one lookup in C{functools.lru_cache}, without
    running PRECIS or IDNA again.  Invalid strings are remembered as well
    (bounded by the same C{maxsize}), so a peer repeating a bad address
    costs no more than a good one.

    Strings longer than L{maxTextLength} are parsed every time and never
    kept, so a flood of long bogus addresses cannot pin more than
    C{maxsize} short keys in memory.
    """

    maxTextLength = 1024

    def __init__(self, maxsize=10000):
        """
        @param maxsize: how many strings to remember, at most; 0 for none.
        @type maxsize: C{int}
        """
        if not isinstance(maxsize, int) or isinstance(maxsize, bool):
            raise TypeError("maxsize must be an int, not %s" % (_describeType(maxsize),))
        if maxsize < 0:
            raise ValueError("maxsize must not be negative, got %d" % (maxsize,))
        self.maxsize = maxsize
        self._lookup = functools.lru_cache(maxsize=maxsize)(_parseOutcome)

    def parse(self, text):
        """
        Like L{parseJID}, remembering the outcome.

        @raise InvalidJID: if C{text} is not a valid JID.
        """
        if type(text) is not str or len(text) > self.maxTextLength:
            return parseJID(text)
        outcome = self._lookup(text)
        if type(outcome) is str:
            raise InvalidJID(outcome)
        return outcome

    def clear(self):
        """
        Forget every remembered string.
        """
        self._lookup.cache_clear()

    def __len__(self):
        return self._lookup.cache_info().currsize
