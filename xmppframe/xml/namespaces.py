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

# The extensions of the carbons, csi, disco, offline, private, vcard,
# version, time, register, presence and subscription modules.
CARBONS = "urn:xmpp:carbons:2"                          # XEP-0280
FORWARD = "urn:xmpp:forward:0"                          # XEP-0297
HINTS = "urn:xmpp:hints"                                # XEP-0334
MUC_USER = "http://jabber.org/protocol/muc#user"        # XEP-0045
CONFERENCE = "jabber:x:conference"                      # XEP-0249
RECEIPTS = "urn:xmpp:receipts"                          # XEP-0184
CHAT_STATES = "http://jabber.org/protocol/chatstates"   # XEP-0085
CHAT_MARKERS = "urn:xmpp:chat-markers:0"                # XEP-0333
CSI = "urn:xmpp:csi:0"                                  # XEP-0352
SERVERINFO = "http://jabber.org/network/serverinfo"     # XEP-0157 FORM_TYPE
MSGOFFLINE = "msgoffline"                               # XEP-0160 §4 disco feature
DELAY = "urn:xmpp:delay"                                # XEP-0203
PRIVATE = "jabber:iq:private"                           # XEP-0049
VCARD = "vcard-temp"                                    # XEP-0054
VERSION = "jabber:iq:version"                           # XEP-0092
TIME = "urn:xmpp:time"                                  # XEP-0202
REGISTER = "jabber:iq:register"                         # XEP-0077
REGISTER_FEATURE = "http://jabber.org/features/iq-register"  # XEP-0077 §3.1.1
PRE_APPROVAL = "urn:xmpp:features:pre-approval"         # RFC 6121 §3.4

#: Namespaces in which a top-level element is a stanza (RFC 6120 §8).
STANZA_CONTENT = frozenset({CLIENT, SERVER, COMPONENT_ACCEPT})


def qname(namespace, local):
    """
    The Clark-notation name lxml uses, e.g. C{{jabber:client}message}: the
    one way to write one.  C{qname(namespace, "")} is the prefix every name
    in C{namespace} starts with, for C{tag.startswith(...)} tests.
    """
    return "{%s}%s" % (namespace, local)

# Privacy lists and the blocking command: XEP-0016 §7, XEP-0191 §9 (the
# application error condition of a refusal to a blocked JID, §3.3).
PRIVACY = "jabber:iq:privacy"
BLOCKING = "urn:xmpp:blocking"
BLOCKING_ERRORS = "urn:xmpp:blocking:errors"

# Message archives (XEP-0313 §10.1) and what an archive's messages carry,
# and rosters (RFC 6121 §2).
MAM = "urn:xmpp:mam:2"
#: The disco feature of the extended query fields (XEP-0313 §4.1.3, §7).
MAM_EXTENDED = "urn:xmpp:mam:2#extended"
#: Unique and stable stanza ids (XEP-0359 §8.1).
SID = "urn:xmpp:sid:0"
#: Data forms validation (XEP-0122).
XDATA_VALIDATE = "http://jabber.org/protocol/xdata-validate"
#: The roster (RFC 6121 §2.1).
ROSTER = "jabber:iq:roster"
#: The roster versioning stream feature (RFC 6121 §2.6.1).
ROSTER_VERSIONING = "urn:xmpp:features:rosterver"

# Entity capabilities (XEP-0115 §6).
CAPS = "http://jabber.org/protocol/caps"
