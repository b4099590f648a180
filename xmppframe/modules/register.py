"""
In-band registration (XEP-0077): creating an account over a client stream
before authenticating, changing its password, and removing it.

Creating accounts is off unless the host's options say C{open = true}: an
open server is a spam relay waiting to happen, so an operator opts in.
Password changes and removal work for logged-in users whenever the module
is loaded.
"""

from lxml import etree

from twisted.internet import defer

from xmppframe.api import (
    atLeast, InvalidJID, InvalidPassword, Module, ModuleOption, NoSuchUser,
    prepareLocalpart, UserExists)
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import errorReply, iqResult, makeElement

_QUERY = NS.qname(NS.REGISTER, "query")
_IQ = NS.qname(NS.CLIENT, "iq")


def _child(query, local):
    return query.find(NS.qname(NS.REGISTER, local))


def _text(query, local):
    element = _child(query, local)
    if element is None:
        return None
    return element.text or ""


class RegistrationResponder:
    """
    The pre-authentication half (XEP-0077 §3.1, §3.3): the
    C{<register/>} stream feature, and the iqs an unauthenticated client
    may send to create an account.
    """

    def __init__(self, module):
        self.module = module

    def _applies(self, stream):
        return (self.module.open and stream.authenticated is None
                and (stream.encrypted or not stream.requireEncryption))

    def offerKey(self, stream):
        return self._applies(stream)

    def offer(self, stream):
        if not self._applies(stream):
            return []
        return [makeElement(NS.REGISTER_FEATURE, "register")]

    def handlers(self, stream):
        if not self._applies(stream):
            return {}
        return {_IQ: self.handleIQ}

    def handleIQ(self, stream, iq):
        query = iq[0] if len(iq) == 1 else None
        if query is None or query.tag != _QUERY or iq.get("type") not in ("get", "set"):
            # RFC 6120 §6.4 (via §4.9.3.12): nothing but registration before
            # authentication.
            stream.close("not-authorized", "Authenticate first")
            return
        if iq.get("type") == "get":
            stream.sendElement(self._reply(stream, iqResult(iq, self.module.form())))
            return
        d = self.module.register(stream, query)
        d.addCallbacks(
            lambda _: stream.sendElement(self._reply(stream, iqResult(iq))),
            lambda failure: self._failed(stream, iq, failure))

    def _failed(self, stream, iq, failure):
        if failure.check(StanzaError):
            error = failure.value
        else:
            self.module.api.log.failure("registration failed", failure)
            error = StanzaError("internal-server-error")
        stream.sendElement(self._reply(stream, errorReply(iq, error)))

    def _reply(self, stream, reply):
        # The client has no address yet (XEP-0077 §3.1 examples).
        if "to" in reply.attrib:
            del reply.attrib["to"]
        reply.set("from", stream.host.name)
        return reply


class RegisterModule(Module):
    name = "register"
    summary = "in-band registration, password change, account removal"
    xeps = ("XEP-0077",)
    optionSchema = {
        "open": ModuleOption("boolean", False, help="let anyone create an account in band"),
        "min_password_length": ModuleOption("integer", 8, atLeast(1)),
        "min_interval": ModuleOption(
            "number", 60.0, atLeast(0),
            help="seconds between two registrations from one IP address"),
        "instructions": ModuleOption(
            "string", "Choose a username and password for use with this service."),
    }

    def load(self):
        options = self.api.options
        self.open = options["open"]
        self.minPasswordLength = options["min_password_length"]
        self.minInterval = options["min_interval"]
        self._lastRegistration = {}
        self.api.addFeature(NS.REGISTER)
        self.api.addStreamResponder(RegistrationResponder(self))
        for target in ("host", "self"):
            self.api.hookIQ("get", target, (NS.REGISTER, "query"), self.registeredInfo)
            self.api.hookIQ("set", target, (NS.REGISTER, "query"), self.changeOrRemove)

    def form(self):
        """
        The registration fields (XEP-0077 §3.1).
        """
        query = makeElement(NS.REGISTER, "query")
        etree.SubElement(query, NS.qname(NS.REGISTER, "instructions")).text = \
            self.api.options["instructions"]
        etree.SubElement(query, NS.qname(NS.REGISTER, "username"))
        etree.SubElement(query, NS.qname(NS.REGISTER, "password"))
        return query

    # Creating an account

    def register(self, stream, query):
        return defer.ensureDeferred(self._register(stream, query))

    async def _register(self, stream, query):
        """
        XEP-0077 §3.1: a missing or empty field is not-acceptable, a taken
        username a conflict; §3.3 lets a server refuse an address that
        registers too often, and a second registration on one stream.
        """
        if getattr(stream, "registeredInBand", False):
            raise StanzaError("not-acceptable", text="This connection already registered an account")
        if _child(query, "remove") is not None:
            raise StanzaError("registration-required", text="Nothing to remove before logging in")
        username, password = _text(query, "username"), _text(query, "password")
        if not username or not password:
            raise StanzaError("not-acceptable", text="A username and a password are required")
        try:
            username = prepareLocalpart(username)
        except InvalidJID as e:
            raise StanzaError("not-acceptable", text="Not a valid username: %s" % (e,))
        self._checkPassword(password)
        now = self.api.reactor.seconds()
        last = self._lastRegistration.get(stream.peerHost)
        if last is not None and now - last < self.minInterval:
            raise StanzaError("not-acceptable", type="wait",
                              text="Too many registrations from your address; try later")
        try:
            await stream.host.auth.createUser(username, password)
        except UserExists:
            raise StanzaError("conflict", text="That username is taken")
        except InvalidPassword as e:
            raise StanzaError("not-acceptable", text=str(e) or "That password cannot be used")
        self._lastRegistration[stream.peerHost] = now
        self._forgetOld(now)
        stream.registeredInBand = True
        self.api.log.info("{user}@{host} registered in band from {peer}",
                          user=username, host=stream.host.name, peer=stream.peerHost)

    def _forgetOld(self, now):
        if len(self._lastRegistration) > 1000:
            self._lastRegistration = {
                address: when for address, when in self._lastRegistration.items()
                if now - when < self.minInterval}

    def _checkPassword(self, password):
        if len(password) < self.minPasswordLength:
            raise StanzaError("not-acceptable", text="The password must have at least %d characters"
                              % (self.minPasswordLength,))

    # Logged-in users

    def registeredInfo(self, event):
        """
        XEP-0077 §3.1: a registered entity is told so, with its username.
        """
        query = makeElement(NS.REGISTER, "query")
        etree.SubElement(query, NS.qname(NS.REGISTER, "registered"))
        etree.SubElement(query, NS.qname(NS.REGISTER, "username")).text = event.sender.localpart
        etree.SubElement(query, NS.qname(NS.REGISTER, "password"))
        return query

    def changeOrRemove(self, event):
        query = event.stanza[0]
        if _child(query, "remove") is not None:
            return defer.ensureDeferred(self._remove(event, query))
        return defer.ensureDeferred(self._changePassword(event, query))

    async def _changePassword(self, event, query):
        """
        XEP-0077 §3.3: the username must be the user's own, an empty
        password keeps the old one, and the channel must be encrypted.
        """
        user = event.sender.localpart
        username, password = _text(query, "username"), _text(query, "password")
        if username is None or password is None:
            raise StanzaError("bad-request", text="Both username and password are required")
        try:
            username = prepareLocalpart(username)
        except InvalidJID:
            raise StanzaError("not-allowed", text="You can only change your own password")
        if username != user:
            raise StanzaError("not-allowed", text="You can only change your own password")
        if not password:
            raise StanzaError("not-acceptable", text="An empty password is not accepted")
        if event.origin is None or not getattr(event.origin, "encrypted", False):
            raise StanzaError("not-authorized", text="Change passwords over an encrypted stream only")
        self._checkPassword(password)
        try:
            await event.host.auth.setPassword(user, password)
        except InvalidPassword as e:
            raise StanzaError("not-acceptable", text=str(e) or "That password cannot be used")
        self.api.log.info("{user}@{host} changed its password", user=user, host=event.host.name)
        return True

    async def _remove(self, event, query):
        """
        XEP-0077 §3.2: remove the account and everything the server keeps
        for it (every module's L{ACCOUNT_REMOVED} cleanup, waited for),
        answer, then end every session of it with a not-authorized stream
        error.
        """
        if len(query) != 1:
            raise StanzaError("bad-request", text="<remove/> must be the only child")
        user = event.sender.localpart

        def answer():
            # Before the sessions close, so that the requester sees it; the
            # result hookIQ sends afterwards finds the stream closed.
            self.api.reply(event, iqResult(event.stanza))

        try:
            await self.api.removeAccount(user, answer)
        except NoSuchUser:
            raise StanzaError("registration-required")
        self.api.log.info("{user}@{host} removed its account", user=user, host=event.host.name)
        return True
