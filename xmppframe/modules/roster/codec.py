"""
Roster items in XML and in storage, and the checks a roster set passes
(RFC 6121 §2.1.2, §2.1.5, §2.3.3).
"""

import unicodedata

from lxml import etree

from xmppframe.api import InvalidJID, RosterItem
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS

__all__ = [
    "GROUP", "ITEM", "QUERY", "itemElement", "itemFromStored", "removalElement",
    "requestedContact", "requestedNameAndGroups", "storedFromItem",
]

QUERY = NS.qname(NS.ROSTER, "query")
ITEM = NS.qname(NS.ROSTER, "item")
GROUP = NS.qname(NS.ROSTER, "group")


def itemFromStored(jid, value):
    """
    The L{RosterItem} of C{jid} stored as C{value} (a dict).
    """
    return RosterItem(
        jid=jid, name=value.get("name") or None, groups=tuple(value.get("groups") or ()),
        subscription=value.get("subscription", "none"), ask=bool(value.get("ask")),
        approved=bool(value.get("approved")))


def storedFromItem(item, number):
    """
    What is stored of C{item}, changed by change C{number} (the roster
    version it was last modified in, RFC 6121 §2.6).
    """
    return {"name": item.name, "groups": list(item.groups), "subscription": item.subscription,
            "ask": item.ask, "approved": item.approved, "ver": number}


def itemElement(item):
    """
    The C{<item/>} of a roster result or push (RFC 6121 §2.1.2): jid,
    name, subscription, C{ask='subscribe'} while Pending Out (§2.1.2.2),
    C{approved='true'} for a pre-approval (§2.1.2.1, §3.4), and groups.
    """
    element = etree.Element(ITEM, jid=item.jid.full)
    if item.name:
        element.set("name", item.name)
    element.set("subscription", item.subscription)
    if item.ask:
        element.set("ask", "subscribe")
    if item.approved:
        element.set("approved", "true")
    for group in item.groups:
        etree.SubElement(element, GROUP).text = group
    return element


def removalElement(jid):
    """
    The C{<item/>} of a push announcing a removal (RFC 6121 §2.5.2).
    """
    return etree.Element(ITEM, jid=jid.full, subscription="remove")


def _sameGroup(name):
    """
    The key under which two group names are duplicates (RFC 6121 §2.3.3
    suggests resourcepart comparison; Unicode normalisation form C is the
    part of it that matters for names a client sends).
    """
    return unicodedata.normalize("NFC", name)


def requestedContact(element, sender, parseJID):
    """
    The contact a roster set's C{<item/>} names (RFC 6121 §2.1.2.3, §2.3.3).

    @raise StanzaError: C{bad-request} without a 'jid', C{jid-malformed}
        for one that is not a bare JID, C{not-allowed} for the sender's own.
    """
    text = element.get("jid")
    if text is None:
        # §2.1.2.3: the 'jid' attribute is REQUIRED.
        raise StanzaError("bad-request", text="A roster item needs a 'jid'")
    try:
        contact = parseJID(text)
    except InvalidJID as e:
        raise StanzaError("jid-malformed", text=str(e))
    if contact.resource is not None:
        raise StanzaError("jid-malformed", text="A roster item is a bare JID")
    if contact == sender.bare:
        # §2.3.3 interoperability note: an account is not its own contact.
        raise StanzaError("not-allowed", text="Your own JID cannot be in your roster")
    return contact


def requestedNameAndGroups(element, options):
    """
    A roster set's handle and groups, checked against RFC 6121 §2.3.3 and
    the module's limits (C{options}).

    @return: C{(name or None, tuple of groups)}.
    """
    # §2.4.1: an empty 'name' is the same as none.
    name = element.get("name") or None
    if name is not None and len(name) > options["max_name_length"]:
        raise StanzaError("not-acceptable", text="The name is longer than %d characters"
                          % (options["max_name_length"],))
    groups = []
    seen = set()
    for child in element:
        if child.tag != GROUP:
            continue
        group = child.text or ""
        if not group:
            raise StanzaError("not-acceptable", text="A group name may not be empty")
        if len(group) > options["max_group_length"]:
            raise StanzaError("not-acceptable", text="A group name is longer than %d characters"
                              % (options["max_group_length"],))
        key = _sameGroup(group)
        if key in seen:
            raise StanzaError("bad-request", text="Duplicate group %r" % (group,))
        seen.add(key)
        groups.append(group)
    if len(groups) > options["max_groups"]:
        raise StanzaError("not-acceptable", text="An item may be in %d groups at most"
                          % (options["max_groups"],))
    return name, tuple(groups)
