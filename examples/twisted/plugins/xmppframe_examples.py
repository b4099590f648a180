"""
The example services as module plugins, as a third-party package ships
them: a C{twisted/plugins/} directory of its own (no C{__init__.py}) on
C{sys.path}.  List a name in a host's C{modules} to run it in process; its
options (C{domain}, plus the service's own) are validated at load.
"""

from xmppframe.modules import ModulePlugin

echo = ModulePlugin("echo", (), "examples.echo_component.EchoModule",
                    "An echo service (examples/echo_component.py)")
rpc = ModulePlugin("rpc", (), "examples.jabber_rpc.RPCModule",
                   "XEP-0009 Jabber-RPC exposing Python functions (examples/jabber_rpc.py)")
irc = ModulePlugin("irc", (), "examples.irc_gateway.IRCGatewayModule",
                   "An IRC gateway: channels as MUC rooms (examples/irc_gateway.py)")
