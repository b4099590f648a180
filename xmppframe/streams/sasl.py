"""
Server-side SASL mechanisms for XMPP (RFC 6120 §6, RFC 4422): PLAIN
(RFC 4616) and SCRAM-SHA-1/-SHA-256 with and without channel binding
(RFC 5802, RFC 7677), plus the XEP-0440 list of channel-binding types.

The stream negotiation (XML, base64) lives in
L{xmppframe.streams.negotiation}; a mechanism only sees and returns bytes.
SCRAM itself is computed by C{scramp}: this module fetches the stored
credentials asynchronously first (the user name is in the client's first
message), then drives scramp's server synchronously with them.
"""

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

import scramp
from lxml import etree
from precis_i18n import get_profile
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from xmppframe.xml import namespaces as NS

_log = Logger()

#: Strongest first; what the server offers is this order filtered.
MECHANISM_PREFERENCE = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
                        "SCRAM-SHA-1", "PLAIN")

#: The channel-binding types SCRAM-*-PLUS accepts, best first.  scramp 1.5
#: refuses 'tls-exporter' (RFC 9266), so TLS 1.3 connections bind with
#: 'tls-server-end-point' (RFC 5929 §4), which XEP-0440 makes mandatory.
SCRAM_CHANNEL_BINDING_TYPES = ("tls-server-end-point", "tls-unique")

#: The defined failure conditions (RFC 6120 §6.5).
CONDITIONS = frozenset({
    "aborted", "account-disabled", "credentials-expired", "encryption-required",
    "incorrect-encoding", "invalid-authzid", "invalid-mechanism", "malformed-request",
    "mechanism-too-weak", "not-authorized", "temporary-auth-failure",
})

#: RFC 4616 §2: authzid, authcid and passwd are at most 255 octets each.
_PLAIN_FIELD_MAX = 255

#: scramp refuses fewer iterations than this (RFC 7677 §3's recommendation).
_MIN_ITERATIONS = 4096

#: Keys the made-up credentials of unknown users, so that they are stable
#: per user name within a run but cannot be computed from outside.
_FAKE_CREDENTIALS_KEY = os.urandom(32)

#: The line each failed login is logged with, once, at info level, in the
#: namespace C{xmppframe.sasl}; a stable format that log watchers (the
#: fail2ban filter in contrib/fail2ban) match, e.g.::
#:
#:   SASL failure from 203.0.113.5 for alice@example.org (SCRAM-SHA-1): not-authorized
#:
#: C{peer} is the client's address, first, so that nothing a client sends
#: comes before it; C{jid} is the account tried (C{-} when the client named
#: none), with whitespace, parentheses and unprintable characters escaped
#: as C{\\xNN}, so that it is one word; C{mechanism} is C{-} when none was
#: chosen; C{condition} is the RFC 6120 §6.5 condition sent to the client.
FAILURE_LOG_FORMAT = "SASL failure from {peer} for {jid} ({mechanism}): {condition}"

_failureLog = Logger(namespace="xmppframe.sasl")

#: At most this many characters of the user name a client tried are logged.
_LOGGED_NAME_MAX = 64


def _loggable(text):
    """
    C{text}, from a client, as one word safe for a log line.
    """
    if len(text) > _LOGGED_NAME_MAX:
        text = text[:_LOGGED_NAME_MAX] + "..."
    return "".join(
        c if c.isprintable() and not c.isspace() and c not in "()\\" else
        ("\\x%02x" % ord(c) if ord(c) < 0x100 else
         "\\u%04x" % ord(c) if ord(c) < 0x10000 else "\\U%08x" % ord(c))
        for c in text)


def logFailure(peer, user, domain, mechanism, condition):
    """
    Log one failed login in L{FAILURE_LOG_FORMAT}.

    @param peer: the client's address (text).
    @param user: the user name the client tried (prepared when it could
        be), or C{None}.
    @param domain: the stream's domain, or C{None}.
    @param mechanism: the mechanism's name, or C{None}.
    @param condition: the SASL failure condition.
    """
    if user is None:
        jid = "-"
    else:
        jid = _loggable(user) + "@" + _loggable(domain or "-")
    _failureLog.info(FAILURE_LOG_FORMAT, peer=peer, jid=jid,
                     mechanism=mechanism or "-", condition=condition)


class SASLFailure(Exception):
    """
    A failed exchange, answered with C{<failure/>} (RFC 6120 §6.4.5).

    @ivar condition: an RFC 6120 §6.5 condition name.
    @ivar text: an optional human-readable explanation, or C{None}.
    """

    def __init__(self, condition, text=None):
        if condition not in CONDITIONS:
            raise ValueError("unknown SASL failure condition %r" % (condition,))
        super().__init__(condition if text is None else "%s: %s" % (condition, text))
        self.condition = condition
        self.text = text


@dataclass(frozen=True)
class SASLChallenge:
    """
    Send C{<challenge/>} with C{data} and wait for a response.
    """
    data: bytes


@dataclass(frozen=True)
class SASLSuccess:
    """
    Authenticated as C{username} (a prepared localpart); C{data} is the
    additional data with success (RFC 6120 §6.3.10), e.g. SCRAM's
    server-final-message.
    """
    username: str
    data: bytes | None = None


class ServerMechanism:
    """
    The receiving side of one SASL exchange.

    C{start} and C{step} return Deferreds firing with a L{SASLChallenge}
    or L{SASLSuccess}, or failing with L{SASLFailure}; nothing else ever
    comes out of them (an unexpected error is logged and becomes
    C{temporary-auth-failure}).  After success or failure the exchange is
    over and further calls fail with C{malformed-request}.
    """

    name = None
    #: The user name the client tried, once it is known (for the log).
    attemptedUser = None
    #: The prepared user name the exchange is about, once known (for the
    #: login throttle), else C{None}.
    username = None

    def __init__(self):
        self._over = False
        self._busy = False
        self._started = False

    def start(self, initialResponse):
        """
        Begin with the C{<auth/>} element's initial response (bytes, or
        C{None} when the client sent none).
        """
        if self._started:
            return defer.fail(SASLFailure("malformed-request", "the exchange has already begun"))
        self._started = True
        return self._run(self._start, initialResponse)

    def step(self, response):
        """
        Continue with the data of a C{<response/>}.
        """
        if not self._started:
            return defer.fail(SASLFailure("malformed-request", "the exchange has not begun"))
        return self._run(self._step, response)

    def _run(self, method, data):
        if self._over:
            return defer.fail(SASLFailure("malformed-request", "the exchange is over"))
        if self._busy:
            return defer.fail(SASLFailure("malformed-request",
                                          "a response came before the challenge"))
        self._busy = True
        d = defer.maybeDeferred(method, data)
        d.addCallbacks(self._succeeded, self._failed)
        return d

    def _succeeded(self, result):
        self._busy = False
        if isinstance(result, SASLSuccess):
            self._over = True
        elif not isinstance(result, SASLChallenge):
            _log.error("SASL mechanism {name} returned {result!r}", name=self.name, result=result)
            self._over = True
            raise SASLFailure("temporary-auth-failure")
        return result

    def _failed(self, failure):
        self._busy = False
        self._over = True
        if failure.check(SASLFailure):
            return failure
        _log.failure("SASL mechanism {name} failed unexpectedly", failure, name=self.name)
        return Failure(SASLFailure("temporary-auth-failure"))

    def _start(self, initialResponse):
        raise NotImplementedError()

    def _step(self, response):
        raise NotImplementedError()


def _prepareUsername(name):
    """
    Prepare a SASL user name as an XMPP localpart (RFC 7622 §3.3), with
    L{xmppframe.jid.prepareLocalpart} where that module is available.

    @return: the prepared localpart, or C{None} if C{name} cannot be one.
    """
    try:
        from xmppframe.jid import InvalidJID, prepareLocalpart
    except ImportError:
        prepareLocalpart = None
    if prepareLocalpart is not None:
        try:
            return prepareLocalpart(name)
        except InvalidJID:
            return None
    try:
        prepared = get_profile("UsernameCaseMapped").enforce(name)
    except UnicodeError:
        return None
    if any(c in prepared for c in "\"&'/:<>@") or len(prepared.encode("utf-8")) > 1023:
        return None
    return prepared


def _preparePassword(password):
    """
    RFC 6120 §6.3.8 and RFC 8265 §4: passwords are PRECIS OpaqueString.

    @return: the prepared password, or C{None} if it cannot be one.
    """
    try:
        return get_profile("OpaqueString").enforce(password)
    except UnicodeError:
        return None


def _authDomain(auth):
    """
    The domain of the accounts C{auth} holds, if it says.
    """
    for attribute in ("domain", "host", "hostName"):
        value = getattr(auth, attribute, None)
        if isinstance(value, str) and value:
            return value
    return None


def _authzidAllowed(authzid, username, domain):
    """
    RFC 6120 §6.3.8: an authorization identity, when given, must be the
    account's own bare JID (or, leniently, its localpart): a client cannot
    act for another entity.
    """
    local, at, rest = authzid.partition("@")
    if not at:
        return _prepareUsername(authzid) == username
    if "/" in rest or _prepareUsername(local) != username:
        return False
    if domain is None:
        return True
    return rest.rstrip(".").lower() == domain.lower()


class PlainMechanism(ServerMechanism):
    """
    PLAIN (RFC 4616): C{[authzid] NUL authcid NUL passwd}, checked with
    the auth provider's C{checkPassword}.  Offered only on encrypted
    streams (RFC 6120 §13.8.3).
    """

    name = "PLAIN"

    def __init__(self, auth, domain=None):
        super().__init__()
        self.auth = auth
        self.domain = domain if domain is not None else _authDomain(auth)
        self._awaitingResponse = False

    def _start(self, initialResponse):
        if initialResponse is None:
            # RFC 4422 §5: no initial response, so an empty challenge.
            self._awaitingResponse = True
            return SASLChallenge(b"")
        return self._check(initialResponse)

    def _step(self, response):
        if not self._awaitingResponse:
            raise SASLFailure("malformed-request", "PLAIN takes a single message")
        self._awaitingResponse = False
        return self._check(response)

    @staticmethod
    def _parse(message):
        parts = message.split(b"\x00")
        if len(parts) != 3:
            raise SASLFailure("malformed-request",
                              "PLAIN is [authzid] NUL authcid NUL passwd")
        if any(len(part) > _PLAIN_FIELD_MAX for part in parts):
            raise SASLFailure("malformed-request", "a PLAIN field is over 255 octets")
        try:
            authzid, authcid, password = (part.decode("utf-8") for part in parts)
        except UnicodeDecodeError:
            raise SASLFailure("malformed-request", "PLAIN fields must be UTF-8")
        if not authcid or not password:
            raise SASLFailure("malformed-request", "empty user name or password")
        return authzid, authcid, password

    def _check(self, message):
        authzid, authcid, password = self._parse(message)
        username = _prepareUsername(authcid)
        self.attemptedUser = authcid if username is None else username
        if username is None:
            raise SASLFailure("not-authorized")
        self.username = username
        # A password the profile refuses is still handed to the provider,
        # which refuses it at the cost of a real check (no timing oracle).
        prepared = _preparePassword(password)
        d = defer.maybeDeferred(self.auth.checkPassword, username,
                                password if prepared is None else prepared)

        def checked(valid):
            if not valid:
                raise SASLFailure("not-authorized")
            if authzid and not _authzidAllowed(authzid, username, self.domain):
                raise SASLFailure("invalid-authzid", "you may only act as yourself")
            return SASLSuccess(username)

        return d.addCallback(checked)


def _decodeSaslname(name):
    """
    RFC 5802 §5.1: in a saslname, '=2C' is ',' and '=3D' is '='; any other
    '=' is an error.
    """
    index = name.find("=")
    while index != -1:
        if name[index:index + 3] not in ("=2C", "=3D"):
            raise SASLFailure("malformed-request", "bad escape in the SCRAM user name")
        index = name.find("=", index + 3)
    return name.replace("=2C", ",").replace("=3D", "=")


@dataclass(frozen=True)
class _ClientFirst:
    """
    What the server needs from a client-first-message before asking
    scramp: the GS2 channel-binding flag and the user name.
    """
    flag: str            # 'n', 'y' or 'p'
    bindingType: str | None
    authzid: str
    username: str


def _parseClientFirst(text):
    """
    Split a client-first-message (RFC 5802 §7): gs2-header then
    client-first-message-bare, which starts with C{n=saslname}.
    """
    parts = text.split(",", 3)
    if len(parts) < 4:
        raise SASLFailure("malformed-request", "not a SCRAM client-first-message")
    flag, authzid, user = parts[0], parts[1], parts[2]
    bindingType = None
    if flag.startswith("p="):
        bindingType = flag[2:]
        flag = "p"
        if not bindingType:
            raise SASLFailure("malformed-request", "empty channel-binding type")
    elif flag not in ("n", "y"):
        raise SASLFailure("malformed-request", "the GS2 flag must be 'n', 'y' or 'p='")
    if authzid:
        if not authzid.startswith("a=") or len(authzid) == 2:
            raise SASLFailure("malformed-request", "bad authzid in the GS2 header")
        authzid = _decodeSaslname(authzid[2:])
    if user.startswith("m="):
        raise SASLFailure("malformed-request", "SCRAM extensions are not supported")
    if not user.startswith("n=") or len(user) == 2:
        raise SASLFailure("malformed-request", "the SCRAM user name is missing")
    return _ClientFirst(flag, bindingType, authzid, _decodeSaslname(user[2:]))


def _fakeCredentials(username, hashName, iterations):
    """
    Credentials for an account that does not exist: the exchange goes on
    as for a real one and fails at the proof, so that the salt and
    iteration count do not tell who has an account (RFC 5802 §9).
    """
    digest = {"SHA-1": hashlib.sha1, "SHA-256": hashlib.sha256}[hashName]

    def derive(purpose):
        message = ("%s\x00%s\x00%s" % (purpose, hashName, username)).encode("utf-8")
        return hmac.new(_FAKE_CREDENTIALS_KEY, message, digest).digest()

    return derive("salt")[:16], derive("stored-key"), derive("server-key"), iterations


def _asBytes(value):
    if isinstance(value, str):
        return base64.b64decode(value)
    return bytes(value)


#: scramp's server error codes -> RFC 6120 §6.5 conditions.
_SCRAM_CONDITIONS = {
    "invalid-proof": "not-authorized",
    "unknown-user": "not-authorized",
    "channel-bindings-dont-match": "not-authorized",
    "server-does-support-channel-binding": "not-authorized",
    "channel-binding-not-supported": "not-authorized",
    "unsupported-channel-binding-type": "not-authorized",
    "no-resources": "temporary-auth-failure",
    "invalid-encoding": "malformed-request",
    "extensions-not-supported": "malformed-request",
    "invalid-username-encoding": "malformed-request",
    "other-error": "malformed-request",
}


def _scramFailure(error):
    """
    The L{SASLFailure} for a C{scramp.ScramException}.  Authentication
    failures say nothing more than C{not-authorized}; protocol errors keep
    scramp's explanation, which helps client developers.
    """
    code = error.server_error.value if error.server_error is not None else "other-error"
    condition = _SCRAM_CONDITIONS.get(code, "malformed-request")
    if condition == "not-authorized":
        return SASLFailure(condition)
    return SASLFailure(condition, error.args[0] if error.args else None)


class ScramServerMechanism(ServerMechanism):
    """
    SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants (RFC 5802,
    RFC 7677), computed by scramp.

    @param name: the mechanism name.
    @param auth: the host's L{IAuthProvider}.
    @param channelBindings: type -> data of the TLS connection.
    @param offersPlus: whether the server advertised a -PLUS mechanism on
        this stream; a client flag 'y' then means a downgrade (RFC 5802
        §6).
    @param serverNonce: a fixed server nonce, for test vectors only.
    """

    _HASHES = {"SCRAM-SHA-1": "SHA-1", "SCRAM-SHA-256": "SHA-256"}
    #: scramp's mechanism objects hold only their parameters: one each.
    _SCRAMP = {name: scramp.ScramMechanism(name)
               for base in _HASHES for name in (base, base + "-PLUS")}

    def __init__(self, name, auth, channelBindings=None, offersPlus=False,
                 iterations=_MIN_ITERATIONS, serverNonce=None):
        super().__init__()
        self.name = name
        self.plus = name.endswith("-PLUS")
        base = name[:-len("-PLUS")] if self.plus else name
        if base not in self._HASHES:
            raise SASLFailure("invalid-mechanism")
        self.hashName = self._HASHES[base]
        self.auth = auth
        self.bindings = _scramBindings(channelBindings or {})
        if self.plus and not self.bindings:
            raise SASLFailure("invalid-mechanism", "no channel binding on this stream")
        self.offersPlus = offersPlus
        self.iterations = iterations
        self.serverNonce = serverNonce
        self._server = None
        self._username = None
        self._known = False

    def _start(self, initialResponse):
        if initialResponse is None:
            return SASLChallenge(b"")
        return self._clientFirst(initialResponse)

    def _step(self, response):
        if self._server is None and self._username is None:
            return self._clientFirst(response)
        if self._server is None:
            raise SASLFailure("malformed-request", "the exchange is not at that stage")
        return self._clientFinal(response)

    @staticmethod
    def _text(data):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise SASLFailure("malformed-request", "SCRAM messages are UTF-8")

    def _checkBinding(self, first):
        """
        RFC 5802 §6: the GS2 flag against the mechanism and what the server
        offered.
        """
        if first.flag == "p":
            if not self.plus:
                raise SASLFailure("malformed-request",
                                  "channel binding needs a -PLUS mechanism")
            if first.bindingType not in self.bindings:
                raise SASLFailure("not-authorized", "unsupported channel-binding type %r"
                                  % (first.bindingType,))
        elif self.plus:
            raise SASLFailure("malformed-request", "%s needs channel binding ('p=')" % self.name)
        elif first.flag == "y" and self.offersPlus:
            # The client thinks we cannot bind, but we offered -PLUS: an
            # attacker removed it from the features.
            raise SASLFailure("not-authorized", "channel binding downgrade detected")

    def _clientFirst(self, data):
        text = self._text(data)
        first = _parseClientFirst(text)
        self._checkBinding(first)
        if first.authzid:
            # scramp only verifies GS2 headers without an authzid.
            raise SASLFailure("invalid-authzid",
                              "leave the SCRAM authorization identity empty")
        username = _prepareUsername(first.username)
        self.username = username
        self._username = username if username is not None else first.username
        self.attemptedUser = self._username
        if username is None:
            d = defer.succeed(None)
        else:
            d = defer.maybeDeferred(self.auth.getScramCredentials, username, self.hashName)
        d.addCallback(self._gotCredentials, text, first)
        return d

    def _gotCredentials(self, credentials, text, first):
        if credentials is None:
            self._known = False
            credentials = _fakeCredentials(self._username, self.hashName, self.iterations)
        else:
            self._known = True
            credentials = (_asBytes(credentials.salt), _asBytes(credentials.storedKey),
                           _asBytes(credentials.serverKey), int(credentials.iterations))
            if credentials[3] < _MIN_ITERATIONS or len(credentials[0]) < 12:
                _log.error("Stored SCRAM credentials of {user} are too weak for scramp "
                           "(salt under 12 bytes or under {min} iterations)",
                           user=self._username, min=_MIN_ITERATIONS)
                raise SASLFailure("temporary-auth-failure")

        channelBinding = None
        if self.plus:
            channelBinding = (first.bindingType, self.bindings[first.bindingType])
        try:
            server = self._SCRAMP[self.name].make_server(
                auth_fn=lambda user: credentials, channel_binding=channelBinding,
                s_nonce=self.serverNonce)
            server.set_client_first(text)
            serverFirst = server.get_server_first()
        except scramp.ScramException as e:
            raise _scramFailure(e)
        self._server = server
        return SASLChallenge(serverFirst.encode("utf-8"))

    def _clientFinal(self, data):
        text = self._text(data)
        server, self._server = self._server, None
        try:
            server.set_client_final(text)
            serverFinal = server.get_server_final()
        except scramp.ScramException as e:
            raise _scramFailure(e)
        if not self._known:
            raise SASLFailure("not-authorized")
        return SASLSuccess(self._username, serverFinal.encode("utf-8"))


def _scramBindings(channelBindings):
    """
    The channel bindings SCRAM-*-PLUS can use, in preference order.
    """
    return {kind: channelBindings[kind] for kind in SCRAM_CHANNEL_BINDING_TYPES
            if channelBindings.get(kind)}


def offeredMechanisms(enabled, encrypted, channelBindings):
    """
    The mechanisms to advertise, strongest first: the enabled ones, with
    -PLUS only when a channel binding is available and PLAIN only on an
    encrypted stream (RFC 6120 §13.8.3).
    """
    enabled = frozenset(enabled)
    canBind = bool(_scramBindings(channelBindings))
    offered = []
    for name in MECHANISM_PREFERENCE:
        if name not in enabled:
            continue
        if name.endswith("-PLUS") and not canBind:
            continue
        if name == "PLAIN" and not encrypted:
            continue
        offered.append(name)
    return offered


def makeMechanism(name, auth, channelBindings, encrypted, enabled=None,
                  iterations=None):
    """
    A fresh L{ServerMechanism} for one exchange.

    @param enabled: the mechanisms enabled on this stream (all of
        L{MECHANISM_PREFERENCE} by default); they decide whether a -PLUS
        mechanism was offered, which a SCRAM client's 'y' flag is checked
        against.
    @param iterations: the iteration count of made-up credentials for
        unknown users (the auth provider's C{iterations} attribute, or 4096),
        which should match the real accounts'.
    @raise SASLFailure: C{invalid-mechanism} if C{name} is not offered.
    """
    if enabled is None:
        enabled = MECHANISM_PREFERENCE
    offered = offeredMechanisms(enabled, encrypted, channelBindings)
    if name not in offered:
        raise SASLFailure("invalid-mechanism")
    if name == "PLAIN":
        return PlainMechanism(auth)
    if iterations is None:
        iterations = getattr(auth, "iterations", None)
        if not isinstance(iterations, int) or iterations < _MIN_ITERATIONS:
            iterations = _MIN_ITERATIONS
    return ScramServerMechanism(
        name, auth, channelBindings,
        offersPlus=any(m.endswith("-PLUS") for m in offered),
        iterations=iterations)


def channelBindingTypesElement(channelBindings):
    """
    The XEP-0440 stream feature listing the channel-binding types the
    server accepts on this stream:
    C{<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding
    type='...'/></sasl-channel-binding>}.

    @return: the element, or C{None} when no usable type is available
        (XEP-0440 §3: the element must list at least one).
    """
    types = list(_scramBindings(channelBindings))
    if not types:
        return None
    element = etree.Element(NS.qname(NS.SASL_CB, "sasl-channel-binding"),
                            nsmap={None: NS.SASL_CB})
    for kind in types:
        etree.SubElement(element, NS.qname(NS.SASL_CB, "channel-binding"), type=kind)
    return element
