"""
Tests for L{xmppframe.xml.stanza}: building, serializing and answering
stanzas (RFC 6120 §8).
"""

from copy import deepcopy

from lxml import etree
from twisted.trial import unittest

from xmppframe.errors import StanzaError, StreamError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.parser import StreamParser
from xmppframe.xml.stanza import (
    errorReply, iqResult, isError, makeElement, makeStanza, serialize,
    stanzaErrorFromElement, streamErrorBytes)

_HEADER = (b"<stream:stream xmlns='jabber:client' "
           b"xmlns:stream='http://etherx.jabber.org/streams'>")


def parse(data):
    """
    Parse one stanza the way the stream parser delivers it.
    """
    elements = []
    parser = StreamParser(lambda h: None, elements.append, lambda: None)
    parser.feed(_HEADER + data)
    [element] = elements
    return element


class JID:
    """
    Stands in for a JID object: only C{str()} matters here.
    """

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


class BuildAndSerializeTests(unittest.TestCase):

    def test_serialize(self):
        """
        UTF-8 bytes, no XML declaration, no tail.
        """
        element = makeElement(NS.CLIENT, "message")
        etree.SubElement(element, "{jabber:client}body").text = "caf\u00e9"
        element.tail = "\n"
        self.assertEqual(serialize(element),
                         '<message xmlns="jabber:client"><body>caf\u00e9</body></message>'.encode("utf-8"))

    def test_serializeParsed(self):
        """
        A parsed stanza serializes with the content namespace as default.
        """
        data = b"<message to='a@b' id='1'><body>hi</body><x xmlns='urn:x'/></message>"
        self.assertEqual(serialize(parse(data)),
                         b'<message xmlns="jabber:client" to="a@b" id="1"><body>hi</body><x xmlns="urn:x"/></message>')

    def test_makeElement(self):
        element = makeElement(NS.BIND, "bind", {"a": "b"})
        self.assertEqual(element.tag, "{urn:ietf:params:xml:ns:xmpp-bind}bind")
        self.assertEqual(serialize(element), b'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind" a="b"/>')

    def test_makeStanza(self):
        stanza = makeStanza("message", to=JID("juliet@example.com"), from_="romeo@example.net/orchard",
                            type="chat", id="x1")
        self.assertEqual(stanza.tag, "{jabber:client}message")
        self.assertEqual(dict(stanza.attrib), {
            "to": "juliet@example.com", "from": "romeo@example.net/orchard",
            "type": "chat", "id": "x1"})
        self.assertEqual(serialize(makeStanza("presence", namespace=NS.SERVER)),
                         b'<presence xmlns="jabber:server"/>')

    def test_makeStanzaBadKind(self):
        self.assertRaises(ValueError, makeStanza, "mesage")


class ErrorReplyTests(unittest.TestCase):

    def assertSwapped(self, original, reply):
        self.assertEqual(reply.get("to"), original.get("from"))
        self.assertEqual(reply.get("from"), original.get("to"))
        self.assertEqual(reply.get("id"), original.get("id"))
        self.assertEqual(reply.get("type"), "error")
        self.assertEqual(reply.tag, original.tag)

    def test_message(self):
        original = parse(b"<message from='romeo@example.net/o' to='juliet@example.com' id='m1' "
                         b"type='chat'><body>hi</body></message>")
        before = serialize(original)
        reply = errorReply(original, StanzaError("service-unavailable", text="Nobody <here>"))
        self.assertSwapped(original, reply)
        self.assertEqual(serialize(original), before)
        self.assertEqual(
            serialize(reply),
            b'<message xmlns="jabber:client" to="romeo@example.net/o" from="juliet@example.com" '
            b'type="error" id="m1"><body>hi</body><error type="cancel">'
            b'<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            b'<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">Nobody &lt;here&gt;</text>'
            b'</error></message>')

    def test_presenceWithoutAddresses(self):
        """
        Missing addresses stay missing; a presence keeps its id if any.
        """
        original = parse(b"<presence id='p1' type='subscribe'/>")
        reply = errorReply(original, StanzaError("forbidden"))
        self.assertNotIn("to", reply.attrib)
        self.assertNotIn("from", reply.attrib)
        self.assertSwapped(original, reply)
        self.assertEqual(reply[0].get("type"), "auth")
        self.assertEqual(reply[0][0].tag, "{urn:ietf:params:xml:ns:xmpp-stanzas}forbidden")

    def test_iq(self):
        original = parse(b"<iq from='a@b/c' to='b' id='q1' type='get'><query xmlns='urn:q'/></iq>")
        reply = errorReply(original, StanzaError("feature-not-implemented"), includeOriginal=False)
        self.assertSwapped(original, reply)
        self.assertEqual([child.tag for child in reply], ["{jabber:client}error"])
        self.assertEqual(len(original), 1)

    def test_iqWithoutID(self):
        """
        An IQ error always has an id, empty if the request had none
        (RFC 6120 §8.3.1 rule 3).
        """
        reply = errorReply(parse(b"<iq type='get'/>"), StanzaError("bad-request"))
        self.assertEqual(reply.get("id"), "")

    def test_originalNotMutated(self):
        original = parse(b"<message from='a@b' to='c@d' id='1'><body>x</body><thread>t</thread></message>")
        snapshot = deepcopy(original)
        reply = errorReply(original, StanzaError("not-allowed"))
        reply[0].text = "changed"
        self.assertEqual(serialize(original), serialize(snapshot))

    def test_appConditionAndBy(self):
        app = makeElement("urn:example:errors", "too-many")
        error = StanzaError("policy-violation", type="wait", appCondition=app)
        error.by = "example.com"
        reply = errorReply(parse(b"<message id='1'/>"), error)
        errorElement = reply.find("{jabber:client}error")
        self.assertEqual(errorElement.get("by"), "example.com")
        self.assertEqual(errorElement.get("type"), "wait")
        self.assertEqual(errorElement[-1].tag, "{urn:example:errors}too-many")
        # The error's own element is copied, so the error can be reused.
        self.assertIsNone(app.getparent())

    def test_serverNamespace(self):
        original = makeStanza("message", namespace=NS.SERVER, to="a", from_="b")
        reply = errorReply(original, StanzaError("item-not-found"))
        self.assertEqual(reply.tag, "{jabber:server}message")
        self.assertEqual(reply[0].tag, "{jabber:server}error")

    def test_neverAnswerAnError(self):
        """
        An error is never answered with an error (RFC 6120 §8.3.1 rule 8).
        """
        original = parse(b"<message type='error' id='1'/>")
        self.assertTrue(isError(original))
        self.assertFalse(isError(parse(b"<message id='1'/>")))
        self.assertRaises(ValueError, errorReply, original, StanzaError("bad-request"))

    def test_roundTrip(self):
        """
        L{stanzaErrorFromElement} reads back what L{errorReply} wrote.
        """
        app = makeElement("urn:example:errors", "oops")
        reply = errorReply(parse(b"<iq type='set' id='1'/>"),
                           StanzaError("conflict", type="modify", text="Taken", appCondition=app))
        reparsed = parse(serialize(reply))
        for element in (reparsed, reparsed[0]):
            error = stanzaErrorFromElement(element)
            self.assertEqual((error.condition, error.type, error.text),
                             ("conflict", "modify", "Taken"))
            self.assertEqual(error.appCondition.tag, "{urn:example:errors}oops")

    def test_unknownCondition(self):
        error = stanzaErrorFromElement(parse(
            b"<message type='error'><error type='weird'><nonsense xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            b"</error></message>"))
        self.assertEqual((error.condition, error.type), ("undefined-condition", "cancel"))

    def test_noErrorElement(self):
        self.assertRaises(ValueError, stanzaErrorFromElement, parse(b"<message/>"))


class IQResultTests(unittest.TestCase):

    def test_result(self):
        iq = parse(b"<iq from='a@b/c' to='b' id='q1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>")
        reply = iqResult(iq)
        self.assertEqual(dict(reply.attrib), {"to": "a@b/c", "from": "b", "type": "result", "id": "q1"})
        self.assertEqual(len(reply), 0)
        self.assertEqual(len(iq), 1)

    def test_resultWithChild(self):
        child = makeElement(NS.BIND, "bind")
        reply = iqResult(parse(b"<iq id='b' type='set'/>"), child)
        self.assertEqual(serialize(reply),
                         b'<iq xmlns="jabber:client" type="result" id="b">'
                         b'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>')


class StreamErrorBytesTests(unittest.TestCase):

    def test_conditionOnly(self):
        self.assertEqual(
            streamErrorBytes(StreamError("not-well-formed")),
            b"<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")

    def test_textEscaped(self):
        """
        The text is escaped, and characters XML forbids are replaced, so a
        peer's input echoed in an error cannot break the stream.
        """
        data = streamErrorBytes(StreamError("policy-violation", "<evil> & \x00 caf\u00e9"))
        self.assertEqual(
            data,
            "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>"
            "&lt;evil&gt; &amp; \ufffd caf\u00e9</text></stream:error>".encode("utf-8"))
        wrapped = (b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
                   + data + b"</stream:stream>")
        root = etree.fromstring(wrapped)
        self.assertEqual(root[0][1].text, "<evil> & \ufffd caf\u00e9")
