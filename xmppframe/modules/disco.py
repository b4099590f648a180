"""
Service discovery (XEP-0030) for the server and for its accounts, with the
server's contact addresses (XEP-0157) as an extended information form
(XEP-0128).

Nothing here lists features by hand: the server's disco#info is what the
loaded modules registered on the host (L{ModuleAPI.addFeature},
L{ModuleAPI.addIdentity}), an account's is what they registered with
L{ModuleAPI.addAccountFeature}, and the server's disco#items is what
modules and components added with L{ModuleAPI.addDiscoItem}.

Other modules reach this one as the L{IDisco} service: L{serverInfo}
builds the server's disco#info (entity capabilities hash it, XEP-0115), and
L{addInfoNodeProvider}, L{addItemsNodeProvider} and L{addInfoForm} extend
what it answers.
"""

import re
from copy import deepcopy

from zope.interface import implementer

from twisted.internet import defer

from xmppframe.api import IDisco, IRoster, Module, ModuleOption
from xmppframe.xml.dataforms import Field, Form
from xmppframe.xml.disco import infoQuery, itemsQuery
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS

#: XEP-0157 §7.1 fields, by the option that fills each: "abuse" fills
#: "abuse-addresses", and so on.
CONTACT_KINDS = ("abuse", "admin", "feedback", "sales", "security", "status", "support")

#: The identity of a registered account (category 'account' of the disco
#: categories registry, XEP-0030 §10.2.1), which the server gives for the
#: account's bare JID.
ACCOUNT_IDENTITY = ("account", "registered", None)

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_XML_LANG = NS.qname(NS.XML, "lang")


def _uris(values):
    """
    XEP-0157 §3: the addresses are URIs (mailto:, xmpp:, https:...).
    """
    for value in values:
        if not _URI.match(value):
            return ("every address must be a URI such as 'mailto:abuse@example.org' "
                    "or 'xmpp:abuse@example.org', got %r" % (value,))


@implementer(IDisco)
class DiscoModule(Module):
    """
    Answers disco#info and disco#items for the host and its accounts.

    Options: one per kind of contact address of XEP-0157, each a list of
    URIs, e.g. C{abuse = ["mailto:abuse@example.org"]}.
    """

    name = "disco"
    summary = "service discovery, with contact addresses"
    xeps = ("XEP-0030", "XEP-0128", "XEP-0157")
    optionSchema = {
        kind: ModuleOption("strings", [], _uris,
                           help="XEP-0157 %s-addresses: URIs (mailto:, xmpp:, https:)" % (kind,))
        for kind in CONTACT_KINDS
    }

    def __init__(self, api):
        Module.__init__(self, api)
        self._infoNodeProviders = []
        self._itemsNodeProviders = []
        self._formProviders = []
        self._contactForm = None

    def load(self):
        self.api.provide(IDisco, self)
        for namespace in (NS.DISCO_INFO, NS.DISCO_ITEMS):
            self.api.addFeature(namespace)
            # XEP-0030 §3.1: every entity supports disco#info; the server
            # answers for its accounts.
            self.api.addAccountFeature(namespace)
        info = (NS.DISCO_INFO, "query")
        items = (NS.DISCO_ITEMS, "query")
        self.api.hookIQ("get", "host", info, self._hostInfo)
        self.api.hookIQ("get", "host", items, self._hostItems)
        for target in ("self", "bare"):
            self.api.hookIQ("get", target, info, self._accountInfo)
            self.api.hookIQ("get", target, items, self._accountItems)

    # For other modules

    def serverInfo(self, node=None):
        """
        The server's disco#info C{<query/>}: the host's identities and
        features and the extended forms (XEP-0128), C{node} mirrored.
        """
        host = self.api.host
        return infoQuery(host.identities(), host.features(), self.infoForms(), node)

    def infoForms(self):
        """
        The extended information forms of the server's disco#info: the
        contact addresses (XEP-0157) when any are configured, then those of
        L{addInfoForm} providers.
        """
        forms = []
        if self._contactForm is None:
            options = self.api.options
            fields = [Field("%s-addresses" % (kind,), "list-multi", values=options[kind])
                      for kind in CONTACT_KINDS if options[kind]]
            # The options do not change while the module is loaded.
            self._contactForm = (
                Form("result", NS.SERVERINFO, fields).toElement() if fields else False)
        if self._contactForm is not False:
            forms.append(deepcopy(self._contactForm))
        for provider in self._formProviders:
            form = provider()
            if form is not None:
                # A new element each time: appending one moves it.
                forms.append(deepcopy(form))
        return forms

    def addInfoForm(self, provider):
        """
        Add C{provider()}, returning a C{jabber:x:data} form element of
        type 'result' with a FORM_TYPE (or C{None}), to the server's
        disco#info (XEP-0128 §2).
        """
        self._formProviders.append(provider)

    def removeInfoForm(self, provider):
        if provider in self._formProviders:
            self._formProviders.remove(provider)

    def addInfoNodeProvider(self, provider):
        """
        Answer disco#info for nodes of the server (XEP-0030 §3.2):
        C{provider(node)} returns the C{<query/>} element (with C{node}
        mirrored) for nodes it knows, C{None} for others.
        """
        self._infoNodeProviders.append(provider)

    def removeInfoNodeProvider(self, provider):
        if provider in self._infoNodeProviders:
            self._infoNodeProviders.remove(provider)

    def addItemsNodeProvider(self, provider):
        """
        As L{addInfoNodeProvider}, for disco#items of nodes (XEP-0030 §4.2).
        """
        self._itemsNodeProviders.append(provider)

    def removeItemsNodeProvider(self, provider):
        if provider in self._itemsNodeProviders:
            self._itemsNodeProviders.remove(provider)

    # The server

    def _hostInfo(self, event):
        node = event.stanza[0].get("node")
        if node is None:
            return self.serverInfo()
        return self._fromProviders(self._infoNodeProviders, node)

    def _hostItems(self, event):
        node = event.stanza[0].get("node")
        if node is None:
            return itemsQuery(self.api.host.discoItems())
        return self._fromProviders(self._itemsNodeProviders, node)

    def _fromProviders(self, providers, node):
        for provider in providers:
            result = provider(node)
            if result is not None:
                return result
        # XEP-0030 §7: a node that does not exist.
        raise StanzaError("item-not-found")

    # Accounts

    @defer.inlineCallbacks
    def _mayDiscover(self, event):
        """
        XEP-0030 §8: the server answers for an account only when it
        exists and the requester may see its presence (a subscription of
        type 'from' or 'both' in the account's roster), or is the account
        itself or this server.

        @return: Deferred firing with C{(exists, authorized)}.
        """
        to = event.to.bare
        exists = yield self.api.host.auth.userExists(to.localpart)
        if not exists:
            return False, False
        sender = event.sender
        if sender.bare == to:
            return True, True
        if sender.localpart is None and sender.domain == self.api.host.name:
            return True, True
        roster = self.api.service(IRoster)
        if roster is None:
            return True, False
        item = yield roster.getItem(to.localpart, sender.bare)
        return True, item is not None and item.subscribedFrom

    @defer.inlineCallbacks
    def _accountInfo(self, event):
        exists, authorized = yield self._mayDiscover(event)
        if not (exists and authorized):
            # §8 rule 1: the same answer whether the account is missing
            # or hidden, so that accounts cannot be harvested.
            raise StanzaError("service-unavailable")
        node = event.stanza[0].get("node")
        if node is not None:
            raise StanzaError("item-not-found")
        return infoQuery([ACCOUNT_IDENTITY], self.api.host.accountFeatures())

    @defer.inlineCallbacks
    def _accountItems(self, event):
        node = event.stanza[0].get("node")
        exists, authorized = yield self._mayDiscover(event)
        if not (exists and authorized):
            # §8 rule 2: an empty result, node or not.
            return itemsQuery((), node)
        if node is not None:
            raise StanzaError("item-not-found")
        # Available resources are not listed (§8 rule 2 leaves it open).
        return itemsQuery(())
