"""
Privacy lists as XML (XEP-0016 §2.1 syntax, §8 schema) and back: bad input
is a C{bad-request} that says what is wrong, and a list past the host's
limit a C{policy-violation}.
"""

from lxml import etree

from xmppframe.api import SUBSCRIPTIONS, InvalidJID, parseJID
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS

from xmppframe.modules.privacy.model import (
    ALLOW, DENY, ITEM_KINDS, ITEM_TYPES, PrivacyItem, PrivacyList)

#: An item's order is an xs:unsignedInt (§8).
MAX_ORDER = 2 ** 32 - 1

QUERY = NS.qname(NS.PRIVACY, "query")
LIST = NS.qname(NS.PRIVACY, "list")
ITEM = NS.qname(NS.PRIVACY, "item")
ACTIVE = NS.qname(NS.PRIVACY, "active")
DEFAULT = NS.qname(NS.PRIVACY, "default")
_KIND_TAGS = {NS.qname(NS.PRIVACY, kind): kind for kind in ITEM_KINDS}


def parseItem(element):
    """
    Read one C{<item/>}.
    """
    action = element.get("action")
    if action not in (ALLOW, DENY):
        raise StanzaError("bad-request", text="An item's action must be 'allow' or 'deny'")
    orderText = element.get("order")
    if orderText is None or not orderText.isdigit() or not orderText.isascii():
        raise StanzaError("bad-request", text="An item's order must be a non-negative integer")
    order = int(orderText)
    if order > MAX_ORDER:
        raise StanzaError("bad-request", text="An item's order must fit an unsignedInt")
    type = element.get("type")
    value = element.get("value")
    if type is None:
        value = None
    elif type not in ITEM_TYPES:
        raise StanzaError("bad-request", text="Unknown item type %r" % (type,))
    elif value is None:
        raise StanzaError("bad-request", text="An item of type %r needs a value" % (type,))
    elif type == "jid":
        try:
            value = parseJID(value)
        except InvalidJID as e:
            raise StanzaError("bad-request", text="Item value is not a JID: %s" % (e,))
    elif type == "subscription" and value not in SUBSCRIPTIONS:
        raise StanzaError("bad-request", text="Unknown subscription state %r" % (value,))
    kinds = set()
    for child in element:
        if not isinstance(child.tag, str):
            continue
        kind = _KIND_TAGS.get(child.tag)
        if kind is None:
            raise StanzaError("bad-request", text="Unknown item child %r" % (child.tag,))
        kinds.add(kind)
    return PrivacyItem(action, order, type, value, frozenset(kinds))


def parseList(element, maxItems=None):
    """
    Read a C{<list/>} with its items.  Orders must be unique (§2.1); more
    than C{maxItems} items is a C{policy-violation}.
    """
    name = element.get("name")
    if not name:
        raise StanzaError("bad-request", text="A list needs a name")
    items = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tag != ITEM:
            raise StanzaError("bad-request", text="A list holds only items")
        items.append(parseItem(child))
    if maxItems is not None and len(items) > maxItems:
        raise StanzaError("policy-violation", text="A list may hold %d items at most" % (maxItems,))
    if len({item.order for item in items}) != len(items):
        raise StanzaError("bad-request", text="Item orders must be unique")
    return PrivacyList(name, tuple(items))


def itemElement(item, parent):
    element = etree.SubElement(parent, ITEM)
    if item.type is not None:
        element.set("type", item.type)
        element.set("value", str(item.value))
    element.set("action", item.action)
    element.set("order", str(item.order))
    for kind in ITEM_KINDS:
        if kind in item.kinds:
            etree.SubElement(element, NS.qname(NS.PRIVACY, kind))
    return element


def listElement(privacyList, parent):
    """
    A C{<list/>} with its items under C{parent} (§2.3).
    """
    element = etree.SubElement(parent, LIST)
    element.set("name", privacyList.name)
    for item in privacyList.items:
        itemElement(item, element)
    return element
