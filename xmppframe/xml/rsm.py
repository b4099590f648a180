"""
Result Set Management (XEP-0059): read the C{<set/>} a requester sends
and build the C{<set/>} a responder answers with.

Only the wire format lives here; what the item UIDs are and how a page is
found is the business of the protocol that pages (MAM, disco#items,
search...).  Bad input raises L{StanzaError} C{bad-request}, so a module can
let it propagate to its iq handler and the requester gets a clear error.
"""

from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

__all__ = ["NS_RSM", "ResultSetRequest", "parseRequest", "findRequest", "buildResponse"]

#: XEP-0059 §10: the protocol namespace.
NS_RSM = "http://jabber.org/protocol/rsm"

_SET = NS.qname(NS_RSM, "set")
_RSM_PREFIX = NS.qname(NS_RSM, "")


class ResultSetRequest:
    """
    What a requester asked for (XEP-0059 §2).

    @ivar max: the most items wanted in the page (§2.1), or C{None} when
        the requester gave no limit.
    @ivar after: the UID the page starts after (§2.2), or C{None}.
    @ivar before: the UID the page ends before (§2.3); C{""} for an empty
        C{<before/>}, which asks for the last page (§2.5); C{None} when
        absent.
    @ivar index: the position of the first item wanted (§2.6), or C{None}.
    """

    __slots__ = ("max", "after", "before", "index")

    def __init__(self, max=None, after=None, before=None, index=None):
        self.max = max
        self.after = after
        self.before = before
        self.index = index

    @property
    def backwards(self):
        """
        Whether the page is counted back from its end (a C{<before/>},
        XEP-0059 §2.3, §2.5).
        """
        return self.before is not None

    def __eq__(self, other):
        if not isinstance(other, ResultSetRequest):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self):
        return "ResultSetRequest(%s)" % ", ".join(
            "%s=%r" % (name, getattr(self, name)) for name in self.__slots__)


def _localName(tag):
    return tag.rpartition("}")[2] if isinstance(tag, str) else None


def _nonNegative(element, what):
    text = (element.text or "").strip()
    if not (text.isascii() and text.isdigit()):
        raise StanzaError("bad-request", text="RSM <%s/> must be a non-negative integer, not %r"
                          % (what, text))
    return int(text)


def parseRequest(setElement):
    """
    Read a requester's C{<set xmlns='http://jabber.org/protocol/rsm'/>}.

    @return: a L{ResultSetRequest}.
    @raise StanzaError: C{bad-request} for a C{<max/>} or C{<index/>} that
        is not a non-negative integer, an empty C{<after/>}, or an element
        given twice.
    """
    seen = set()
    request = ResultSetRequest()
    for child in setElement:
        local = _localName(child.tag)
        if local is None or not child.tag.startswith(_RSM_PREFIX):
            continue
        if local in seen and local in ResultSetRequest.__slots__:
            raise StanzaError("bad-request", text="RSM <%s/> given twice" % (local,))
        seen.add(local)
        if local == "max":
            request.max = _nonNegative(child, "max")
        elif local == "index":
            request.index = _nonNegative(child, "index")
        elif local == "after":
            text = child.text or ""
            if not text:
                raise StanzaError("bad-request", text="RSM <after/> must name an item")
            request.after = text
        elif local == "before":
            request.before = child.text or ""
    return request


def findRequest(parent):
    """
    The L{ResultSetRequest} in C{parent}'s C{<set/>} child, or C{None} when
    it has none.
    """
    setElement = parent.find(_SET)
    return None if setElement is None else parseRequest(setElement)


def buildResponse(first=None, last=None, firstIndex=None, count=None):
    """
    The responder's C{<set/>} (XEP-0059 §2.1): C{<first/>} and C{<last/>}
    for a non-empty page (never for an empty one), C{index} on C{<first/>}
    when known, and C{<count/>} when known.

    @param first: the UID of the page's first item, or C{None}.
    @param last: the UID of the page's last item, or C{None}.
    @param firstIndex: the position of C{first} in the full result set.
    @param count: the number of items in the full result set.
    """
    setElement = makeElement(NS_RSM, "set")
    if first is not None:
        firstElement = makeElement(NS_RSM, "first")
        firstElement.text = first
        if firstIndex is not None:
            firstElement.set("index", str(firstIndex))
        setElement.append(firstElement)
    if last is not None:
        lastElement = makeElement(NS_RSM, "last")
        lastElement.text = last
        setElement.append(lastElement)
    if count is not None:
        countElement = makeElement(NS_RSM, "count")
        countElement.text = str(count)
        setElement.append(countElement)
    return setElement
