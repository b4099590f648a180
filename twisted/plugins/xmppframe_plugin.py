"""
Makes C{twistd xmppframe} available.  This directory has no __init__.py on
purpose: Twisted collects every twisted/plugins directory on sys.path.
"""

from twisted.application.service import ServiceMaker

xmppframe = ServiceMaker(
    "xmppframe", "xmppframe.tap", "An XMPP server (RFC 6120/6121)", "xmppframe")
