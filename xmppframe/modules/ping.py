"""
XMPP Ping (XEP-0199): the server answers pings addressed to it.

Clients ping their server to check the connection (XEP-0199 §4.2), and the
test suite uses the answer to know that everything sent before the ping has
been processed.
"""

from xmppframe.module import Module
from xmppframe.xml import namespaces as NS


class PingModule(Module):
    name = "ping"

    def load(self):
        self.api.addFeature(NS.PING)
        for target in ("host", "self"):
            # XEP-0199 §4.2: a ping to the server, or to the client's own
            # bare JID which the server answers on the account's behalf.
            self.api.hookIQ("get", target, (NS.PING, "ping"), self.pong)

    def pong(self, event):
        return True
