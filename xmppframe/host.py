"""
A virtual host: one XMPP domain served by this process, with its own
configuration, event bus, accounts and loaded modules.
"""

from zope.interface import implementer

from xmppframe.api.services import ServiceRegistry
from xmppframe.events import EventBus
from xmppframe.interfaces import IVirtualHost
from xmppframe.jid import makeJID


@implementer(IVirtualHost)
class VirtualHost:
    """
    One served domain.

    @ivar storage: the L{IStorage} its modules open stores in.
    """

    def __init__(self, config, auth, storage):
        self.name = config.name
        self.jid = makeJID(None, config.name)
        self.config = config
        self.auth = auth
        self.storage = storage
        self.events = EventBus()
        self.modules = {}
        #: What its modules offer each other, by interface (see
        #: L{xmppframe.api.ModuleAPI.provide}).
        self.services = ServiceRegistry()
        self._features = set()
        #: Stream feature responders that modules add (see
        #: L{xmppframe.api.module.ModuleAPI.addStreamResponder}).
        self.responders = []
        #: Top-level elements other than stanzas (e.g. XEP-0352's
        #: C{<active/>}) that modules handle on bound client streams:
        #: Clark name -> C{handler(session, element)} (see
        #: L{xmppframe.api.module.ModuleAPI.addElementHandler}).
        self.elementHandlers = {}
        self._identities = [("server", "im", "xmppframe")]
        #: Disco features of an account's bare JID (XEP-0030 §3.1), which
        #: the server answers for on the account's behalf.
        self._accountFeatures = set()
        #: (jid, node) -> name: the server's disco#items (XEP-0030 §4).
        self._discoItems = {}

    def addFeature(self, namespace):
        """
        Advertise C{namespace} in this host's disco#info.
        """
        self._features.add(namespace)

    def removeFeature(self, namespace):
        self._features.discard(namespace)

    def addIdentity(self, category, type, name):
        identity = (category, type, name)
        if identity not in self._identities:
            self._identities.append(identity)

    def features(self):
        return frozenset(self._features)

    def identities(self):
        return list(self._identities)

    def addAccountFeature(self, namespace):
        """
        Advertise C{namespace} in the disco#info of this host's accounts.
        """
        self._accountFeatures.add(namespace)

    def removeAccountFeature(self, namespace):
        self._accountFeatures.discard(namespace)

    def accountFeatures(self):
        return frozenset(self._accountFeatures)

    def addDiscoItem(self, jid, name=None, node=None):
        """
        List C{jid} (and C{node}) in this host's disco#items, e.g. a
        component or a service of a module.
        """
        self._discoItems[(str(jid), node)] = name

    def removeDiscoItem(self, jid, node=None):
        self._discoItems.pop((str(jid), node), None)

    def discoItems(self):
        """
        @return: a list of C{(jid, node, name)} in the order they were added.
        """
        return [(jid, node, name) for (jid, node), name in self._discoItems.items()]

    def __repr__(self):
        return "<VirtualHost %s>" % (self.name,)
