"""
vcard-temp (XEP-0054): every account has one vCard, kept by the server.

Who may do what (XEP-0054 §3):

  - an account gets and sets its own vCard with an iq that has no 'to' or
    is addressed to its own bare JID (§3.1, §3.2); a set replaces the
    whole vCard (§3.2: "there is no method for partial updates"); an
    empty C{<vCard/>} is stored and returned as such, as other servers do
    (it is how a client clears its vCard, and others then see an empty
    one, not an error);
  - its own vCard, when it has none, is answered with an empty
    C{<vCard/>}, the second of the two answers §3.1 allows, which every
    client understands as "no vCard yet";
  - anyone gets another account's vCard by addressing its bare JID, and
    the server answers on the account's behalf (§3.3); an account that
    does not exist and one that has no vCard both get
    C{service-unavailable}, as §3.3 requires ("the same error condition
    in both cases to help prevent directory harvesting attacks"; RFC 6121
    §8.5.1 for the account that does not exist);
  - nobody sets another account's vCard: C{forbidden} (§3.2);
  - the server's own vCard (§3.3, last note) is addressed to the domain
    and comes from the C{server_vcard} option; nobody sets it.

A vCard is stored as its serialized XML text in the key-value store
C{vcard}, one value per account.  Its size is limited by C{max_size}; a
larger one is refused with C{not-acceptable}, the condition RFC 6120
§8.3.3.9 illustrates with a stanza that is too large for the server.
"""

from copy import deepcopy

from lxml import etree

from twisted.internet import defer

from xmppframe.api import ACCOUNT_REMOVED, atLeast, Module, ModuleOption
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.safe import safeParser
from xmppframe.xml.stanza import makeElement, serialize

__all__ = ["VCardModule", "parseServerVCard"]

# XEP-0054 §4: NS.VCARD is the namespace, also the disco feature.
_VCARD_TAG = NS.qname(NS.VCARD, "vCard")

#: A vCard may not be larger than this many bytes of XML by default.
DEFAULT_MAX_SIZE = 64 * 1024


def _safeParser():
    """
    An lxml parser for XML this module reads back or from the config: no
    entities, no DTD, no network.
    """
    return safeParser()


def _emptyVCard():
    return makeElement(NS.VCARD, "vCard")


def parseServerVCard(text, parser=None):
    """
    The server's vCard from the C{server_vcard} option: either a whole
    C{<vCard xmlns='vcard-temp'>...</vCard>} element or only its children
    (C{<FN>Example Org</FN><URL>https://example.org/</URL>}), which are
    then in the vcard-temp namespace.

    @return: the C{<vCard/>} element (empty when C{text} is blank).
    @raise ValueError: saying why, when the text is not such XML.
    """
    if parser is None:
        parser = _safeParser()
    if not text.strip():
        return _emptyVCard()
    wrapped = "<vCard xmlns='%s'>%s</vCard>" % (NS.VCARD, text)
    try:
        vcard = etree.fromstring(wrapped.encode("utf-8"), parser)
    except etree.XMLSyntaxError as e:
        raise ValueError("vcard: server_vcard is not well-formed XML: %s" % (e,))
    children = [child for child in vcard if isinstance(child.tag, str)]
    if len(children) == 1 and children[0].tag == _VCARD_TAG and not (vcard.text or "").strip():
        vcard = children[0]
        vcard.tail = None
    elif any(child.tag == _VCARD_TAG for child in children):
        raise ValueError("vcard: server_vcard holds a <vCard/> among other elements")
    return vcard


class VCardModule(Module):
    """
    Stores each account's vCard and answers vCard requests for the
    accounts of its host and for the host itself (XEP-0054).
    """

    name = "vcard"
    summary = "vcard-temp, each account's vCard and the server's"
    xeps = ("XEP-0054",)
    optionSchema = {
        "max_size": ModuleOption(
            "integer", DEFAULT_MAX_SIZE, atLeast(1),
            help="Largest vCard accepted, in bytes of XML; a larger one is "
                 "refused with not-acceptable (RFC 6120 §8.3.3.9)."),
        "server_vcard": ModuleOption(
            "string", "",
            help="The server's own vCard (XEP-0054 §3.3): the XML of its "
                 "children, e.g. \"<FN>Example</FN>\"; empty for none."),
    }

    def load(self):
        self._parser = _safeParser()
        self.maxSize = self.api.options["max_size"]
        self.serverVCard = parseServerVCard(self.api.options["server_vcard"], self._parser)
        self.store = self.api.openStore("keyvalue", "vcard")
        self.api.addFeature(NS.VCARD)
        payload = (NS.VCARD, "vCard")
        self.api.hookIQ("get", "self", payload, self.getOwn)
        self.api.hookIQ("set", "self", payload, self.setOwn)
        self.api.hookIQ("get", "bare", payload, self.getOther)
        self.api.hookIQ("set", "bare", payload, self.refuseSet)
        self.api.hookIQ("get", "host", payload, self.getServer)
        self.api.hookIQ("set", "host", payload, self.refuseSet)
        self.api.hook(ACCOUNT_REMOVED, self.accountRemoved)

    def accountRemoved(self, user):
        """
        L{ACCOUNT_REMOVED}: the vCard goes with the account.
        """
        return self.store.delete(user)

    # Storage, for other modules (e.g. XEP-0153 avatar hashes).

    def getVCard(self, user):
        """
        @param user: a local account's username (prepared localpart).
        @return: Deferred firing with its C{<vCard/>} element, or C{None}
            when it has none.
        """
        d = self.store.get(user)
        d.addCallback(lambda text: None if text is None else self._parse(text))
        return d

    def setVCard(self, user, vcard):
        """
        Replace the vCard of C{user} with C{vcard} (a C{<vCard/>} element,
        kept even when empty), or remove it with C{None}.

        @raise StanzaError: C{not-acceptable} (in the Deferred) when it is
            larger than C{max_size}.
        """
        if vcard is None:
            return self.store.set(user, None)
        copy = deepcopy(vcard)
        copy.tail = None
        data = serialize(copy)
        if len(data) > self.maxSize:
            return defer.fail(StanzaError(
                "not-acceptable", text="The vCard is larger than %d bytes" % (self.maxSize,)))
        return self.store.set(user, data.decode("utf-8"))

    def _parse(self, text):
        return etree.fromstring(text.encode("utf-8"), self._parser)

    # IQ handlers

    def getOwn(self, event):
        """
        XEP-0054 §3.1: the account's own vCard, or an empty one.
        """
        d = self.getVCard(event.sender.localpart)
        d.addCallback(lambda vcard: _emptyVCard() if vcard is None else vcard)
        return d

    def setOwn(self, event):
        """
        XEP-0054 §3.2: the whole vCard is replaced.
        """
        d = self.setVCard(event.sender.localpart, event.stanza[0])
        d.addCallback(lambda _: True)
        return d

    def getOther(self, event):
        """
        XEP-0054 §3.3: another account's vCard; C{service-unavailable}
        alike for no vCard and no account.
        """
        return defer.ensureDeferred(self._getOther(event.to.localpart))

    async def _getOther(self, user):
        vcard = await self.getVCard(user)
        if vcard is None or not await self._userExists(user):
            raise StanzaError("service-unavailable")
        return vcard

    def _userExists(self, user):
        auth = self.api.host.auth
        if auth is None:
            return defer.succeed(True)
        return auth.userExists(user)

    def getServer(self, event):
        """
        XEP-0054 §3.3 (note): the server's own vCard.
        """
        return deepcopy(self.serverVCard)

    def refuseSet(self, event):
        """
        XEP-0054 §3.2: only the account itself sets its vCard.
        """
        raise StanzaError("forbidden", text="Only the account itself may set its vCard")

