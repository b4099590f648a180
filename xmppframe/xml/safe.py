"""
The one way to make an lxml parser in xmppframe.

Every byte the server parses came from a peer at some point: a stream, a
stored payload (an offline message, an archived one, private XML, a
vCard), a subscription request kept for later.  libxml2's defaults are
made for documents one trusts, so every parser here turns off, in one
place, what XMPP never needs and an attacker could use (RFC 6120 §11.1
forbids DTDs, comments and processing instructions on a stream):

  - C{resolve_entities=False}: no entity is expanded, so no "billion
    laughs" and no external entity that reads a file;
  - C{no_network=True}: libxml2 never fetches anything over the network;
  - C{load_dtd=False}: no DTD is read, so none can declare entities or
    default attributes;
  - C{huge_tree=False}: libxml2's own limits on depth and text size stay
    in force, whatever the stanza size limit;
  - C{remove_comments=True}, C{remove_pis=True}: a payload read back from
    storage carries no comment or processing instruction that a client
    would then receive (they cannot arrive over a stream, but a database
    may hold anything).

A caller that needs something else says so with an override, and a
comment why: the stream parser (L{xmppframe.xml.parser}) keeps comments
and PIs as events so that it can refuse them with C{restricted-xml}, and
resolves "internal" entities because its prologue scan has already made
sure no entity can be declared.
"""

from lxml import etree

__all__ = ["SAFE_OPTIONS", "safeParser", "safePullParser"]

#: The parser options every parser starts from.
SAFE_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def safeParser(**overrides):
    """
    A new C{etree.XMLParser} with L{SAFE_OPTIONS}, updated by C{overrides}
    (keyword arguments of C{XMLParser}).  One parser serves any number of
    C{etree.fromstring(data, parser)} calls in the reactor thread, so a
    module makes one, not one per call.
    """
    return etree.XMLParser(**dict(SAFE_OPTIONS, **overrides))


def safePullParser(events=("start", "end"), **overrides):
    """
    A new C{etree.XMLPullParser} for C{events}, with L{SAFE_OPTIONS}
    updated by C{overrides}: the incremental parser, for data that arrives
    in pieces.
    """
    return etree.XMLPullParser(events=events, **dict(SAFE_OPTIONS, **overrides))
