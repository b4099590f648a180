"""
What a peer makes the server hold comes back, and is bounded (RFC 6120
§13.12): stanza structure limits, name dictionaries that go with the
stream, and elements freed by reference counting when a connection goes.
"""

import gc

from lxml import etree
from twisted.internet.testing import StringTransport
from twisted.python import failure
from twisted.trial import unittest

from xmppframe.config import parseConfig
from xmppframe.errors import StreamError
from xmppframe.streams.c2s import C2SStream
from xmppframe.xml import names
from xmppframe.xml.parser import StanzaLimits, StreamParser

from tests.test_c2s import HEADER, makeServer


def _collector(**kwargs):
    elements = []
    parser = StreamParser(lambda header: None, elements.append, lambda: None, **kwargs)
    return parser, elements


def _namesStanza(first, count):
    return (b"<message>" + b"".join(b"<e%dq a%dq='1'/>" % (i, i)
                                    for i in range(first, first + count)) + b"</message>")


class StanzaLimitTests(unittest.TestCase):
    """
    Limits on the parsed structure of a stanza before it completes.
    """

    def assertPolicyViolation(self, data, **kwargs):
        parser, elements = _collector(**kwargs)
        with self.assertRaises(StreamError) as caught:
            parser.feed(HEADER)
            parser.feed(data)
        self.assertEqual(caught.exception.condition, "policy-violation")
        self.assertEqual(elements, [])
        return caught.exception

    def test_attributesPerElement(self):
        data = b"<message " + b" ".join(b"a%d='1'" % i for i in range(11)) + b"/>"
        error = self.assertPolicyViolation(data, limits=StanzaLimits(maxAttributes=10))
        self.assertIn("10 attributes", error.text)
        parser, elements = _collector(limits=StanzaLimits(maxAttributes=11))
        parser.feed(HEADER)
        parser.feed(data)
        self.assertEqual(len(elements), 1)

    def test_attributesOfChildren(self):
        data = b"<message><x " + b" ".join(b"a%d='1'" % i for i in range(11)) + b"/></message>"
        self.assertPolicyViolation(data, limits=StanzaLimits(maxAttributes=10))

    def test_attributeValueSize(self):
        data = b"<message><x a='" + b"v" * 101 + b"'/></message>"
        error = self.assertPolicyViolation(data, limits=StanzaLimits(maxAttributeSize=100))
        self.assertIn("100 characters", error.text)
        parser, elements = _collector(limits=StanzaLimits(maxAttributeSize=101))
        parser.feed(HEADER)
        parser.feed(data)
        self.assertEqual(len(elements), 1)

    def test_nodesBeforeCompletion(self):
        """
        Elements and attributes are counted as they arrive: a stanza that
        never ends is cut off once it holds too many.
        """
        parser, elements = _collector(limits=StanzaLimits(maxNodes=100))
        parser.feed(HEADER)
        parser.feed(b"<message>" + b"<x/>" * 98)
        with self.assertRaises(StreamError) as caught:
            parser.feed(b"<x a='1'/>")
        self.assertEqual(caught.exception.condition, "policy-violation")

    def test_nodesCountedPerStanza(self):
        parser, elements = _collector(limits=StanzaLimits(maxNodes=100))
        parser.feed(HEADER)
        for _ in range(5):
            parser.feed(b"<message>" + b"<x/>" * 90 + b"</message>")
        self.assertEqual(len(elements), 5)

    def test_depth(self):
        self.assertPolicyViolation(b"<a>" * 12, limits=StanzaLimits(maxDepth=10))

    def test_config(self):
        """
        The limits are C{[c2s]} and C{[s2s]} settings.
        """
        config = parseConfig({"c2s": {"max_stanza_nodes": 10, "max_attributes": 3,
                                      "max_attribute_size": 7, "max_depth": 4},
                              "s2s": {"max_attributes": 5}}, self.mktemp())
        limits = StanzaLimits.fromConfig(config.c2s)
        self.assertEqual((limits.maxNodes, limits.maxAttributes, limits.maxAttributeSize,
                          limits.maxDepth), (10, 3, 7, 4))
        self.assertEqual(StanzaLimits.fromConfig(config.s2s).maxAttributes, 5)

    def test_streamError(self):
        """
        A c2s stream that exceeds a limit is closed with policy-violation.
        """
        server, clock = makeServer(self, max_attributes=4)
        stream = C2SStream(server.context)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER)
        stream.dataReceived(b"<message a='1' b='2' c='3' d='4' e='5'/>")
        self.assertIn(b"<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
                      transport.value())
        clock.advance(5)


class NameDictionaryTests(unittest.TestCase):
    """
    The names a stream brings go into a dictionary of its own, not into
    the one lxml shares for the life of the thread.
    """

    def test_available(self):
        """
        lxml keeps its dictionary context where L{names} expects it; if an
        upgrade changes that, this fails rather than names piling up.
        """
        self.assertTrue(names.AVAILABLE)

    def test_sharedDictionaryUntouched(self):
        etree.fromstring(b"<warm-up/>")
        before = names.dictSize()
        parser, elements = _collector()
        parser.feed(HEADER)
        for first in range(0, 20000, 500):
            parser.feed(_namesStanza(first, 500))
        self.assertEqual(len(elements), 40)
        # Made outside any stream, a document uses the shared dictionary.
        etree.fromstring(b"<after xmlns='urn:test'/>")
        self.assertLessEqual(names.dictSize() - before, 5)
        self.assertEqual(elements[-1][0].tag, "{jabber:client}e19500q")

    def test_renewedAtBoundaries(self):
        """
        A long-lived stream starts a new dictionary when its own has
        collected C{maxNames} names, at a boundary between stanzas; the
        stream goes on as before, namespaces included.
        """
        parser, elements = _collector(maxNames=1000)
        parser.feed(HEADER[:-1] + b" xmlns:x='urn:x'>")
        first = parser._scope
        for start in range(0, 5000, 250):
            parser.feed(_namesStanza(start, 250))
        self.assertIsNot(parser._scope, first)
        self.assertLess(parser._scope.grown(), 1000 + 2 * 250 + 10)
        parser.feed(b"<message><x:y/></message><iq type='get' id='1'/>")
        self.assertEqual(elements[-2][0].tag, "{urn:x}y")
        self.assertEqual(etree.tostring(elements[-1]),
                         b'<iq xmlns="jabber:client" type="get" id="1"/>')
        self.assertEqual(len(elements), 22)

    def test_restartStartsANewDictionary(self):
        parser, elements = _collector()
        parser.feed(HEADER)
        first = parser._scope
        parser.reset()
        self.assertIsNot(parser._scope, first)


class FreedPromptlyTests(unittest.TestCase):
    """
    What a closed connection held is freed by reference counting, without
    waiting for the cyclic collector.
    """

    def setUp(self):
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)

    def assertNoElementsTagged(self, suffix):
        alive = [o for o in gc.get_objects()
                 if isinstance(o, etree._Element) and o.tag.endswith(suffix)]
        self.assertEqual(alive, [])

    def test_parserDroppedWithoutCycle(self):
        """
        A parser holding half a stanza lets go of it when it is closed.
        """
        parser, elements = _collector()
        parser.feed(HEADER + b"<message><unfinished-" + b"x" * 10 + b"/>")
        parser.close()
        del parser
        self.assertNoElementsTagged("unfinished-xxxxxxxxxx")

    def test_closingElementFreed(self):
        """
        The element whose arrival closes an unauthenticated stream is gone
        once the connection is: no reference cycle keeps it.
        """
        server, clock = makeServer(self)
        stream = C2SStream(server.context)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER)
        stream.dataReceived(b"<message " + b" ".join(b"a%d='x'" % i for i in range(60))
                            + b"><closing-element/></message>")
        self.assertIn(b"not-authorized", transport.value())
        stream.connectionLost(failure.Failure(ConnectionError("gone")))
        clock.advance(5)
        del stream, transport
        self.assertNoElementsTagged("closing-element")
        self.assertNoElementsTagged("}message")

    def test_refusedElementFreed(self):
        """
        So is an element refused halfway for its size: the parser, its
        document and the half-read stanza go with the stream error.
        """
        server, clock = makeServer(self)
        stream = C2SStream(server.context)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER + b"<message><refused-element/><x "
                            + b" ".join(b"a%d='x'" % i for i in range(1000)) + b"/>")
        self.assertIn(b"policy-violation", transport.value())
        stream.connectionLost(failure.Failure(ConnectionError("gone")))
        clock.advance(5)
        del stream, transport
        self.assertNoElementsTagged("refused-element")
        self.assertNoElementsTagged("}stream")

    def test_unfinishedStanzaFreed(self):
        server, clock = makeServer(self)
        stream = C2SStream(server.context)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER + b"<message><held-open/>")
        stream.connectionLost(failure.Failure(ConnectionError("gone")))
        clock.advance(5)
        del stream, transport
        self.assertNoElementsTagged("held-open")
