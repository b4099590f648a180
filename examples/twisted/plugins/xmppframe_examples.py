"""
The example services as module plugins, as a third-party package ships
them: a C{twisted/plugins/} directory of its own (no C{__init__.py}) on
C{sys.path}.  List a name in a host's C{modules} to run it in process; its
options (C{domain}, plus the service's own) are validated at load.
"""

from xmppframe.moduleloader import ModulePlugin

echo = ModulePlugin("examples.echo_component.EchoModule")
rpc = ModulePlugin("examples.jabber_rpc.RPCModule")
irc = ModulePlugin("examples.irc_gateway.IRCGatewayModule")
