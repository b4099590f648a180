"""
Server dialback (XEP-0220): the keys, and the secret they are made with.

Dialback proves that a stream's initiating server speaks for the domain it
claims by asking that domain's authoritative server, found through DNS,
whether it issued the key.  Both roles here are the same server, so the
key only has to be reproducible by us: XEP-0220 §2.4 (after XEP-0185)
derives it from a long-lived secret, the two domains and the stream id.
"""

import hashlib
import hmac
import os
import secrets

from xmppframe.streams.tls import _writePrivate

__all__ = ["NS_DIALBACK", "NS_DIALBACK_FEATURE", "dialbackKey", "keysMatch", "loadSecret"]

#: The namespace of C{<db:result/>} and C{<db:verify/>} (XEP-0220 §5).
NS_DIALBACK = "jabber:server:dialback"
#: The stream feature announcing dialback support (XEP-0220 §2.1.1).
NS_DIALBACK_FEATURE = "urn:xmpp:features:dialback"

SECRET_FILE = "dialback.secret"


def dialbackKey(secret, receiving, originating, streamID):
    """
    The dialback key of XEP-0220 §2.4::

        HMAC-SHA256(hex(SHA256(secret)), receiving + ' ' + originating + ' ' + streamID)

    @param secret: the server's dialback secret (C{str}).
    @param receiving: the Receiving Server's domain (the target).
    @param originating: the Originating Server's domain (the sender).
    @param streamID: the id the Receiving Server gave its response stream.
    @return: the key as lowercase hex.
    """
    keyOfKey = hashlib.sha256(secret.encode("utf-8")).hexdigest().encode("ascii")
    message = " ".join((receiving, originating, streamID)).encode("utf-8")
    return hmac.new(keyOfKey, message, hashlib.sha256).hexdigest()


def keysMatch(expected, given):
    """
    Compare keys in constant time; surrounding whitespace in C{given} (the
    element's character data) is ignored.
    """
    return hmac.compare_digest(expected.encode("ascii"),
                               (given or "").strip().lower().encode("utf-8", "replace"))


def loadSecret(configured, dataDir):
    """
    The dialback secret: C{configured} when set, else the one kept in
    C{<dataDir>/dialback.secret}, generated there (mode 0600) the first
    time, so that keys stay valid across restarts.
    """
    if configured:
        return configured
    path = os.path.join(dataDir, SECRET_FILE)
    try:
        with open(path, "r", encoding="ascii") as f:
            secret = f.read().strip()
        if secret:
            return secret
    except FileNotFoundError:
        pass
    os.makedirs(dataDir, mode=0o700, exist_ok=True)
    secret = secrets.token_hex(32)
    _writePrivate(path, secret.encode("ascii"))
    return secret
