"""
Jabber-RPC (XEP-0009): Python functions exposed as XML-RPC methods over
XMPP.  A client sends C{<iq type='set'><query xmlns='jabber:iq:rpc'>} with
an XML-RPC C{<methodCall/>} inside (XEP-0009 §4); the service answers with
the C{<methodResponse/>} (§5), a fault for an unknown method or bad
arguments (§6).  The XML-RPC encoding itself is the standard library's
(L{xmlrpc.client.loads} and L{xmlrpc.client.dumps}); only the namespace
differs, since inside the query the XML-RPC elements are in
C{jabber:iq:rpc}.

In process: list C{"rpc"} in a host's modules (see
C{examples/twisted/plugins/xmppframe_examples.py}); externally::

    python examples/jabber_rpc.py --domain rpc.localhost --secret s3cret
"""

import argparse
import sys
import xmlrpc.client

from lxml import etree

from xmppframe.errors import StanzaError
from xmppframe.service import Service, iqHandler, serviceModule
from xmppframe.streams.componentclient import ComponentClientFactory
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

RPC = "jabber:iq:rpc"


def add(a, b):
    return a + b


def upper(text):
    return text.upper()


def echo(*values):
    return list(values)


class RPCService(Service):
    """
    Exposes the functions of L{methods} (name -> callable).
    """

    name = "rpc"
    summary = "Jabber-RPC exposing Python functions (examples/jabber_rpc.py)"
    xeps = ("XEP-0009",)
    identities = (("automation", "rpc", "Jabber-RPC"),)
    methods = {"example.add": add, "example.upper": upper, "example.echo": echo}

    @iqHandler("set", RPC)
    def call(self, iq):
        call = iq[0].find(NS.qname(RPC, "methodCall"))
        if call is None:
            raise StanzaError("bad-request", text="No methodCall in the query")
        try:
            params, method = xmlrpc.client.loads(etree.tostring(_withoutNamespace(call)))
        except Exception:
            raise StanzaError("bad-request", text="Not an XML-RPC methodCall")
        function = self.methods.get(method)
        if function is None:
            response = xmlrpc.client.dumps(
                xmlrpc.client.Fault(1, "unknown method %r" % (method,)), methodresponse=True)
        else:
            try:
                response = xmlrpc.client.dumps((function(*params),), methodresponse=True,
                                               allow_none=True)
            except TypeError as e:
                response = xmlrpc.client.dumps(xmlrpc.client.Fault(2, str(e)),
                                               methodresponse=True)
        query = makeElement(RPC, "query")
        query.append(_inNamespace(etree.fromstring(response.encode("utf-8")), RPC))
        return query


def _withoutNamespace(element):
    copy = etree.Element(etree.QName(element).localname)
    copy.text = element.text
    for child in element:
        sub = _withoutNamespace(child)
        sub.tail = child.tail
        copy.append(sub)
    return copy


def _inNamespace(element, namespace, parent=None):
    """
    A copy of the XML-RPC element C{element} (no namespace) in
    C{namespace}, as XEP-0009 carries it.
    """
    tag = NS.qname(namespace, etree.QName(element).localname)
    if parent is None:
        copy = etree.Element(tag, nsmap={None: namespace})
    else:
        copy = etree.SubElement(parent, tag)
    copy.text = element.text
    copy.tail = element.tail if parent is not None else None
    for child in element:
        _inNamespace(child, namespace, copy)
    return copy


RPCModule = serviceModule(RPCService)


def main(reactor, *argv):
    from twisted.internet import defer
    from twisted.logger import globalLogBeginner, textFileLogObserver
    parser = argparse.ArgumentParser(description="A Jabber-RPC (XEP-0009) component.")
    parser.add_argument("--domain", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--server", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5347)
    arguments = parser.parse_args(list(argv))
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])
    factory = ComponentClientFactory(RPCService(arguments.domain, reactor), arguments.secret)
    reactor.connectTCP(arguments.server, arguments.port, factory)
    return defer.Deferred()


if __name__ == "__main__":
    from twisted.internet.task import react
    react(main, sys.argv[1:])
