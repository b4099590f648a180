"""
Tests for L{xmppframe.auth}: accounts kept as SCRAM keys (RFC 5802 §3,
RFC 7677), never as passwords.
"""

import base64
import glob
import hashlib
import hmac
import os

from twisted.internet import reactor
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from xmppframe.auth import (
    ACCOUNTS_STORE, MIN_ITERATIONS, InvalidPassword, NoSuchUser, ScramCredentials,
    StorageAuthProvider, UserExists, deriveScramCredentials, preparePassword)
from xmppframe.interfaces import IAuthProvider
from xmppframe.storage import StorageError
from xmppframe.storage.memory import MemoryStorage
from xmppframe.storage.sqlite import SQLiteStorage


def b64(text):
    return base64.b64decode(text)


class ScramVectorTests(unittest.TestCase):
    """
    The keys derived match the example exchanges of RFC 5802 §5
    (SCRAM-SHA-1) and RFC 7677 §3 (SCRAM-SHA-256): with the vector's
    password, salt and iteration count, the derived StoredKey must recover
    the ClientKey from the client's proof, and the ServerKey must give the
    server's signature.
    """

    def checkVector(self, hashName, digest, clientFirstBare, serverFirst,
                    clientFinalWithoutProof, proof, serverSignature, salt, iterations):
        credentials = deriveScramCredentials(
            hashName, preparePassword("pencil"), b64(salt), iterations)
        self.assertEqual(credentials.iterations, 4096)
        authMessage = b",".join([clientFirstBare, serverFirst, clientFinalWithoutProof])
        clientSignature = hmac.digest(credentials.storedKey, authMessage, digest)
        clientKey = bytes(a ^ b for a, b in zip(b64(proof), clientSignature))
        self.assertEqual(hashlib.new(digest, clientKey).digest(), credentials.storedKey)
        self.assertEqual(hmac.digest(credentials.serverKey, authMessage, digest),
                         b64(serverSignature))

    def test_rfc5802(self):
        self.checkVector(
            "SHA-1", "sha1",
            b"n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
            "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
            "QSXCR+Q6sek8bf92", 4096)

    def test_rfc7677(self):
        self.checkVector(
            "SHA-256", "sha256",
            b"n=user,r=rOprNGfwEbeRWgbNEkqO",
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            "W22ZaJ0SNY7soEsUEjb6gQ==", 4096)


class PreparePasswordTests(unittest.TestCase):
    """
    Passwords are prepared with the OpaqueString profile (RFC 8265 §4.2).
    """

    def test_prepared(self):
        self.assertEqual(preparePassword("pencil"), b"pencil")
        # Non-ASCII spaces map to U+0020 (RFC 8265 §4.2.1); NFC applies.
        self.assertEqual(preparePassword("a\u00a0b"), b"a b")
        self.assertEqual(preparePassword("e\u0301"), "\u00e9".encode("utf-8"))
        # Case and compatibility characters are kept (unlike SASLprep's NFKC).
        self.assertEqual(preparePassword("P\ufb01"), "P\ufb01".encode("utf-8"))

    def test_refused(self):
        for password in ("", "bad\u0007bell", b"bytes", None):
            self.assertRaises(InvalidPassword, preparePassword, password)

    def test_messageHasNoPassword(self):
        error = self.assertRaises(InvalidPassword, preparePassword, "secret\u0000")
        self.assertNotIn("secret", str(error))
        self.assertIn("OpaqueString", str(error))


class AuthTestsMixin:
    """
    The provider's behaviour, over a driver that C{makeStorage()} opens.
    """

    async def setUp(self):
        self.storage = await self.makeStorage()
        self.auth = StorageAuthProvider(self.storage, "example.org", reactor=reactor)

    def test_interface(self):
        self.assertTrue(verifyObject(IAuthProvider, self.auth))

    async def test_createExistsList(self):
        self.assertFalse(await self.auth.userExists("alice"))
        self.assertEqual(await self.auth.listUsers(), [])
        await self.auth.createUser("bob", "builder")
        await self.auth.createUser("alice", "wonderland")
        self.assertTrue(await self.auth.userExists("alice"))
        self.assertEqual(await self.auth.listUsers(), ["alice", "bob"])

    async def test_createTwice(self):
        await self.auth.createUser("alice", "wonderland")
        await self.assertFailure(self.auth.createUser("alice", "other"), UserExists)
        self.assertTrue(await self.auth.checkPassword("alice", "wonderland"))

    async def test_checkPassword(self):
        await self.auth.createUser("alice", "wonderland")
        self.assertIs(await self.auth.checkPassword("alice", "wonderland"), True)
        self.assertIs(await self.auth.checkPassword("alice", "Wonderland"), False)
        self.assertIs(await self.auth.checkPassword("alice", ""), False)
        self.assertIs(await self.auth.checkPassword("alice", "bad\u0007"), False)
        self.assertIs(await self.auth.checkPassword("nobody", "wonderland"), False)

    async def test_checkPreparedPassword(self):
        """
        Two spellings the profile prepares the same way are one password.
        """
        await self.auth.createUser("alice", "caf\u00e9\u00a0au lait")
        self.assertTrue(await self.auth.checkPassword("alice", "cafe\u0301 au lait"))

    async def test_setPassword(self):
        await self.auth.createUser("alice", "wonderland")
        before = await self.auth.getScramCredentials("alice", "SHA-256")
        await self.auth.setPassword("alice", "looking-glass")
        self.assertFalse(await self.auth.checkPassword("alice", "wonderland"))
        self.assertTrue(await self.auth.checkPassword("alice", "looking-glass"))
        after = await self.auth.getScramCredentials("alice", "SHA-256")
        self.assertNotEqual(before.salt, after.salt)
        await self.assertFailure(self.auth.setPassword("nobody", "x"), NoSuchUser)
        self.assertFalse(await self.auth.userExists("nobody"))

    async def test_deleteUser(self):
        await self.auth.createUser("alice", "wonderland")
        await self.auth.deleteUser("alice")
        self.assertFalse(await self.auth.userExists("alice"))
        self.assertFalse(await self.auth.checkPassword("alice", "wonderland"))
        await self.assertFailure(self.auth.deleteUser("alice"), NoSuchUser)

    async def test_invalidPassword(self):
        await self.assertFailure(self.auth.createUser("alice", ""), InvalidPassword)
        await self.assertFailure(self.auth.createUser("alice", "a\u0000b"), InvalidPassword)
        self.assertFalse(await self.auth.userExists("alice"))
        await self.auth.createUser("alice", "wonderland")
        await self.assertFailure(self.auth.setPassword("alice", ""), InvalidPassword)
        self.assertTrue(await self.auth.checkPassword("alice", "wonderland"))

    async def test_invalidUsername(self):
        for username in ("", "alice@example.org", "alice/phone"):
            await self.assertFailure(self.auth.createUser(username, "x"), ValueError)
            await self.assertFailure(self.auth.userExists(username), ValueError)
            await self.assertFailure(self.auth.checkPassword(username, "x"), ValueError)
        await self.assertFailure(self.auth.deleteUser(None), TypeError)
        self.assertEqual(await self.auth.listUsers(), [])

    async def test_scramCredentials(self):
        await self.auth.createUser("alice", "pencil")
        for hashName, digest in (("SHA-1", "sha1"), ("SHA-256", "sha256")):
            credentials = await self.auth.getScramCredentials("alice", hashName)
            self.assertIsInstance(credentials, ScramCredentials)
            self.assertGreaterEqual(credentials.iterations, MIN_ITERATIONS)
            self.assertGreaterEqual(len(credentials.salt), 16)
            self.assertEqual(len(credentials.storedKey), hashlib.new(digest).digest_size)
            # The stored keys are those of the password (RFC 5802 §3).
            self.assertEqual(
                deriveScramCredentials(hashName, b"pencil", credentials.salt,
                                       credentials.iterations),
                credentials)
        self.assertIsNone(await self.auth.getScramCredentials("nobody", "SHA-1"))
        await self.assertFailure(self.auth.getScramCredentials("alice", "MD5"), ValueError)

    async def test_iterations(self):
        self.assertRaises(ValueError, StorageAuthProvider, self.storage, "example.org",
                          iterations=4095, reactor=reactor)
        auth = StorageAuthProvider(self.storage, "example.net", iterations=5000,
                                   reactor=reactor)
        await auth.createUser("alice", "wonderland")
        credentials = await auth.getScramCredentials("alice", "SHA-1")
        self.assertEqual(credentials.iterations, 5000)
        self.assertTrue(await auth.checkPassword("alice", "wonderland"))

    async def test_hostsSeparate(self):
        other = StorageAuthProvider(self.storage, "example.net", reactor=reactor)
        await self.auth.createUser("alice", "wonderland")
        self.assertFalse(await other.userExists("alice"))
        self.assertEqual(await other.listUsers(), [])

    async def test_storedRecord(self):
        await self.auth.createUser("alice", "wonderland")
        record = await self.storage.keyValue("example.org", ACCOUNTS_STORE).get("alice")
        self.assertEqual(sorted(record), ["created", "scram"])
        self.assertEqual(sorted(record["scram"]), ["SHA-1", "SHA-256"])
        self.assertEqual(sorted(record["scram"]["SHA-1"]),
                         ["iterations", "salt", "serverKey", "storedKey"])
        self.assertIsInstance(record["created"], float)
        self.assertNotIn("wonderland", repr(record))

    async def test_malformedRecord(self):
        """
        A damaged account record is a storage error, not a wrong password.
        """
        await self.storage.keyValue("example.org", ACCOUNTS_STORE).set(
            "alice", {"scram": {"SHA-256": {"salt": "!!"}}})
        await self.assertFailure(self.auth.checkPassword("alice", "x"), StorageError)
        await self.assertFailure(self.auth.getScramCredentials("alice", "SHA-256"),
                                 StorageError)


class MemoryAuthTests(AuthTestsMixin, unittest.TestCase):

    def makeStorage(self):
        storage = MemoryStorage()
        return storage.open().addCallback(lambda _: storage)


class SQLiteAuthTests(AuthTestsMixin, unittest.TestCase):

    def makeStorage(self):
        self.path = os.path.join(self.mktemp(), "accounts.sqlite")
        storage = SQLiteStorage(self.path, reactor=reactor)
        self.addCleanup(storage.close)
        return storage.open().addCallback(lambda _: storage)

    async def test_noPasswordOnDisk(self):
        """
        Neither the password nor its UTF-8 or UTF-16 bytes are anywhere in
        the database files.
        """
        password = "correct horse battery staple \u00e9"
        await self.auth.createUser("alice", password)
        await self.auth.setPassword("alice", password + " 2")
        await self.auth.createUser("bob", password)
        self.assertTrue(await self.auth.checkPassword("alice", password + " 2"))
        await self.storage.close()
        files = glob.glob(self.path + "*")
        self.assertIn(self.path, files)
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                self.assertNotIn(password.encode(encoding), data)
                self.assertNotIn(b"correct horse", data)


class TimingTests(unittest.TestCase):
    """
    An unknown user costs the same key derivation as a known one, so the
    time checkPassword takes does not tell which accounts exist.
    """

    async def test_unknownUserSameWork(self):
        import xmppframe.auth
        calls = []
        real = xmppframe.auth.deriveScramCredentials

        def counting(hashName, prepared, salt, iterations):
            calls.append((hashName, iterations))
            return real(hashName, prepared, salt, iterations)

        self.patch(xmppframe.auth, "deriveScramCredentials", counting)
        auth = StorageAuthProvider(MemoryStorage(), "example.org", reactor=reactor)
        await auth.createUser("alice", "wonderland")
        del calls[:]
        self.assertFalse(await auth.checkPassword("alice", "wrong"))
        known = list(calls)
        del calls[:]
        self.assertFalse(await auth.checkPassword("nobody", "wrong"))
        self.assertEqual(calls, known)
        self.assertEqual(known, [("SHA-256", MIN_ITERATIONS)])
