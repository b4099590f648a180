"""
The receiving side of stream negotiation (RFC 6120 §4.3): STARTTLS (§5),
SASL (§6) and resource binding (§7), each a feature responder.

A stream keeps an ordered list of responders, the receiving-side mirror of
the initializer list of Twisted's C{XMPPAuthenticator}: each one says which
feature elements it offers in the current state and which top-level
elements it handles.  The stream itself knows nothing of the features.
"""

import base64
import binascii

from lxml import etree

from twisted.logger import Logger

from xmppframe.errors import StanzaError
from xmppframe.jid import InvalidJID, prepareResourcepart
from xmppframe.streams import sasl
from xmppframe.streams.tls import channelBindings
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import errorReply, iqResult, makeElement

_log = Logger()


class StartTLSResponder:
    """
    STARTTLS (RFC 6120 §5.4).  Offered until the stream is encrypted, and
    marked C{<required/>} when the server requires encryption (§5.3.1).
    """

    STARTTLS = NS.qname(NS.TLS, "starttls")

    def offer(self, stream):
        if stream.encrypted or stream.tlsContext is None:
            return []
        element = makeElement(NS.TLS, "starttls")
        if stream.requireEncryption:
            etree.SubElement(element, NS.qname(NS.TLS, "required"))
        return [element]

    def offerKey(self, stream):
        """
        What L{offer}, L{handlers} and L{restrictsOthers} depend on (see
        L{xmppframe.streams.c2s.FeaturesCache}).
        """
        return (stream.encrypted, stream.tlsContext is None, stream.requireEncryption)

    def restrictsOthers(self, stream):
        """
        Whether this is the only feature to offer now (§5.3.1: a mandatory
        STARTTLS is offered alone).
        """
        return (not stream.encrypted and stream.tlsContext is not None
                and stream.requireEncryption)

    def handlers(self, stream):
        if stream.encrypted or stream.tlsContext is None:
            return {}
        return {self.STARTTLS: self.handleStartTLS}

    def handleStartTLS(self, stream, element):
        stream.sendElement(makeElement(NS.TLS, "proceed"))
        stream.startTLS()


class SASLResponder:
    """
    SASL authentication (RFC 6120 §6.4).

    Failures are answered after the delay the server's
    L{AuthFailureThrottle} gives for the peer's address and the account the
    attempt named, and a stream that fails C{maxAttempts} times is closed
    with C{policy-violation} (§6.4.5).
    """

    AUTH = NS.qname(NS.SASL, "auth")
    RESPONSE = NS.qname(NS.SASL, "response")
    ABORT = NS.qname(NS.SASL, "abort")

    def __init__(self, maxAttempts=5):
        self.maxAttempts = maxAttempts

    def _available(self, stream):
        return stream.authenticated is None and (
            stream.encrypted or not stream.requireEncryption)

    def offerKey(self, stream):
        """
        What L{offer} and L{handlers} depend on; on an encrypted stream the
        channel-binding types offered depend on its TLS connection, so it
        cannot say (C{None}).
        """
        if not self._available(stream):
            return ("unavailable", stream.authenticated is None)
        if stream.encrypted:
            return None
        return tuple(stream.mechanisms)

    def _bindings(self, stream):
        connection = stream.tlsConnection()
        if connection is None:
            return {}
        return channelBindings(connection)

    def offer(self, stream):
        if not self._available(stream):
            return []
        bindings = self._bindings(stream)
        names = sasl.offeredMechanisms(stream.mechanisms, stream.encrypted, bindings)
        mechanisms = makeElement(NS.SASL, "mechanisms")
        for name in names:
            etree.SubElement(mechanisms, NS.qname(NS.SASL, "mechanism")).text = name
        offers = [mechanisms]
        bindingTypes = sasl.channelBindingTypesElement(bindings)
        if bindingTypes is not None:
            offers.append(bindingTypes)
        return offers

    def handlers(self, stream):
        if stream.authenticated is not None:
            return {}
        return {self.AUTH: self.handleAuth, self.RESPONSE: self.handleResponse,
                self.ABORT: self.handleAbort}

    def handlersWhileRestricted(self, stream):
        """
        What is handled while a mandatory STARTTLS is offered alone
        (RFC 6120 §5.3.1): an C{<auth/>} then gets the SASL failure
        C{encryption-required} (§6.5.4), counted like any failed attempt,
        rather than ending the stream.  L{offerKey} covers it: it is
        C{("unavailable", True)} exactly then.
        """
        if stream.authenticated is not None:
            return {}
        return {self.AUTH: self.handleAuth}

    def handleAuth(self, stream, element):
        state = stream.saslState
        if state.get("busy"):
            return self._fail(stream, sasl.SASLFailure("malformed-request", "An exchange is under way"))
        if not self._available(stream):
            return self._fail(stream, sasl.SASLFailure("encryption-required"))
        name = element.get("mechanism", "")
        try:
            bindings = self._bindings(stream)
            if name not in sasl.offeredMechanisms(stream.mechanisms, stream.encrypted, bindings):
                raise sasl.SASLFailure("invalid-mechanism")
            mechanism = sasl.makeMechanism(name, stream.host.auth, bindings, stream.encrypted,
                                           enabled=stream.mechanisms)
            initial = _decode(element.text, allowAbsent=True)
        except sasl.SASLFailure as failure:
            return self._fail(stream, failure)
        state["mechanism"] = mechanism
        self._run(stream, lambda: mechanism.start(initial))

    def handleResponse(self, stream, element):
        state = stream.saslState
        mechanism = state.get("mechanism")
        if mechanism is None or state.get("busy"):
            return self._fail(stream, sasl.SASLFailure("malformed-request", "No exchange is under way"))
        try:
            data = _decode(element.text, allowAbsent=False)
        except sasl.SASLFailure as failure:
            return self._fail(stream, failure)
        self._run(stream, lambda: mechanism.step(data))

    def handleAbort(self, stream, element):
        stream.saslState.clear()
        self._sendFailure(stream, sasl.SASLFailure("aborted"))

    def _run(self, stream, step):
        state = stream.saslState
        state["busy"] = True
        try:
            d = step()
        except Exception:
            _log.failure("SASL mechanism raised")
            self._fail(stream, sasl.SASLFailure("temporary-auth-failure"))
            return
        d.addCallbacks(lambda result: self._stepped(stream, result),
                       lambda failure: self._failed(stream, failure))

    def _stepped(self, stream, result):
        if stream.closing:
            return
        state = stream.saslState
        state["busy"] = False
        mechanismName = state["mechanism"].name
        if isinstance(result, sasl.SASLChallenge):
            stream.sendBytes(_SASL_CHALLENGE % (base64.b64encode(result.data),))
            return
        state.clear()
        stream.context.authThrottle.succeeded(
            stream.peerHost, _throttleAccount(stream, result.username))
        if result.data:
            stream.sendBytes(_SASL_SUCCESS % (base64.b64encode(result.data),))
        else:
            stream.sendBytes(_SASL_EMPTY_SUCCESS)
        stream.authenticationSucceeded(result.username, mechanismName)

    def _failed(self, stream, failure):
        if failure.check(sasl.SASLFailure):
            self._fail(stream, failure.value)
        else:
            _log.failure("SASL exchange failed", failure)
            self._fail(stream, sasl.SASLFailure("temporary-auth-failure"))

    def _fail(self, stream, failure):
        """
        Answer a failed attempt after the throttle's delay; close the
        stream once there have been too many (§6.4.5).
        """
        state = stream.saslState
        mechanism = state.get("mechanism")
        sasl.logFailure(stream.peerHost, getattr(mechanism, "attemptedUser", None),
                        getattr(stream.host, "name", None),
                        getattr(mechanism, "name", None), failure.condition)
        state.clear()
        stream.saslFailures += 1
        if failure.condition in ("not-authorized", "invalid-authzid"):
            delay = stream.context.authThrottle.failed(
                stream.peerHost, _throttleAccount(stream, getattr(mechanism, "username", None)))
        else:
            delay = 0
        state["busy"] = True
        tooMany = stream.saslFailures >= self.maxAttempts

        def answer():
            if stream.closing:
                return
            state.pop("busy", None)
            self._sendFailure(stream, failure)
            if tooMany:
                stream.close("policy-violation", "Too many failed authentication attempts")

        if delay:
            stream.callLater(delay, answer)
        else:
            answer()

    def _sendFailure(self, stream, failure):
        element = makeElement(NS.SASL, "failure")
        etree.SubElement(element, NS.qname(NS.SASL, failure.condition))
        if failure.text:
            text = etree.SubElement(element, NS.qname(NS.SASL, "text"))
            text.set(NS.qname(NS.XML, "lang"), "en")
            text.text = failure.text
        stream.sendElement(element)


def _throttleAccount(stream, username):
    """
    The account an attempt named, as the login throttle counts it.
    """
    if username is None or stream.host is None:
        return None
    return "%s@%s" % (username, stream.host.name)


# Challenges and successes carry only base64 (RFC 6120 §6.4.3, §6.4.6),
# which needs no escaping: they are written as bytes, not built as trees.
_SASL_CHALLENGE = b'<challenge xmlns="' + NS.SASL.encode() + b'">%s</challenge>'
_SASL_SUCCESS = b'<success xmlns="' + NS.SASL.encode() + b'">%s</success>'
_SASL_EMPTY_SUCCESS = b'<success xmlns="' + NS.SASL.encode() + b'"/>'


def _decode(text, allowAbsent):
    """
    Decode SASL data (RFC 6120 §6.4.2): C{=} is an empty response, no text
    at all is no initial response.
    """
    if text is None or not text.strip():
        if allowAbsent:
            return None
        return b""
    text = text.strip()
    if text == "=":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise sasl.SASLFailure("incorrect-encoding")


class BindResponder:
    """
    Resource binding (RFC 6120 §7), and the RFC 3921 session iq that old
    clients still send (accepted, and advertised as optional per
    RFC 6121's note on it).
    """

    IQ = NS.qname(NS.CLIENT, "iq")
    BIND = NS.qname(NS.BIND, "bind")
    RESOURCE = NS.qname(NS.BIND, "resource")

    def offerKey(self, stream):
        return stream.authenticated is None or stream.jid.resource is not None

    def offer(self, stream):
        if stream.authenticated is None or stream.jid.resource is not None:
            return []
        session = makeElement(NS.SESSION, "session")
        etree.SubElement(session, NS.qname(NS.SESSION, "optional"))
        return [makeElement(NS.BIND, "bind"), session]

    def handlers(self, stream):
        if stream.authenticated is None or stream.jid.resource is not None:
            return {}
        return {self.IQ: self.handleIQ}

    def handleIQ(self, stream, iq):
        if not (iq.get("type") == "set" and len(iq) == 1 and iq[0].tag == self.BIND):
            # §7.1: no stanzas before a resource is bound.
            stream.close("not-authorized", "Bind a resource first")
            return
        if iq.get("id") is None:
            # §8.1.3, §8.2.3 rule 1: an iq must have an id.
            stream.sendElement(errorReply(iq, StanzaError(
                "bad-request", text="An iq needs an 'id' attribute")))
            return
        requested = None
        for child in iq[0]:
            if child.tag == self.RESOURCE:
                requested = (child.text or "").strip()
        if requested == "":
            requested = None
        if requested is not None:
            try:
                requested = prepareResourcepart(requested)
            except InvalidJID as e:
                # §7.7.2.1
                stream.sendElement(errorReply(iq, StanzaError("bad-request", text=str(e))))
                return
        full = stream.bindResource(requested)
        bind = makeElement(NS.BIND, "bind")
        etree.SubElement(bind, NS.qname(NS.BIND, "jid")).text = full.full
        reply = iqResult(iq, bind)
        if "to" in reply.attrib:
            del reply.attrib["to"]
        stream.sendElement(reply)
