"""
The XML namespaces xmppframe speaks, named once so that no module types a
namespace string by hand.
"""

STREAMS = "http://etherx.jabber.org/streams"
CLIENT = "jabber:client"
SERVER = "jabber:server"
COMPONENT_ACCEPT = "jabber:component:accept"
STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"
TLS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION = "urn:ietf:params:xml:ns:xmpp-session"
XML = "http://www.w3.org/XML/1998/namespace"
SASL_CB = "urn:xmpp:sasl-cb:0"
PING = "urn:xmpp:ping"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
LAST_ACTIVITY = "jabber:iq:last"

#: Namespaces in which a top-level element is a stanza (RFC 6120 §8).
STANZA_CONTENT = frozenset({CLIENT, SERVER, COMPONENT_ACCEPT})


def qname(namespace, local):
    """
    The Clark-notation name lxml uses, e.g. C{{jabber:client}message}.
    """
    return "{%s}%s" % (namespace, local)
