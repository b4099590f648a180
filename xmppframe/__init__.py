"""
xmppframe: an XMPP server, and a framework for building XMPP services, on Twisted.

The server is assembled from small components that meet at the zope
interfaces in L{xmppframe.interfaces}; see C{docs/architecture.md}.
"""

__version__ = "0.1.0"
