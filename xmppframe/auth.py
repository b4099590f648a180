"""
Accounts and their credentials, kept in a storage driver.

Passwords are never stored, nor logged: only the SCRAM salted keys of
RFC 5802 §3 (C{StoredKey} and C{ServerKey}, with their salt and iteration
count), for SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677).  With
them the SASL code verifies SCRAM exchanges, and L{checkPassword} verifies
a PLAIN password (RFC 4616) by deriving its keys again.

Passwords are prepared with the PRECIS OpaqueString profile (RFC 8265
§4.2; RFC 7677 §4 and RFC 8265 §7.3 name it as the successor of SASLprep)
before hashing, so that every client that prepares the same way derives
the same keys.
"""

import base64
import binascii
import hashlib
import hmac
import os
from collections import namedtuple

import precis_i18n
from twisted.internet import defer, threads
from twisted.logger import Logger
from zope.interface import implementer

from xmppframe.interfaces import IAuthProvider
from xmppframe.storage import StorageError

__all__ = [
    "ScramCredentials", "UserExists", "NoSuchUser", "InvalidPassword",
    "StorageAuthProvider", "deriveScramCredentials", "preparePassword",
    "HASHES", "MIN_ITERATIONS", "ACCOUNTS_STORE",
]

ScramCredentials = namedtuple("ScramCredentials", "salt storedKey serverKey iterations")
ScramCredentials.__doc__ = """
The SCRAM keys of one account for one hash function (RFC 5802 §3).

@ivar salt: C{bytes}.
@ivar storedKey: C{bytes}, H(ClientKey).
@ivar serverKey: C{bytes}, HMAC(SaltedPassword, "Server Key").
@ivar iterations: C{int}, the iteration count of Hi().
"""

#: The SCRAM hash names (as in the mechanism names) and their hashlib names.
HASHES = {"SHA-1": "sha1", "SHA-256": "sha256"}

#: RFC 5802 §5.1 and RFC 7677 §4: at least 4096 iterations.
MIN_ITERATIONS = 4096

#: The key-value store the accounts of a host are kept in, by username.
ACCOUNTS_STORE = "accounts"

#: Bytes of random salt per account and hash.
SALT_SIZE = 16

_OPAQUE_STRING = precis_i18n.get_profile("OpaqueString")


class UserExists(Exception):
    """
    The account to create exists already.
    """


class NoSuchUser(Exception):
    """
    The account does not exist.
    """


class InvalidPassword(ValueError):
    """
    The password is empty or not allowed by the OpaqueString profile
    (RFC 8265 §4.2).  Its message never contains the password.
    """


def preparePassword(password):
    """
    Enforce the OpaqueString profile (RFC 8265 §4.2.2) on C{password}.

    @return: the prepared password, UTF-8 encoded.
    @raise InvalidPassword: if it is not text, is empty, or holds code
        points the profile disallows.
    """
    if not isinstance(password, str):
        raise InvalidPassword("a password must be text, not %s" % (type(password).__name__,))
    if not password:
        raise InvalidPassword("the password is empty")
    try:
        prepared = _OPAQUE_STRING.enforce(password)
    except UnicodeError as e:
        # e.reason names the rule ("DISALLOWED/controls"); the message of
        # the exception itself would quote the password's characters.
        reason = getattr(e, "reason", "not allowed")
        raise InvalidPassword("the password is not allowed by the PRECIS "
                              "OpaqueString profile (%s)" % (reason,)) from None
    return prepared.encode("utf-8")


def deriveScramCredentials(hashName, preparedPassword, salt, iterations):
    """
    Compute the SCRAM keys of RFC 5802 §3::

        SaltedPassword := Hi(Normalize(password), salt, i)
        ClientKey      := HMAC(SaltedPassword, "Client Key")
        StoredKey      := H(ClientKey)
        ServerKey      := HMAC(SaltedPassword, "Server Key")

    Hi() is PBKDF2 with HMAC as the PRF and the hash's output length
    (RFC 5802 §2.2), which C{hashlib.pbkdf2_hmac} computes in C.  The
    derivation is written out here rather than taken from scramp because
    scramp applies SASLprep (RFC 4013) to the password itself, and SASLprep
    maps compatibility characters (NFKC) that OpaqueString keeps: the keys
    would then differ from those of a client preparing with OpaqueString.

    This costs some milliseconds of CPU: call it in a thread.

    @param hashName: C{'SHA-1'} or C{'SHA-256'}.
    @param preparedPassword: the result of L{preparePassword}.
    @rtype: L{ScramCredentials}
    """
    digest = HASHES[hashName]
    salted = hashlib.pbkdf2_hmac(digest, preparedPassword, salt, iterations)
    clientKey = hmac.digest(salted, b"Client Key", digest)
    storedKey = hashlib.new(digest, clientKey).digest()
    serverKey = hmac.digest(salted, b"Server Key", digest)
    return ScramCredentials(salt, storedKey, serverKey, iterations)


def _newCredentials(preparedPassword, iterations):
    """
    @return: a dict of hash name to fresh L{ScramCredentials}, each with
        its own random salt.
    """
    return {name: deriveScramCredentials(name, preparedPassword, os.urandom(SALT_SIZE),
                                         iterations)
            for name in HASHES}


def _encodeCredentials(credentials):
    b64 = lambda data: base64.b64encode(data).decode("ascii")
    return {name: {"salt": b64(c.salt), "storedKey": b64(c.storedKey),
                   "serverKey": b64(c.serverKey), "iterations": c.iterations}
            for name, c in credentials.items()}


def _decodeCredentials(username, record, hashName):
    """
    @return: the L{ScramCredentials} of C{hashName} in the account record
        C{record}, or C{None} if it has none for that hash.
    @raise StorageError: if the record is malformed.
    """
    try:
        entry = record["scram"].get(hashName)
        if entry is None:
            return None
        iterations = entry["iterations"]
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError("bad iteration count")
        return ScramCredentials(
            base64.b64decode(entry["salt"], validate=True),
            base64.b64decode(entry["storedKey"], validate=True),
            base64.b64decode(entry["serverKey"], validate=True),
            iterations)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as e:
        raise StorageError("the %s credentials of account %r are malformed: %s"
                           % (hashName, username, e)) from None


def _checkUsername(username):
    """
    Reject what cannot be a prepared localpart (RFC 7622 §3.3): the caller
    prepares usernames, this only catches mistakes such as passing a JID.
    """
    if not isinstance(username, str):
        raise TypeError("a username must be a str, not %s" % (type(username).__name__,))
    if not username:
        raise ValueError("a username must not be empty")
    if "@" in username or "/" in username:
        raise ValueError("a username is a localpart: %r contains '@' or '/'" % (username,))


def _checkHashName(hashName):
    if hashName not in HASHES:
        raise ValueError("unknown SCRAM hash %r (expected one of: %s)"
                         % (hashName, ", ".join(HASHES)))


@implementer(IAuthProvider)
class StorageAuthProvider:
    """
    The accounts of one host, in its key-value store L{ACCOUNTS_STORE}: by
    username, a JSON record such as::

        {"scram": {"SHA-1": {"salt": b64, "storedKey": b64,
                             "serverKey": b64, "iterations": 4096},
                   "SHA-256": {...}},
         "created": <POSIX time>}

    Key derivation runs in the reactor's thread pool so that a login or an
    account change does not stall every other connection.  Changes to
    accounts made through one provider are done one at a time; two
    processes (the server and the admin command) changing the same account
    at once leave the last write.

    @param storage: the L{xmppframe.interfaces.IStorage}.
    @param host: the domain whose accounts these are.
    @param iterations: the Hi() iteration count for new credentials.
    @param reactor: its thread pool runs the key derivation and its clock
        stamps C{created}.
    """

    _log = Logger()

    def __init__(self, storage, host, iterations=MIN_ITERATIONS, *, reactor):
        if isinstance(iterations, bool) or not isinstance(iterations, int):
            raise TypeError("iterations must be an int")
        if iterations < MIN_ITERATIONS:
            raise ValueError("SCRAM needs at least %d iterations (RFC 5802 §5.1), not %d"
                             % (MIN_ITERATIONS, iterations))
        self.host = host
        self.iterations = iterations
        self._accounts = storage.keyValue(host, ACCOUNTS_STORE)
        self._reactor = reactor
        self._changes = defer.DeferredLock()
        # Checked against for unknown users, so that they cost the same as
        # known ones (no timing oracle); random so it matches nothing.
        self._decoySalt = os.urandom(SALT_SIZE)

    def _inThread(self, function, *args):
        reactor = self._reactor
        return threads.deferToThreadPool(reactor, reactor.getThreadPool(), function, *args)

    @defer.inlineCallbacks
    def userExists(self, username):
        _checkUsername(username)
        record = yield self._accounts.get(username)
        return record is not None

    def listUsers(self):
        return self._accounts.keys()

    def createUser(self, username, password):
        """
        @raise UserExists: (in the Deferred) if the account exists.
        @raise InvalidPassword: (in the Deferred) for a refused password.
        """
        return self._changes.run(self._createUser, username, password)

    @defer.inlineCallbacks
    def _createUser(self, username, password):
        _checkUsername(username)
        prepared = preparePassword(password)
        if (yield self._accounts.get(username)) is not None:
            raise UserExists(username)
        credentials = yield self._inThread(_newCredentials, prepared, self.iterations)
        yield self._accounts.set(username, {
            "scram": _encodeCredentials(credentials),
            "created": self._reactor.seconds()})
        self._log.info("Created account {user}@{host}", user=username, host=self.host)

    def setPassword(self, username, password):
        """
        @raise NoSuchUser: (in the Deferred) if the account does not exist.
        @raise InvalidPassword: (in the Deferred) for a refused password.
        """
        return self._changes.run(self._setPassword, username, password)

    @defer.inlineCallbacks
    def _setPassword(self, username, password):
        _checkUsername(username)
        prepared = preparePassword(password)
        record = yield self._accounts.get(username)
        if record is None:
            raise NoSuchUser(username)
        credentials = yield self._inThread(_newCredentials, prepared, self.iterations)
        record["scram"] = _encodeCredentials(credentials)
        yield self._accounts.set(username, record)
        self._log.info("Changed the password of {user}@{host}", user=username, host=self.host)

    def deleteUser(self, username):
        """
        @raise NoSuchUser: (in the Deferred) if the account does not exist.
        """
        return self._changes.run(self._deleteUser, username)

    @defer.inlineCallbacks
    def _deleteUser(self, username):
        _checkUsername(username)
        if not (yield self._accounts.delete(username)):
            raise NoSuchUser(username)
        self._log.info("Deleted account {user}@{host}", user=username, host=self.host)

    @defer.inlineCallbacks
    def getScramCredentials(self, username, hashName):
        _checkUsername(username)
        _checkHashName(hashName)
        record = yield self._accounts.get(username)
        if record is None:
            return None
        return _decodeCredentials(username, record, hashName)

    @defer.inlineCallbacks
    def checkPassword(self, username, password):
        """
        Derive the keys of C{password} with the stored salt and iteration
        count, and compare StoredKey in constant time
        (C{hmac.compare_digest}).  An unknown user, or a password the
        profile refuses, costs the same derivation and gives C{False}: how
        long the answer takes tells nothing about which accounts exist.
        """
        _checkUsername(username)
        record = yield self._accounts.get(username)
        stored = None if record is None else _strongestCredentials(username, record)
        try:
            prepared = preparePassword(password)
        except InvalidPassword:
            prepared = None
        if stored is None:
            hashName, salt, iterations = "SHA-256", self._decoySalt, self.iterations
        else:
            hashName, (salt, _, _, iterations) = stored
        derived = yield self._inThread(deriveScramCredentials, hashName,
                                       prepared or b"", salt, iterations)
        return (stored is not None and prepared is not None
                and hmac.compare_digest(derived.storedKey, stored[1].storedKey))


def _strongestCredentials(username, record):
    """
    @return: C{(hashName, ScramCredentials)} for the strongest hash the
        account record has keys for, or C{None} if it has none.
    """
    for hashName in ("SHA-256", "SHA-1"):
        credentials = _decodeCredentials(username, record, hashName)
        if credentials is not None:
            return hashName, credentials
    return None
