"""
Service discovery payloads (XEP-0030): the disco#info and disco#items
queries that the server answers and that modules send.
"""

from lxml import etree

from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

_XML_LANG = NS.qname(NS.XML, "lang")


def infoQuery(identities, features, forms=(), node=None):
    """
    A disco#info C{<query/>} (XEP-0030 §3.1).

    @param identities: C{(category, type, name)} or C{(category, type,
        name, lang)} tuples; C{name} and C{lang} may be C{None}.
    @param features: the feature C{var}s, written sorted.
    @param forms: extended information forms (XEP-0128), elements.
    @param node: mirrored in the result when the request named one
        (XEP-0030 §3.2).
    """
    query = makeElement(NS.DISCO_INFO, "query")
    if node is not None:
        query.set("node", node)
    for identity in identities:
        category, type, name = identity[:3]
        lang = identity[3] if len(identity) > 3 else None
        element = etree.SubElement(query, NS.qname(NS.DISCO_INFO, "identity"))
        element.set("category", category)
        element.set("type", type)
        if name is not None:
            element.set("name", name)
        if lang is not None:
            element.set(_XML_LANG, lang)
    for feature in sorted(features):
        etree.SubElement(query, NS.qname(NS.DISCO_INFO, "feature")).set("var", feature)
    for form in forms:
        query.append(form)
    return query


def itemsQuery(items, node=None):
    """
    A disco#items C{<query/>} (XEP-0030 §4.1) of C{(jid, node, name)}.
    """
    query = makeElement(NS.DISCO_ITEMS, "query")
    if node is not None:
        query.set("node", node)
    for jid, itemNode, name in items:
        element = etree.SubElement(query, NS.qname(NS.DISCO_ITEMS, "item"))
        element.set("jid", str(jid))
        if itemNode is not None:
            element.set("node", itemNode)
        if name is not None:
            element.set("name", name)
    return query
