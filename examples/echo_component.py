"""
An echo service: every chat or normal message sent to it (or to any JID at
its domain) comes back with the same body.  Written once on
L{xmppframe.service.Service}, it runs two ways:

  - In process: put C{"echo"} in a host's C{modules} with the plugin
    C{examples/twisted/plugins/xmppframe_examples.py} installed (or give
    C{EchoModule} to C{Server.extraModules}) and, optionally, choose the
    domain: C{[hosts."localhost".options.echo] domain = "echo.localhost"}.
  - As an external XEP-0114 component, against xmppframe (with
    C{[components.secrets] "echo.localhost" = "s3cret"}) or Prosody
    (C{Component "echo.localhost"} with C{component_secret})::

        python examples/echo_component.py --domain echo.localhost \\
            --secret s3cret --server 127.0.0.1 --port 5347
"""

import argparse
import sys

from lxml import etree

from xmppframe.service import Service, serviceModule
from xmppframe.streams.componentclient import ComponentClientFactory
from xmppframe.xml import namespaces as NS

_BODY = NS.qname(NS.CLIENT, "body")


class EchoService(Service):
    """
    Answers each message with its own body.
    """

    name = "echo"
    summary = "an echo service (examples/echo_component.py)"
    identities = (("component", "generic", "Echo service"),)

    def onMessage(self, message):
        if message.get("type") not in (None, "normal", "chat"):
            return
        body = message.findtext(_BODY)
        if body is None:
            return
        reply = etree.Element(message.tag, nsmap={None: NS.CLIENT})
        reply.set("to", message.get("from"))
        reply.set("from", message.get("to"))
        reply.set("type", message.get("type") or "normal")
        if message.get("id") is not None:
            reply.set("id", message.get("id"))
        etree.SubElement(reply, _BODY).text = body
        self.send(reply)


#: The in-process runner, named by the module plugin.
EchoModule = serviceModule(EchoService)


def parseArguments(argv):
    parser = argparse.ArgumentParser(description="An external XEP-0114 echo component.")
    parser.add_argument("--domain", required=True, help="the component's domain")
    parser.add_argument("--secret", required=True, help="the shared secret")
    parser.add_argument("--server", default="127.0.0.1", help="the server's address")
    parser.add_argument("--port", type=int, default=5347, help="the server's component port")
    return parser.parse_args(argv)


def connectEcho(reactor, domain, secret, server, port):
    """
    Connect an L{EchoService} to C{server}:C{port}; returns its
    L{ComponentClientFactory} (whose C{whenReady} fires once it is in).
    """
    factory = ComponentClientFactory(EchoService(domain, reactor), secret)
    reactor.connectTCP(server, port, factory)
    return factory


def main(reactor, *argv):
    from twisted.internet import defer
    from twisted.logger import globalLogBeginner, textFileLogObserver
    arguments = parseArguments(list(argv))
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])
    connectEcho(reactor, arguments.domain, arguments.secret, arguments.server, arguments.port)
    return defer.Deferred()  # run until interrupted


if __name__ == "__main__":
    from twisted.internet.task import react
    react(main, sys.argv[1:])
