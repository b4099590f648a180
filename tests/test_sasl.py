"""
Tests for L{xmppframe.streams.sasl}: PLAIN (RFC 4616), SCRAM-SHA-1 and
SCRAM-SHA-256 with the RFC 5802 §5 and RFC 7677 §3 exchanges as test
vectors, SCRAM-*-PLUS channel binding and its downgrade protection
(RFC 5802 §6), and the XEP-0440 feature.
"""

import base64
from collections import namedtuple

import scramp
from lxml import etree
from twisted.internet import defer, reactor
from twisted.trial import unittest

from xmppframe.streams import sasl
from xmppframe.streams.sasl import (
    MECHANISM_PREFERENCE, PlainMechanism, SASLChallenge, SASLFailure, SASLSuccess,
    ScramServerMechanism, channelBindingTypesElement, makeMechanism, offeredMechanisms)

try:
    from xmppframe.auth import ScramCredentials
except ImportError:  # written by someone else; the same shape
    ScramCredentials = namedtuple("ScramCredentials", "salt storedKey serverKey iterations")


class FakeAuth:
    """
    An L{IAuthProvider} with the two methods SASL uses, holding SCRAM keys
    only, as the real one does.
    """

    domain = "example.org"

    def __init__(self):
        self.credentials = {}
        self.fail = False

    def addUser(self, username, password, salt=None, iterations=4096):
        for hashName, mechanism in (("SHA-1", "SCRAM-SHA-1"), ("SHA-256", "SCRAM-SHA-256")):
            info = scramp.ScramMechanism(mechanism).make_auth_info(
                password, iteration_count=iterations, salt=salt)
            self.credentials[username, hashName] = ScramCredentials(*info)

    def getScramCredentials(self, username, hashName):
        if self.fail:
            return defer.fail(RuntimeError("the database is down"))
        return defer.succeed(self.credentials.get((username, hashName)))

    def checkPassword(self, username, password):
        stored = self.credentials.get((username, "SHA-256"))
        if stored is None:
            return defer.succeed(False)
        info = scramp.ScramMechanism("SCRAM-SHA-256").make_auth_info(
            password, iteration_count=stored.iterations, salt=stored.salt)
        return defer.succeed(info[1] == stored.storedKey)


class SASLTestMixin:

    def setUp(self):
        self.auth = FakeAuth()
        self.auth.addUser("user", "pencil")

    def assertFailure_(self, d, condition):
        failure = self.failureResultOf(d, SASLFailure)
        self.assertEqual(failure.value.condition, condition)
        return failure.value


class PlainTests(SASLTestMixin, unittest.TestCase):
    """
    RFC 4616 PLAIN.
    """

    def test_goodInitialResponse(self):
        result = self.successResultOf(PlainMechanism(self.auth).start(b"\x00user\x00pencil"))
        self.assertEqual(result, SASLSuccess("user"))

    def test_goodAfterEmptyChallenge(self):
        """
        RFC 4422 §5: without an initial response the server sends an empty
        challenge.
        """
        mechanism = PlainMechanism(self.auth)
        self.assertEqual(self.successResultOf(mechanism.start(None)), SASLChallenge(b""))
        self.assertEqual(self.successResultOf(mechanism.step(b"\x00user\x00pencil")),
                         SASLSuccess("user"))

    def test_usernamePrepared(self):
        """
        The authcid is prepared as a localpart (case-mapped).
        """
        result = self.successResultOf(PlainMechanism(self.auth).start(b"\x00USER\x00pencil"))
        self.assertEqual(result.username, "user")

    def test_wrongPassword(self):
        self.assertFailure_(PlainMechanism(self.auth).start(b"\x00user\x00pen"), "not-authorized")

    def test_unknownUser(self):
        self.assertFailure_(PlainMechanism(self.auth).start(b"\x00nobody\x00pencil"),
                            "not-authorized")

    def test_invalidUsername(self):
        self.assertFailure_(PlainMechanism(self.auth).start(b"\x00a@b\x00pencil"),
                            "not-authorized")

    def test_authzidOwnJID(self):
        for authzid in (b"user@example.org", b"user", b"USER@Example.org"):
            result = self.successResultOf(
                PlainMechanism(self.auth).start(authzid + b"\x00user\x00pencil"))
            self.assertEqual(result, SASLSuccess("user"))

    def test_authzidSomeoneElse(self):
        """
        RFC 6120 §6.3.8: acting for another entity is refused.
        """
        for authzid in (b"admin@example.org", b"admin", b"user@example.com",
                        b"user@example.org/res"):
            self.assertFailure_(PlainMechanism(self.auth).start(authzid + b"\x00user\x00pencil"),
                                "invalid-authzid")

    def test_authzidNotCheckedBeforePassword(self):
        self.assertFailure_(PlainMechanism(self.auth).start(b"admin\x00user\x00bad"),
                            "not-authorized")

    def test_malformed(self):
        for message in (b"", b"userpencil", b"\x00user", b"\x00user\x00pencil\x00",
                        b"\x00\x00pencil", b"\x00user\x00", b"\x00us\xffer\x00pencil",
                        b"\x00user\x00" + b"p" * 256):
            self.assertFailure_(PlainMechanism(self.auth).start(message), "malformed-request")

    def test_overAfterSuccess(self):
        mechanism = PlainMechanism(self.auth)
        self.successResultOf(mechanism.start(b"\x00user\x00pencil"))
        self.assertFailure_(mechanism.step(b"\x00user\x00pencil"), "malformed-request")

    def test_stepWithoutChallenge(self):
        mechanism = PlainMechanism(self.auth)
        self.assertFailure_(mechanism.step(b"\x00user\x00pencil"), "malformed-request")

    def test_providerError(self):
        """
        An unexpected error of the provider is logged and becomes
        temporary-auth-failure.
        """
        def broken(username, password):
            raise RuntimeError("boom")
        self.auth.checkPassword = broken
        self.assertFailure_(PlainMechanism(self.auth).start(b"\x00user\x00pencil"),
                            "temporary-auth-failure")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


def _scramExchange(mechanism, client):
    """
    Run C{client} (a C{scramp.ScramClient}) against C{mechanism}; return the
    final result or failure of the server.
    """
    challenge = mechanism.start(client.get_client_first().encode())
    result = []
    challenge.addBoth(result.append)
    if not isinstance(result[0], SASLChallenge):
        return result[0]
    client.set_server_first(result[0].data.decode())
    final = []
    mechanism.step(client.get_client_final().encode()).addBoth(final.append)
    if isinstance(final[0], SASLSuccess):
        client.set_server_final(final[0].data.decode())
    return final[0]


class ScramVectorTests(SASLTestMixin, unittest.TestCase):
    """
    The example exchanges of the RFCs, with their fixed nonces and salts.
    """

    def test_scramSHA1RFC5802(self):
        """
        RFC 5802 §5.
        """
        self.auth.addUser("user", "pencil", salt=base64.b64decode("QSXCR+Q6sek8bf92"))
        mechanism = ScramServerMechanism("SCRAM-SHA-1", self.auth,
                                         serverNonce="3rfcNHYJY1ZVvWVs7j")
        challenge = self.successResultOf(
            mechanism.start(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"))
        self.assertEqual(
            challenge.data,
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
        success = self.successResultOf(mechanism.step(
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
            b"p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="))
        self.assertEqual(success, SASLSuccess("user", b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="))

    def test_scramSHA256RFC7677(self):
        """
        RFC 7677 §3, with the initial message sent after an empty challenge.
        """
        self.auth.addUser("user", "pencil",
                          salt=base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
        mechanism = ScramServerMechanism("SCRAM-SHA-256", self.auth,
                                         serverNonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        self.assertEqual(self.successResultOf(mechanism.start(None)), SASLChallenge(b""))
        challenge = self.successResultOf(mechanism.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
        self.assertEqual(
            challenge.data,
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        success = self.successResultOf(mechanism.step(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
        self.assertEqual(success,
                         SASLSuccess("user", b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))


CB_DATA = b"\x01" * 32
BINDINGS = {"tls-server-end-point": CB_DATA, "tls-exporter": b"\x02" * 32}


class ScramTests(SASLTestMixin, unittest.TestCase):
    """
    SCRAM against a scramp client.
    """

    def mechanism(self, name, bindings=None, enabled=None):
        return makeMechanism(name, self.auth, bindings or {}, True, enabled=enabled)

    def test_bothHashes(self):
        for name in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
            client = scramp.ScramClient([name], "user", "pencil")
            result = _scramExchange(self.mechanism(name), client)
            self.assertEqual(result.username, "user")

    def test_wrongPassword(self):
        client = scramp.ScramClient(["SCRAM-SHA-256"], "user", "pen")
        result = _scramExchange(self.mechanism("SCRAM-SHA-256"), client)
        self.assertEqual(result.value.condition, "not-authorized")

    def test_unknownUser(self):
        """
        An unknown user gets a server-first-message like anyone (with a salt
        that stays the same between attempts) and fails at the end.
        """
        salts = []
        for _ in range(2):
            mechanism = self.mechanism("SCRAM-SHA-256")
            challenge = self.successResultOf(mechanism.start(b"n,,n=nobody,r=abcdef"))
            fields = dict(f.split("=", 1) for f in challenge.data.decode().split(","))
            salts.append(fields["s"])
            self.assertEqual(fields["i"], "4096")
        self.assertEqual(salts[0], salts[1])
        client = scramp.ScramClient(["SCRAM-SHA-256"], "nobody", "pencil")
        result = _scramExchange(self.mechanism("SCRAM-SHA-256"), client)
        self.assertEqual(result.value.condition, "not-authorized")

    def test_escapedUsername(self):
        """
        RFC 5802 §5.1: '=2C' and '=3D' in the saslname; the name is looked
        up decoded.
        """
        looked = []
        self.auth.getScramCredentials = lambda user, h: looked.append(user) or defer.succeed(None)
        self.successResultOf(self.mechanism("SCRAM-SHA-1").start(b"n,,n=a=3Db=2Cc,r=abc"))
        self.assertEqual(looked, ["a=b,c"])

    def test_plus(self):
        client = scramp.ScramClient(["SCRAM-SHA-256-PLUS"], "user", "pencil",
                                    channel_binding=("tls-server-end-point", CB_DATA))
        result = _scramExchange(self.mechanism("SCRAM-SHA-256-PLUS", BINDINGS), client)
        self.assertEqual(result.username, "user")

    def test_plusSHA1TlsUnique(self):
        bindings = {"tls-unique": b"\x03" * 12}
        client = scramp.ScramClient(["SCRAM-SHA-1-PLUS"], "user", "pencil",
                                    channel_binding=("tls-unique", b"\x03" * 12))
        result = _scramExchange(self.mechanism("SCRAM-SHA-1-PLUS", bindings), client)
        self.assertEqual(result.username, "user")

    def test_plusWrongBindingData(self):
        """
        A man in the middle sees other channel-binding data than the client.
        """
        client = scramp.ScramClient(["SCRAM-SHA-256-PLUS"], "user", "pencil",
                                    channel_binding=("tls-server-end-point", b"\x09" * 32))
        result = _scramExchange(self.mechanism("SCRAM-SHA-256-PLUS", BINDINGS), client)
        self.assertEqual(result.value.condition, "not-authorized")

    def test_plusUnsupportedType(self):
        d = self.mechanism("SCRAM-SHA-256-PLUS", BINDINGS).start(
            b"p=tls-unique,,n=user,r=abc")
        self.assertFailure_(d, "not-authorized")
        d = self.mechanism("SCRAM-SHA-256-PLUS", BINDINGS).start(
            b"p=tls-exporter,,n=user,r=abc")
        self.assertFailure_(d, "not-authorized")

    def test_plusWithoutBinding(self):
        for header in (b"n,,", b"y,,"):
            d = self.mechanism("SCRAM-SHA-256-PLUS", BINDINGS).start(header + b"n=user,r=abc")
            self.assertFailure_(d, "malformed-request")

    def test_bindingOnNonPlus(self):
        d = self.mechanism("SCRAM-SHA-256", BINDINGS).start(
            b"p=tls-server-end-point,,n=user,r=abc")
        self.assertFailure_(d, "malformed-request")

    def test_downgrade(self):
        """
        RFC 5802 §6: 'y' (the client could bind but saw no -PLUS) while the
        server did offer -PLUS means the features were tampered with.
        """
        client = scramp.ScramClient(["SCRAM-SHA-256"], "user", "pencil",
                                    channel_binding=("tls-server-end-point", CB_DATA))
        self.assertTrue(client.get_client_first().startswith("y,,"))
        client = scramp.ScramClient(["SCRAM-SHA-256"], "user", "pencil",
                                    channel_binding=("tls-server-end-point", CB_DATA))
        result = _scramExchange(self.mechanism("SCRAM-SHA-256", BINDINGS), client)
        self.assertEqual(result.value.condition, "not-authorized")

    def test_yWithoutPlusOffered(self):
        """
        'y' is honest when no -PLUS was offered (none enabled, or no binding).
        """
        for bindings, enabled in ((BINDINGS, ("SCRAM-SHA-256",)), ({}, None)):
            client = scramp.ScramClient(["SCRAM-SHA-256"], "user", "pencil",
                                        channel_binding=("tls-server-end-point", CB_DATA))
            result = _scramExchange(self.mechanism("SCRAM-SHA-256", bindings, enabled), client)
            self.assertEqual(result.username, "user")

    def test_authzid(self):
        d = self.mechanism("SCRAM-SHA-1").start(b"n,a=user@example.org,n=user,r=abc")
        self.assertFailure_(d, "invalid-authzid")

    def test_garbage(self):
        """
        Whatever the client sends, the answer is a SASLFailure.
        """
        for message in (b"", b"\xff\xfe", b"x,,n=user,r=abc", b"n,,", b"n,,r=abc,n=user",
                        b"n,,n=,r=abc", b"n,,n=us=er,r=abc", b"n,,m=ext,n=user,r=abc",
                        b"n,,n=user", b"n,,n=user,r=", b"n,,n=user,r=a,b",
                        b"n,x,n=user,r=abc", b"p=,,n=user,r=abc", b"n,,n=user,r=a\x00b",
                        b"n,,n=a\x00b,r=abc",
                        b"n,,n=user,r=abc,e=x"):
            result = []
            self.mechanism("SCRAM-SHA-256").start(message).addBoth(result.append)
            self.assertIsInstance(result[0].value, SASLFailure, message)

    def test_garbageFinal(self):
        for message in (b"", b"\xff", b"c=biws", b"c=biws,r=wrong,p=AAAA",
                        b"c=!!,r=x,p=y", b"garbage"):
            mechanism = self.mechanism("SCRAM-SHA-256")
            self.successResultOf(mechanism.start(b"n,,n=user,r=abc"))
            result = []
            mechanism.step(message).addBoth(result.append)
            self.assertIsInstance(result[0].value, SASLFailure, message)
            self.assertIn(result[0].value.condition, ("malformed-request", "not-authorized"))

    def test_providerError(self):
        self.auth.fail = True
        self.assertFailure_(self.mechanism("SCRAM-SHA-1").start(b"n,,n=user,r=abc"),
                            "temporary-auth-failure")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_weakStoredCredentials(self):
        self.auth.credentials["user", "SHA-1"] = ScramCredentials(b"salt", b"k", b"k", 1)
        self.assertFailure_(self.mechanism("SCRAM-SHA-1").start(b"n,,n=user,r=abc"),
                            "temporary-auth-failure")

    def test_stepsAfterTheEnd(self):
        mechanism = self.mechanism("SCRAM-SHA-1")
        client = scramp.ScramClient(["SCRAM-SHA-1"], "user", "pencil")
        _scramExchange(mechanism, client)
        self.assertFailure_(mechanism.step(b"c=biws"), "malformed-request")
        self.assertFailure_(mechanism.start(b"n,,n=user,r=abc"), "malformed-request")


class StorageAuthProviderTests(unittest.TestCase):
    """
    Both mechanisms against the real provider and in-memory storage.
    """

    def setUp(self):
        try:
            from xmppframe.auth import StorageAuthProvider
            from xmppframe.storage.memory import MemoryStorage
        except ImportError as e:
            raise unittest.SkipTest("the auth provider is not available: %s" % (e,))
        self.auth = StorageAuthProvider(MemoryStorage(), "example.org", reactor=reactor)
        return self.auth.createUser("user", "pencil")

    @defer.inlineCallbacks
    def test_plain(self):
        result = yield makeMechanism("PLAIN", self.auth, {}, True).start(
            b"user@example.org\x00user\x00pencil")
        self.assertEqual(result, SASLSuccess("user"))
        with self.assertRaises(SASLFailure):
            yield makeMechanism("PLAIN", self.auth, {}, True).start(b"\x00user\x00bad")

    @defer.inlineCallbacks
    def test_scram(self):
        for name, bindings in (("SCRAM-SHA-1", {}), ("SCRAM-SHA-256-PLUS", BINDINGS)):
            mechanism = makeMechanism(name, self.auth, bindings, True)
            client = scramp.ScramClient(
                [name], "user", "pencil",
                channel_binding=("tls-server-end-point", CB_DATA) if bindings else None)
            challenge = yield mechanism.start(client.get_client_first().encode())
            client.set_server_first(challenge.data.decode())
            success = yield mechanism.step(client.get_client_final().encode())
            client.set_server_final(success.data.decode())
            self.assertEqual(success.username, "user")


class OfferTests(unittest.TestCase):
    """
    Which mechanisms are offered and made.
    """

    def test_order(self):
        self.assertEqual(offeredMechanisms(reversed(MECHANISM_PREFERENCE), True, BINDINGS),
                         list(MECHANISM_PREFERENCE))

    def test_plusNeedsBinding(self):
        self.assertEqual(offeredMechanisms(MECHANISM_PREFERENCE, True, {}),
                         ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
        # tls-exporter alone is not usable with scramp (see the module).
        self.assertEqual(offeredMechanisms(MECHANISM_PREFERENCE, True,
                                           {"tls-exporter": b"x"}),
                         ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])

    def test_plainNeedsEncryption(self):
        self.assertEqual(offeredMechanisms(MECHANISM_PREFERENCE, False, {}),
                         ["SCRAM-SHA-256", "SCRAM-SHA-1"])

    def test_enabledOnly(self):
        self.assertEqual(offeredMechanisms(("PLAIN", "SCRAM-SHA-1"), True, BINDINGS),
                         ["SCRAM-SHA-1", "PLAIN"])

    def test_makeMechanism(self):
        self.assertIsInstance(makeMechanism("PLAIN", FakeAuth(), {}, True), PlainMechanism)
        mechanism = makeMechanism("SCRAM-SHA-256-PLUS", FakeAuth(), BINDINGS, True)
        self.assertEqual((mechanism.name, mechanism.hashName), ("SCRAM-SHA-256-PLUS", "SHA-256"))

    def test_makeMechanismRefused(self):
        for name, bindings, encrypted in (("DIGEST-MD5", {}, True), ("PLAIN", {}, False),
                                          ("SCRAM-SHA-1-PLUS", {}, True), ("", {}, True)):
            e = self.assertRaises(SASLFailure, makeMechanism, name, FakeAuth(),
                                  bindings, encrypted)
            self.assertEqual(e.condition, "invalid-mechanism")

    def test_unknownCondition(self):
        self.assertRaises(ValueError, SASLFailure, "bogus")

    def test_channelBindingTypesElement(self):
        """
        XEP-0440 §3: the types SCRAM accepts, in a top-level feature.
        """
        element = channelBindingTypesElement(
            {"tls-server-end-point": b"a", "tls-unique": b"b", "tls-exporter": b"c"})
        self.assertEqual(
            etree.tostring(element),
            b'<sasl-channel-binding xmlns="urn:xmpp:sasl-cb:0">'
            b'<channel-binding type="tls-server-end-point"/>'
            b'<channel-binding type="tls-unique"/></sasl-channel-binding>')
        self.assertIsNone(channelBindingTypesElement({"tls-exporter": b"c"}))

    def test_scrampAcceptsTheTypes(self):
        """
        Every type offered for SCRAM is one scramp implements.
        """
        for kind in sasl.SCRAM_CHANNEL_BINDING_TYPES:
            scramp.ScramMechanism("SCRAM-SHA-256-PLUS").make_server(
                lambda u: None, channel_binding=(kind, b"x"))
