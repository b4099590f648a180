"""
The twistd entry point: C{twistd -n xmppframe [--config FILE]}.
"""

import os

from twisted.python import usage

from xmppframe.config import ConfigError, loadConfig
from xmppframe.server import Server, ServerService

DEFAULT_CONFIG = "xmppframe.toml"


class Options(usage.Options):
    synopsis = "[--config FILE]"
    longdesc = (
        "Run the xmppframe XMPP server.  With no --config, ./xmppframe.toml "
        "is read if it exists; otherwise the built-in defaults serve the "
        "domain 'localhost': clients on ports 5222 (STARTTLS) and 5223 (Direct "
        "TLS), federation on 5269, with SQLite storage and a self-signed "
        "certificate in ./data.")
    optParameters = [
        ["config", "c", None, "The TOML configuration file."],
    ]

    def postOptions(self):
        path = self["config"]
        if path is None and os.path.exists(DEFAULT_CONFIG):
            path = DEFAULT_CONFIG
        try:
            self["loadedConfig"] = loadConfig(path)
        except ConfigError as e:
            raise usage.UsageError(str(e))


def makeService(options, reactor=None):
    """
    Build the service twistd runs from parsed L{Options}.
    """
    if reactor is None:
        from twisted.internet import reactor
    return ServerService(Server(options["loadedConfig"], reactor))
