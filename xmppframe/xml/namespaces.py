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

#: Namespaces in which a top-level element is a stanza (RFC 6120 §8).
STANZA_CONTENT = frozenset({CLIENT, SERVER, COMPONENT_ACCEPT})


def qname(namespace, local):
    """
    The Clark-notation name lxml uses, e.g. C{{jabber:client}message}.
    """
    return "{%s}%s" % (namespace, local)

# Message archives (XEP-0313 §10.1) and what an archive's messages carry,
# and rosters (RFC 6121 §2).
MAM = "urn:xmpp:mam:2"
#: The disco feature of the extended query fields (XEP-0313 §4.1.3, §7).
MAM_EXTENDED = "urn:xmpp:mam:2#extended"
#: Unique and stable stanza ids (XEP-0359 §8.1).
SID = "urn:xmpp:sid:0"
#: Stanza forwarding (XEP-0297).
FORWARD = "urn:xmpp:forward:0"
#: Delayed delivery (XEP-0203).
DELAY = "urn:xmpp:delay"
#: Message processing hints (XEP-0334).
HINTS = "urn:xmpp:hints"
#: Data forms validation (XEP-0122).
XDATA_VALIDATE = "http://jabber.org/protocol/xdata-validate"
#: The roster (RFC 6121 §2.1).
ROSTER = "jabber:iq:roster"
#: The roster versioning stream feature (RFC 6121 §2.6.1).
ROSTER_VERSIONING = "urn:xmpp:features:rosterver"
