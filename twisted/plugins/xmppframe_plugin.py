"""
Makes C{twistd xmppframe} available.  This directory has no __init__.py on
purpose: Twisted collects every twisted/plugins directory on sys.path.
"""

from twisted.application.service import ServiceMaker

xmppframe = ServiceMaker(
    "xmppframe", "xmppframe.tap", "An XMPP server (RFC 6120/6121)", "xmppframe")

# The built-in feature modules.  Importing xmppframe.modules is cheap: each
# module's code is imported only when a host loads it.
from xmppframe.modules import ModulePlugin  # noqa: E402

ping = ModulePlugin("ping", (), "xmppframe.modules.ping.PingModule",
                    "XEP-0199: the server answers pings")
