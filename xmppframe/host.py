"""
A virtual host: one XMPP domain served by this process, with its own
configuration, event bus, accounts and loaded modules.
"""

from zope.interface import implementer

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
        self._features = set()
        #: Stream feature responders that modules add (see
        #: L{xmppframe.module.ModuleAPI.addStreamResponder}).
        self.responders = []
        self._identities = [("server", "im", "xmppframe")]

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

    def __repr__(self):
        return "<VirtualHost %s>" % (self.name,)
