"""
Stanza helpers every part of the server uses: build elements and stanzas,
serialize them, and build error and result replies (RFC 6120 §8).

Stanzas are lxml elements.  Everything here builds new elements and never
changes the stanza it is given, because a stanza is often still referenced
elsewhere (a broadcast, an archive, the router's caller).
"""

import re
from copy import deepcopy
from xml.sax.saxutils import escape

from lxml import etree

from xmppframe.errors import STANZA_CONDITIONS, StanzaError
from xmppframe.xml import namespaces as NS

__all__ = [
    "serialize", "makeElement", "makeStanza", "errorReply", "isError",
    "iqResult", "streamErrorBytes", "stanzaErrorFromElement",
]

_KINDS = frozenset({"message", "presence", "iq"})
_XML_LANG = NS.qname(NS.XML, "lang")
_STANZA_ERROR_TEXT = NS.qname(NS.STANZA_ERRORS, "text")
_STANZA_ERRORS_PREFIX = NS.qname(NS.STANZA_ERRORS, "")
_STANZA_ERRORS_NSMAP = {None: NS.STANZA_ERRORS}

#: Characters XML 1.0 does not allow at all (§2.2), even escaped.
_NOT_XML_CHARS = re.compile(
    "[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_tostring = etree.tostring


def serialize(element):
    """
    The UTF-8 bytes of C{element}, without an XML declaration or the
    element's tail.
    """
    return _tostring(element, encoding="utf-8", with_tail=False)


def makeElement(namespace, local, attrib=None):
    """
    A new element C{{namespace}local} that declares C{namespace} as its
    default namespace, so it serializes without a prefix.
    """
    return etree.Element(NS.qname(namespace, local), attrib, nsmap={None: namespace})


def makeStanza(kind, namespace=NS.CLIENT, to=None, from_=None, type=None, id=None):
    """
    A new C{<message/>}, C{<presence/>} or C{<iq/>} in C{namespace}.

    C{to} and C{from_} may be strings or JID objects (anything whose
    C{str()} is the address).
    """
    if kind not in _KINDS:
        raise ValueError("not a stanza kind: %r" % (kind,))
    stanza = makeElement(namespace, kind)
    if to is not None:
        stanza.set("to", str(to))
    if from_ is not None:
        stanza.set("from", str(from_))
    if type is not None:
        stanza.set("type", type)
    if id is not None:
        stanza.set("id", id)
    return stanza


def isError(stanza):
    """
    Whether C{stanza} is an error stanza, which must never be answered with
    another error (RFC 6120 §8.3.1 rule 8).
    """
    return stanza.get("type") == "error"


def _replyTo(stanza, type):
    """
    A new, empty stanza of C{stanza}'s kind and namespace with the
    addresses swapped and the same id (RFC 6120 §8.2.3, §8.3.1 rules 2–3).
    """
    tag = stanza.tag
    namespace, _, local = tag[1:].partition("}") if tag[:1] == "{" else (None, "", tag)
    if namespace is None:
        reply = etree.Element(local)
    else:
        reply = makeElement(namespace, local)
    sender = stanza.get("from")
    if sender is not None:
        reply.set("to", sender)
    recipient = stanza.get("to")
    if recipient is not None:
        reply.set("from", recipient)
    reply.set("type", type)
    stanzaID = stanza.get("id")
    if stanzaID is not None:
        reply.set("id", stanzaID)
    elif local == "iq":
        # §8.3.1 rule 3: an IQ error carries an id, empty if the request had none.
        reply.set("id", "")
    return reply


def errorReply(stanza, error, includeOriginal=True):
    """
    The error stanza that answers C{stanza} with C{error} (RFC 6120 §8.3):
    the same kind, addresses swapped, the same id, C{type='error'}, the
    original payload (copied) when C{includeOriginal}, and an C{<error/>}
    child with the defined condition, text and application condition.

    @type error: L{StanzaError}
    @raise ValueError: if C{stanza} is itself an error (§8.3.1 rule 8);
        check with L{isError} first.
    """
    if isError(stanza):
        raise ValueError("an error stanza must not be answered with an error")
    reply = _replyTo(stanza, "error")
    if includeOriginal:
        reply.text = stanza.text
        for child in stanza:
            reply.append(deepcopy(child))
    errorElement = etree.SubElement(reply, _qualify(reply, "error"))
    errorElement.set("type", error.type)
    by = getattr(error, "by", None)
    if by is not None:
        errorElement.set("by", str(by))
    etree.SubElement(errorElement, _STANZA_ERRORS_PREFIX + error.condition,
                     nsmap=_STANZA_ERRORS_NSMAP)
    if error.text:
        text = etree.SubElement(errorElement, _STANZA_ERROR_TEXT, nsmap=_STANZA_ERRORS_NSMAP)
        text.set(_XML_LANG, "en")
        text.text = _xmlChars(error.text)
    if error.appCondition is not None:
        errorElement.append(deepcopy(error.appCondition))
    return reply


def iqResult(iq, child=None):
    """
    The C{type='result'} answer to C{iq} (RFC 6120 §8.2.3): addresses
    swapped, the same id, and C{child} (appended as it is) as its payload.
    """
    reply = _replyTo(iq, "result")
    if child is not None:
        reply.append(child)
    return reply


def streamErrorBytes(error):
    """
    The serialized C{<stream:error/>} for C{error} (RFC 6120 §4.9.2).

    The C{stream} prefix is bound by the stream header this is sent under,
    which lxml cannot know, so the bytes are written here; the text is
    escaped and stripped of characters XML does not allow.

    @type error: L{StreamError}
    """
    parts = ["<stream:error><", error.condition, " xmlns='", NS.STREAM_ERRORS, "'/>"]
    if error.text:
        parts.extend([
            "<text xmlns='", NS.STREAM_ERRORS, "' xml:lang='en'>",
            escape(_xmlChars(error.text)), "</text>"])
    parts.append("</stream:error>")
    return "".join(parts).encode("utf-8")


def stanzaErrorFromElement(errorElement):
    """
    Read a received stanza error back into a L{StanzaError}.

    @param errorElement: the C{<error/>} element, or an error stanza
        containing one.
    @return: the error; an unknown or missing condition becomes
        C{undefined-condition} and an unknown type the condition's usual one.
    """
    if _localName(errorElement.tag) != "error":
        for child in errorElement:
            if isinstance(child.tag, str) and _localName(child.tag) == "error":
                errorElement = child
                break
        else:
            raise ValueError("no <error/> element in %r" % (errorElement.tag,))
    condition = None
    text = None
    appCondition = None
    for child in errorElement:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag.startswith(_STANZA_ERRORS_PREFIX):
            local = tag[len(_STANZA_ERRORS_PREFIX):]
            if local == "text":
                text = child.text
            elif condition is None:
                condition = local
        elif appCondition is None:
            appCondition = deepcopy(child)
            appCondition.tail = None
    if condition not in STANZA_CONDITIONS:
        condition = "undefined-condition"
    errorType = errorElement.get("type")
    try:
        return StanzaError(condition, type=errorType, text=text, appCondition=appCondition)
    except ValueError:
        return StanzaError(condition, text=text, appCondition=appCondition)


def _qualify(element, local):
    tag = element.tag
    if tag[:1] == "{":
        return tag[:tag.index("}") + 1] + local
    return local


def _localName(tag):
    return tag.rpartition("}")[2]


def _xmlChars(text):
    return _NOT_XML_CHARS.sub("\ufffd", text)
