"""
Tests for L{xmppframe.xml.rsm}: reading and building XEP-0059 result sets.
"""

from lxml import etree

from twisted.trial import unittest

from xmppframe.errors import StanzaError
from xmppframe.xml.rsm import NS_RSM, ResultSetRequest, buildResponse, findRequest, parseRequest


def setElement(inner):
    return etree.fromstring("<set xmlns='%s'>%s</set>" % (NS_RSM, inner))


class ParseRequestTests(unittest.TestCase):

    def test_empty(self):
        """
        An empty set asks for nothing in particular.
        """
        self.assertEqual(parseRequest(setElement("")), ResultSetRequest())

    def test_maxAndAfter(self):
        """
        XEP-0059 §2.2: the next page after a UID.
        """
        request = parseRequest(setElement("<max>10</max><after>abc</after>"))
        self.assertEqual((request.max, request.after, request.before), (10, "abc", None))
        self.assertFalse(request.backwards)

    def test_emptyBefore(self):
        """
        XEP-0059 §2.5: an empty C{<before/>} asks for the last page; it is
        told apart from no C{<before/>} at all.
        """
        request = parseRequest(setElement("<max>5</max><before/>"))
        self.assertEqual(request.before, "")
        self.assertTrue(request.backwards)

    def test_beforeUID(self):
        """
        XEP-0059 §2.3: the page before a UID.
        """
        request = parseRequest(setElement("<before>xyz</before>"))
        self.assertEqual(request.before, "xyz")
        self.assertTrue(request.backwards)

    def test_index(self):
        """
        XEP-0059 §2.6: a page out of order, by index.
        """
        self.assertEqual(parseRequest(setElement("<max>3</max><index>7</index>")).index, 7)

    def test_zeroMax(self):
        """
        XEP-0059 §2.7: C{<max>0</max>} asks only for the count.
        """
        self.assertEqual(parseRequest(setElement("<max>0</max>")).max, 0)

    def test_badNumbers(self):
        """
        A C{<max/>} or C{<index/>} that is not a non-negative integer is a
        C{bad-request}, with a text naming the element.
        """
        for inner in ("<max>-1</max>", "<max>ten</max>", "<max/>", "<index>1.5</index>",
                      "<max>\u0663</max>"):
            with self.assertRaises(StanzaError) as caught:
                parseRequest(setElement(inner))
            self.assertEqual(caught.exception.condition, "bad-request")
            self.assertIn("RSM", caught.exception.text)

    def test_emptyAfter(self):
        """
        An empty C{<after/>} names no item: C{bad-request}.
        """
        with self.assertRaises(StanzaError):
            parseRequest(setElement("<after/>"))

    def test_twice(self):
        """
        The same element twice is ambiguous: C{bad-request}.
        """
        with self.assertRaises(StanzaError):
            parseRequest(setElement("<max>1</max><max>2</max>"))

    def test_foreignChildrenIgnored(self):
        """
        Elements of other namespaces are no business of RSM.
        """
        element = setElement("<max>2</max><x xmlns='urn:other'>9</x>")
        self.assertEqual(parseRequest(element).max, 2)

    def test_findRequest(self):
        """
        L{findRequest} reads a wrapper's C{<set/>} child, or gives C{None}.
        """
        query = etree.fromstring(
            "<query xmlns='urn:xmpp:mam:2'><set xmlns='%s'><max>4</max></set></query>" % (NS_RSM,))
        self.assertEqual(findRequest(query).max, 4)
        self.assertIsNone(findRequest(etree.fromstring("<query xmlns='urn:xmpp:mam:2'/>")))


class BuildResponseTests(unittest.TestCase):

    def test_page(self):
        """
        XEP-0059 §2.1: first (with its index), last and count.
        """
        element = buildResponse("a", "c", firstIndex=0, count=3)
        self.assertEqual(element.tag, "{%s}set" % (NS_RSM,))
        first, last, count = element
        self.assertEqual((first.tag, first.text, first.get("index")),
                         ("{%s}first" % (NS_RSM,), "a", "0"))
        self.assertEqual((last.tag, last.text), ("{%s}last" % (NS_RSM,), "c"))
        self.assertEqual((count.tag, count.text), ("{%s}count" % (NS_RSM,), "3"))
        self.assertEqual(etree.tostring(element),
                         b'<set xmlns="http://jabber.org/protocol/rsm"><first index="0">a</first>'
                         b'<last>c</last><count>3</count></set>')

    def test_emptyPage(self):
        """
        XEP-0059 §2.1: an empty page has no first or last, only the count
        when known.
        """
        self.assertEqual([child.tag for child in buildResponse(count=7)],
                         ["{%s}count" % (NS_RSM,)])
        self.assertEqual(len(buildResponse()), 0)

    def test_noIndex(self):
        """
        The index is left out when unknown.
        """
        first = buildResponse("a", "a")[0]
        self.assertIsNone(first.get("index"))
