"""
Tests for L{xmppframe.jid}: RFC 7622 addresses prepared with PRECIS
(RFC 8265) and IDNA2008, and the bounded L{JIDCache}.
"""

import copy
import pickle

from twisted.trial.unittest import TestCase

from xmppframe import jid as jidModule
from xmppframe.jid import (
    JID,
    InvalidJID,
    JIDCache,
    makeJID,
    parseJID,
    prepareDomainpart,
    prepareLocalpart,
    prepareResourcepart,
)


class RFC7622ExamplesTests(TestCase):
    """
    The examples of RFC 7622 §3.5, Tables 1 and 2.
    """

    # Table 1: A Sample of Legal JIDs -> (localpart, domain, resource).
    legal = [
        ("juliet@example.com", ("juliet", "example.com", None)),            # 1
        ("juliet@example.com/foo", ("juliet", "example.com", "foo")),       # 2
        ("juliet@example.com/foo bar",
         ("juliet", "example.com", "foo bar")),                             # 3
        ("juliet@example.com/foo@bar",
         ("juliet", "example.com", "foo@bar")),                             # 4
        ("foo\\20bar@example.com", ("foo\\20bar", "example.com", None)),    # 5
        ("fussball@example.com", ("fussball", "example.com", None)),        # 6
        ("fu\u00dfball@example.com", ("fu\u00dfball", "example.com", None)),  # 7
        ("\u03c0@example.com", ("\u03c0", "example.com", None)),            # 8
        ("\u03a3@example.com/foo", ("\u03c3", "example.com", "foo")),       # 9
        ("\u03c3@example.com/foo", ("\u03c3", "example.com", "foo")),       # 10
        ("\u03c2@example.com/foo", ("\u03c2", "example.com", "foo")),       # 11
        ("king@example.com/\u265a", ("king", "example.com", "\u265a")),     # 12
        ("example.com", (None, "example.com", None)),                       # 13
        ("example.com/foobar", (None, "example.com", "foobar")),            # 14
        ("a.example.com/b@example.net",
         (None, "a.example.com", "b@example.net")),                         # 15
    ]

    # Table 2: A Sample of Strings That Violate the JID Rules.
    illegal = [
        '"juliet"@example.com',         # 16 quotation marks in localpart
        "foo bar@example.com",          # 17 space in localpart
        "juliet@example.com/ foo",      # 18 leading space in resourcepart
        "@example.com/",                # 19 empty localpart and resourcepart
        "henry\u2163@example.com",      # 20 ROMAN NUMERAL FOUR
        "\u265a@example.com",           # 21 BLACK CHESS KING in localpart
        "juliet@",                      # 22 localpart without domainpart
        "/foobar",                      # 23 resourcepart without domainpart
    ]

    def test_legal(self):
        """
        Every JID of Table 1 parses into the expected prepared parts.
        """
        for text, (localpart, domain, resource) in self.legal:
            jid = parseJID(text)
            self.assertEqual(
                (jid.localpart, jid.domain, jid.resource),
                (localpart, domain, resource), text)

    def test_illegal(self):
        """
        Every string of Table 2 is refused with L{InvalidJID}.
        """
        for text in self.illegal:
            self.assertRaises(InvalidJID, parseJID, text)

    def test_sharpSIsNotSS(self):
        """
        Examples 6 and 7 are different JIDs (RFC 7622 §3.5).
        """
        self.assertNotEqual(parseJID("fussball@example.com"),
                            parseJID("fu\u00dfball@example.com"))

    def test_sigmas(self):
        """
        Examples 9 and 10 are the same JID; 11 (final sigma) matches
        neither (RFC 7622 §3.5).
        """
        capital = parseJID("\u03a3@example.com/foo")
        small = parseJID("\u03c3@example.com/foo")
        final = parseJID("\u03c2@example.com/foo")
        self.assertEqual(capital, small)
        self.assertNotEqual(capital, final)
        self.assertNotEqual(small, final)

    def test_symbolInResourceOnly(self):
        """
        U+2163 and U+265A are refused in a localpart (IdentifierClass) but
        allowed in a resourcepart (FreeformClass), RFC 7622 §3.5.
        """
        self.assertEqual(parseJID("henry@example.com/\u2163").resource, "\u2163")
        self.assertEqual(parseJID("king@example.com/\u265a").resource, "\u265a")

    def test_compatibilityCharacterInLocalpart(self):
        """
        VULGAR FRACTION ONE EIGHTH (U+215B) has a compatibility
        decomposition, so like example 20 it is not allowed in a localpart
        (RFC 8264 §9.17, HasCompat).
        """
        self.assertRaises(InvalidJID, parseJID, "\u215b@example.com")

    def test_messages(self):
        """
        The error says which part is wrong and why.
        """
        e = self.assertRaises(InvalidJID, parseJID, '"juliet"@example.com')
        self.assertIn("localpart", str(e))
        self.assertIn('"', str(e))
        e = self.assertRaises(InvalidJID, parseJID, "foo bar@example.com")
        self.assertIn("U+0020", str(e))
        e = self.assertRaises(InvalidJID, parseJID, "juliet@")
        self.assertIn("domainpart", str(e))
        e = self.assertRaises(InvalidJID, parseJID, "juliet@example.com/")
        self.assertIn("resourcepart", str(e))


class SplittingTests(TestCase):
    """
    A string is split before preparation (RFC 7622 §3.1, §3.2).
    """

    def test_slashInResource(self):
        """
        Only the first '/' separates; later ones belong to the resource.
        """
        jid = parseJID("juliet@example.com/foo/bar")
        self.assertEqual(jid.resource, "foo/bar")

    def test_atAfterSlash(self):
        """
        An '@' after the first '/' is part of the resource (example 15).
        """
        jid = parseJID("example.com/a@b")
        self.assertIsNone(jid.localpart)
        self.assertEqual(jid.domain, "example.com")

    def test_twoAts(self):
        """
        Two '@' before the resource make an invalid JID.
        """
        self.assertRaises(InvalidJID, parseJID, "a@b@example.com")

    def test_separatorsFromMapping(self):
        """
        A full-width '@' (U+FF20) is mapped to '@' by width mapping, after
        splitting, so it cannot smuggle a separator into the localpart.
        """
        self.assertRaises(InvalidJID, parseJID, "a\uff20b@example.com")

    def test_localpartExcludedCharacters(self):
        """
        RFC 7622 §3.3.1 forbids " & ' / : < > @ in a localpart.
        """
        for char in "\"&':<>":
            self.assertRaises(InvalidJID, prepareLocalpart, "a%sb" % (char,))
        self.assertRaises(InvalidJID, prepareLocalpart, "a/b")
        self.assertRaises(InvalidJID, prepareLocalpart, "a@b")


class CaseTests(TestCase):
    """
    Localpart and domainpart are case-mapped; the resourcepart is not.
    """

    def test_localpartAndDomain(self):
        self.assertEqual(parseJID("Juliet@Example.COM"),
                         parseJID("juliet@example.com"))
        self.assertEqual(str(parseJID("Juliet@Example.COM")), "juliet@example.com")

    def test_resourceKeepsCase(self):
        jid = parseJID("Juliet@Example.COM/Balcony")
        self.assertEqual(jid.resource, "Balcony")
        self.assertNotEqual(jid, parseJID("juliet@example.com/balcony"))

    def test_widthMapping(self):
        """
        Full-width letters are width-mapped in the localpart (RFC 8265
        §3.3.2) and the domainpart (UTS #46).
        """
        jid = parseJID("\uff2a\uff55\uff4c\uff49\uff45\uff54@\uff25XAMPLE.com")
        self.assertEqual(jid.full, "juliet@example.com")

    def test_resourceSpaces(self):
        """
        OpaqueString maps non-ASCII spaces to ASCII space (RFC 8265 §4.2.1).
        """
        self.assertEqual(prepareResourcepart("foo\u00a0bar"), "foo bar")


class DomainpartTests(TestCase):
    """
    RFC 7622 §3.2.
    """

    def test_finalDot(self):
        """
        One final dot is stripped before anything else.
        """
        self.assertEqual(prepareDomainpart("example.com."), "example.com")
        self.assertEqual(parseJID("juliet@example.com./x"),
                         parseJID("juliet@example.com/x"))
        self.assertEqual(prepareDomainpart("example.com\u3002"), "example.com")

    def test_onlyOneFinalDot(self):
        self.assertRaises(InvalidJID, prepareDomainpart, "example.com..")
        self.assertRaises(InvalidJID, prepareDomainpart, ".")

    def test_internationalized(self):
        """
        A-labels become U-labels (§3.2.1); upper case is mapped (§3.2.2).
        """
        self.assertEqual(prepareDomainpart("xn--bcher-kva.example"), "b\u00fccher.example")
        self.assertEqual(prepareDomainpart("B\u00dcCHER.Example"), "b\u00fccher.example")
        self.assertEqual(parseJID("x@xn--bcher-kva.example"),
                         parseJID("X@B\u00dccher.example"))

    def test_invalidNames(self):
        for name in ["a..b", "-a.example", "a-.example", "ab--c.example",
                     "xn--zz.example", "my_host.example", "exa mple.com",
                     "a" * 64 + ".example", "[::1", "example.com/"]:
            self.assertRaises(InvalidJID, prepareDomainpart, name)

    def test_dnsLength(self):
        """
        RFC 1034 length limits apply (§3.2): at most 253 octets.
        """
        label = "a" * 63
        name = ".".join([label] * 4)[:253]
        self.assertEqual(prepareDomainpart(name), name)
        self.assertRaises(InvalidJID, prepareDomainpart, name + "b")

    def test_ipv4(self):
        self.assertEqual(parseJID("juliet@192.0.2.1/x").domain, "192.0.2.1")

    def test_notIPv4(self):
        """
        Numeric-looking names that are not IPv4 addresses are refused
        rather than read as host names with a numeric top-level label.
        """
        for name in ["1.2.3.256", "1.2.3", "01.2.3.4", "123"]:
            self.assertRaises(InvalidJID, prepareDomainpart, name)

    def test_ipv6(self):
        """
        Bracketed IPv6 literals (RFC 6874 IP-literal) are allowed and put in
        RFC 5952 canonical form.
        """
        self.assertEqual(parseJID("juliet@[::1]/foo").domain, "[::1]")
        self.assertEqual(prepareDomainpart("[0:0:0:0:0:0:0:1]"), "[::1]")
        self.assertEqual(prepareDomainpart("[2001:DB8::1]"), "[2001:db8::1]")
        self.assertEqual(prepareDomainpart("[fe80::1%25eth0]"), "[fe80::1%25eth0]")

    def test_invalidIPv6(self):
        for name in ["[]", "[::g]", "[1.2.3.4]", "[fe80::1%eth0]",
                     "[fe80::1%25]", "[v1.fe]"]:
            self.assertRaises(InvalidJID, prepareDomainpart, name)

    def test_fastPathAgreesWithIDNA(self):
        """
        The shortcut for names already in prepared form gives what the full
        IDNA path gives.
        """
        for name in ["example.com", "a.b-c.example", "x1.example", "localhost"]:
            self.assertEqual(jidModule._prepareIDN(name), prepareDomainpart(name))


class LengthTests(TestCase):
    """
    Each part is 1..1023 octets after preparation (RFC 7622 §3.1).
    """

    def test_localpart(self):
        self.assertEqual(len(prepareLocalpart("a" * 1023)), 1023)
        self.assertRaises(InvalidJID, prepareLocalpart, "a" * 1024)

    def test_localpartOctetsNotCharacters(self):
        """
        U+4E2D takes three octets in UTF-8: 341 fit, 342 do not.
        """
        prepareLocalpart("\u4e2d" * 341)
        e = self.assertRaises(InvalidJID, prepareLocalpart, "\u4e2d" * 342)
        self.assertIn("1026 octets", str(e))

    def test_resourcepart(self):
        self.assertEqual(len(prepareResourcepart("R" * 1023)), 1023)
        self.assertRaises(InvalidJID, prepareResourcepart, "R" * 1024)

    def test_hugeInput(self):
        """
        A huge string is refused before preparation.
        """
        self.assertRaises(InvalidJID, parseJID, "a" * 100000 + "@example.com")
        self.assertRaises(InvalidJID, parseJID, "example.com/" + "r" * 100000)

    def test_empty(self):
        for prepare in (prepareLocalpart, prepareDomainpart, prepareResourcepart):
            self.assertRaises(InvalidJID, prepare, "")
        self.assertRaises(InvalidJID, parseJID, "")
        self.assertRaises(InvalidJID, parseJID, "@example.com")
        self.assertRaises(InvalidJID, parseJID, "example.com/")
        self.assertRaises(InvalidJID, parseJID, "@/")


class InputTypeTests(TestCase):
    """
    Anything but a C{str} is refused with L{InvalidJID}, not a traceback.
    """

    def test_parse(self):
        for value in [None, b"juliet@example.com", 42, ["a"]]:
            e = self.assertRaises(InvalidJID, parseJID, value)
            self.assertIn(type(value).__name__, str(e))

    def test_prepare(self):
        for prepare in (prepareLocalpart, prepareDomainpart, prepareResourcepart):
            self.assertRaises(InvalidJID, prepare, b"x")
            self.assertRaises(InvalidJID, prepare, None)

    def test_make(self):
        self.assertRaises(InvalidJID, makeJID, None, None)
        self.assertRaises(InvalidJID, makeJID, b"x", "example.com")
        self.assertRaises(InvalidJID, makeJID, "x", "example.com", 1)

    def test_invalidJIDIsValueError(self):
        self.assertTrue(issubclass(InvalidJID, ValueError))

    def test_controlCharacters(self):
        for text in ["a\x00b@example.com", "a@exa\x00mple.com",
                     "a@example.com/x\x00", "a@example.com/x\n"]:
            self.assertRaises(InvalidJID, parseJID, text)


class JIDTests(TestCase):
    """
    The L{JID} value object.
    """

    def test_makeJID(self):
        jid = makeJID("Juliet", "Example.com", "Balcony")
        self.assertEqual(jid, parseJID("juliet@example.com/Balcony"))
        self.assertEqual(makeJID(None, "example.com"), parseJID("example.com"))
        self.assertEqual(JID("Juliet", "Example.com", "Balcony"), jid)

    def test_makeJIDInvalid(self):
        self.assertRaises(InvalidJID, makeJID, "a b", "example.com")
        self.assertRaises(InvalidJID, makeJID, "a", "exa mple.com")
        self.assertRaises(InvalidJID, makeJID, "a", "example.com", "")

    def test_full(self):
        for text in ["juliet@example.com/balcony", "juliet@example.com",
                     "example.com/x", "example.com"]:
            jid = parseJID(text)
            self.assertEqual(jid.full, text)
            self.assertEqual(str(jid), text)
            self.assertIs(jid.full, jid.full)
        self.assertEqual(repr(parseJID("a@b.example/c")), "JID('a@b.example/c')")

    def test_bare(self):
        full = parseJID("juliet@example.com/balcony")
        self.assertFalse(full.isBare)
        bare = full.bare
        self.assertTrue(bare.isBare)
        self.assertEqual(bare, parseJID("juliet@example.com"))
        self.assertIs(full.bare, bare)
        self.assertIs(bare.bare, bare)

    def test_bareOfDomain(self):
        jid = parseJID("example.com/x")
        self.assertEqual(jid.bare.full, "example.com")
        self.assertIsNone(jid.bare.localpart)

    def test_withResource(self):
        bare = parseJID("juliet@example.com")
        full = bare.withResource("Balcony\u00a0Two")
        self.assertEqual(full.full, "juliet@example.com/Balcony Two")
        self.assertEqual(full.withResource("other").full, "juliet@example.com/other")
        self.assertIs(full.withResource(None), full.bare)
        self.assertRaises(InvalidJID, bare.withResource, "")
        self.assertRaises(InvalidJID, bare.withResource, " lead")
        self.assertRaises(InvalidJID, bare.withResource, b"x")

    def test_equalityAndHash(self):
        a = parseJID("Juliet@Example.com/r")
        b = makeJID("juliet", "example.com", "r")
        self.assertEqual(a, b)
        self.assertFalse(a != b)
        self.assertEqual(hash(a), hash(b))
        self.assertEqual(len({a, b, a.bare, b.bare}), 2)
        self.assertEqual({a: 1}[b], 1)
        self.assertNotEqual(a, a.bare)
        self.assertNotEqual(parseJID("example.com"), parseJID("example.com/r"))
        self.assertNotEqual(parseJID("a@example.com"), parseJID("a@example.net"))

    def test_notEqualToOtherTypes(self):
        jid = parseJID("juliet@example.com")
        self.assertNotEqual(jid, "juliet@example.com")
        self.assertNotEqual(jid, None)
        self.assertFalse(jid == "juliet@example.com")

    def test_immutable(self):
        jid = parseJID("juliet@example.com/r")
        self.assertRaises(AttributeError, setattr, jid, "localpart", "romeo")
        self.assertRaises(AttributeError, setattr, jid, "other", 1)
        self.assertRaises(AttributeError, delattr, jid, "domain")
        self.assertFalse(hasattr(jid, "__dict__"))
        self.assertEqual(jid.localpart, "juliet")

    def test_copyAndPickle(self):
        jid = parseJID("juliet@example.com/r")
        self.assertIs(copy.copy(jid), jid)
        self.assertIs(copy.deepcopy(jid), jid)
        restored = pickle.loads(pickle.dumps(jid))
        self.assertEqual(restored, jid)
        self.assertEqual(restored.full, jid.full)

    def test_fromPreparedSkipsPreparation(self):
        """
        The private constructor takes parts as they are (it is only used on
        parts already prepared).
        """
        jid = JID._fromPrepared("juliet", "example.com", "r")
        self.assertEqual(jid, parseJID("juliet@example.com/r"))


class JIDCacheTests(TestCase):
    """
    L{JIDCache}: a bounded LRU of strings to JIDs and errors.
    """

    def test_hit(self):
        cache = JIDCache()
        jid = cache.parse("juliet@example.com/r")
        self.assertEqual(jid, parseJID("juliet@example.com/r"))
        self.assertIs(cache.parse("juliet@example.com/r"), jid)
        self.assertEqual(len(cache), 1)

    def test_negative(self):
        """
        Invalid strings are remembered too; each parse raises a new
        L{InvalidJID} with the same message.
        """
        cache = JIDCache()
        e1 = self.assertRaises(InvalidJID, cache.parse, "foo bar@example.com")
        e2 = self.assertRaises(InvalidJID, cache.parse, "foo bar@example.com")
        self.assertEqual(str(e1), str(e2))
        self.assertIsNot(e1, e2)
        self.assertEqual(len(cache), 1)

    def test_bounded(self):
        cache = JIDCache(maxsize=3)
        for i in range(10):
            cache.parse("user%d@example.com" % (i,))
            self.assertRaises(InvalidJID, cache.parse, "bad %d@example.com" % (i,))
        self.assertEqual(len(cache), 3)

    def test_leastRecentlyUsedEvicted(self):
        cache = JIDCache(maxsize=2)
        a = cache.parse("a@example.com")
        b = cache.parse("b@example.com")
        self.assertIs(cache.parse("a@example.com"), a)   # a is now newest
        cache.parse("c@example.com")                       # evicts b
        self.assertEqual(len(cache), 2)
        self.assertIs(cache.parse("a@example.com"), a)
        self.assertIsNot(cache.parse("b@example.com"), b)

    def test_zeroSize(self):
        cache = JIDCache(maxsize=0)
        self.assertEqual(cache.parse("a@example.com"), parseJID("a@example.com"))
        self.assertEqual(len(cache), 0)

    def test_badMaxsize(self):
        self.assertRaises(ValueError, JIDCache, -1)
        self.assertRaises(TypeError, JIDCache, "10")
        self.assertRaises(TypeError, JIDCache, None)

    def test_nonStringNotCached(self):
        cache = JIDCache()
        for value in [None, b"a@example.com", ["a"], 1]:
            self.assertRaises(InvalidJID, cache.parse, value)
        self.assertEqual(len(cache), 0)

    def test_longTextNotCached(self):
        cache = JIDCache()
        text = "u" * 600 + "@example.com/" + "r" * 600
        self.assertGreater(len(text), JIDCache.maxTextLength)
        self.assertEqual(cache.parse(text).resource, "r" * 600)
        self.assertRaises(InvalidJID, cache.parse, "x" * 5000)
        self.assertEqual(len(cache), 0)

    def test_clear(self):
        cache = JIDCache()
        cache.parse("a@example.com")
        cache.clear()
        self.assertEqual(len(cache), 0)

    def test_separateInstances(self):
        """
        Each cache has its own entries (no module-level table).
        """
        one, two = JIDCache(), JIDCache()
        one.parse("a@example.com")
        self.assertEqual(len(two), 0)


class ASCIIFastPathTests(TestCase):
    """
    Printable ASCII localparts and resourceparts skip the PRECIS library;
    the answer must be the one PRECIS gives (RFC 8264 §9.11-§9.12, RFC 8265
    §3.3.2 and §4.2.2), for every printable ASCII character in every
    position.
    """

    def samples(self):
        random = __import__("random").Random(7622)
        printable = [chr(c) for c in range(0x20, 0x7F)]
        for char in printable:
            yield char
            yield "a" + char + "B"
            yield char + "Xy"
            yield "Zz" + char
        for _ in range(2000):
            yield "".join(random.choice(printable) for _ in range(random.randint(1, 12)))

    def reference(self, profile, text):
        try:
            return profile.enforce(text)
        except UnicodeError:
            return None

    def outcome(self, prepare, text):
        try:
            return prepare(text)
        except jidModule.InvalidJID:
            return None

    def test_localpart(self):
        for text in self.samples():
            expected = self.reference(jidModule._usernameCaseMapped, text)
            if expected is not None and (set(expected) & jidModule._LOCALPART_EXCLUDED):
                expected = None
            self.assertEqual(self.outcome(jidModule.prepareLocalpart, text), expected, repr(text))

    def test_resourcepart(self):
        for text in self.samples():
            expected = self.reference(jidModule._opaqueString, text)
            if expected is not None and expected.startswith(" "):
                expected = None
            self.assertEqual(self.outcome(jidModule.prepareResourcepart, text), expected,
                             repr(text))
