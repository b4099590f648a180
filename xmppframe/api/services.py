"""
Typed services between modules.

A module that offers something to others (the roster's items, the privacy
policy, the archive) provides an object for a zope interface; a module that
needs it asks for that interface and declares the providing module as a
dependency.  Modules never look each other up by name or reach into
another module's attributes.
"""


class ServiceRegistry:
    """
    One host's services: interface -> the object that provides it.
    """

    def __init__(self):
        self._providers = {}
        #: The host's L{xmppframe.api.requests.RequestTracker}, made when a
        #: module first sends a request or a push.
        self.requests = None

    def provide(self, interface, provider):
        """
        @raise ValueError: if C{provider} does not provide C{interface},
            or another object already provides it on this host.
        """
        if not interface.providedBy(provider):
            raise ValueError("%r does not provide %s" % (provider, interface.__name__))
        if interface in self._providers:
            raise ValueError("%s is already provided by %r"
                             % (interface.__name__, self._providers[interface]))
        self._providers[interface] = provider

    def withdraw(self, interface, provider):
        if self._providers.get(interface) is provider:
            del self._providers[interface]

    def get(self, interface):
        """
        @return: what provides C{interface}, or C{None}.
        """
        return self._providers.get(interface)
