"""
Tests for L{xmppframe.xml.parser}: the incremental stream parser and the
restricted XML profile of RFC 6120 §11.
"""

from lxml import etree
from twisted.trial import unittest

from xmppframe.errors import StreamError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.parser import StreamHeader, StreamParser

HEADER = (
    b"<?xml version='1.0'?>"
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" to='example.com' version='1.0' xml:lang='en'>")
BARE_HEADER = HEADER[len(b"<?xml version='1.0'?>"):]
MESSAGE = b"<message to='juliet@example.com' id='m1' type='chat'><body>Art thou not Romeo?</body></message>"
END = b"</stream:stream>"


class Collector:
    """
    Records what a L{StreamParser} reports.
    """

    def __init__(self, **kwargs):
        self.headers = []
        self.elements = []
        self.ended = 0
        self.parser = StreamParser(self.headers.append, self.elements.append, self._end, **kwargs)

    def _end(self):
        self.ended += 1

    def feed(self, *chunks):
        for chunk in chunks:
            self.parser.feed(chunk)


class StreamParserTests(unittest.TestCase):
    """
    The happy path: header, elements, end, however the bytes are chunked.
    """

    def test_header(self):
        """
        The root start tag becomes a L{StreamHeader} with its namespaces and
        attributes, C{xml:lang} under its Clark name.
        """
        c = Collector()
        c.feed(HEADER)
        self.assertEqual(len(c.headers), 1)
        header = c.headers[0]
        self.assertIsInstance(header, StreamHeader)
        self.assertEqual(header.tag, "{http://etherx.jabber.org/streams}stream")
        self.assertEqual(header.prefix, "stream")
        self.assertEqual(header.defaultNamespace, "jabber:client")
        self.assertEqual(header.attrib, {
            "to": "example.com", "version": "1.0",
            "{http://www.w3.org/XML/1998/namespace}lang": "en"})

    def test_elementsAndEnd(self):
        """
        Each top-level child comes out once complete, then the end.
        """
        c = Collector()
        c.feed(HEADER, MESSAGE, b"<presence/>", END)
        self.assertEqual([e.tag for e in c.elements],
                         ["{jabber:client}message", "{jabber:client}presence"])
        self.assertEqual(c.elements[0].findtext("{jabber:client}body"), "Art thou not Romeo?")
        self.assertEqual(c.ended, 1)

    def test_byteAtATime(self):
        """
        A whole stream fed one byte at a time gives the same result.
        """
        c = Collector()
        data = HEADER + MESSAGE + b" \n" + b"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>" + END
        for i in range(len(data)):
            c.parser.feed(data[i:i + 1])
        self.assertEqual(len(c.headers), 1)
        self.assertEqual([e.tag for e in c.elements],
                         ["{jabber:client}message", "{jabber:client}iq"])
        self.assertEqual(c.ended, 1)

    def test_severalInOneChunk(self):
        """
        Several stanzas (and the header) in one chunk all come out, in order.
        """
        c = Collector()
        c.feed(HEADER + b"".join(b"<message id='%d'/>" % (i,) for i in range(50)))
        self.assertEqual([e.get("id") for e in c.elements], [str(i) for i in range(50)])

    def test_detachedAndSerializedWithDefaultNamespace(self):
        """
        A delivered element has no parent and serializes with the content
        namespace as its default namespace, not a generated C{ns0} prefix;
        extension namespaces are kept.
        """
        c = Collector()
        c.feed(HEADER, b"<message to='a@b'><body>hi</body><x xmlns='urn:example'><y/></x></message> ")
        [stanza] = c.elements
        self.assertIsNone(stanza.getparent())
        self.assertIsNone(stanza.tail)
        self.assertEqual(
            etree.tostring(stanza),
            b'<message xmlns="jabber:client" to="a@b"><body>hi</body>'
            b'<x xmlns="urn:example"><y/></x></message>')

    def test_prefixedExtensionNamespaceStaysDeclared(self):
        """
        A prefix a stanza uses but the stream header declares is declared on
        the delivered element, so it can be routed on its own (§4.8.5).
        """
        c = Collector()
        c.feed(BARE_HEADER.replace(b"version=", b"xmlns:foo='urn:foo' version="),
               b"<message><foo:bar/></message>")
        [stanza] = c.elements
        reparsed = etree.fromstring(etree.tostring(stanza))
        self.assertEqual(reparsed[0].tag, "{urn:foo}bar")

    def test_elementsNotRetained(self):
        """
        The parser keeps no delivered element nor the whitespace between
        them on its root.
        """
        c = Collector()
        c.feed(HEADER)
        for _ in range(20):
            c.feed(MESSAGE, b"\n ", b" ")
        root = c.parser._root
        self.assertEqual(len(root), 0)
        self.assertIsNone(root.text)
        self.assertEqual(len(c.elements), 20)

    def test_whitespaceKeepalives(self):
        """
        Whitespace between elements is accepted however much of it comes
        (RFC 6120 §4.6.1), and does not count against the size limit.
        """
        c = Collector(maxStanzaSize=1024)
        c.feed(HEADER, b"<presence/>")
        for _ in range(5000):
            c.feed(b" ")
        c.feed(b"\n\t\r ", MESSAGE)
        for _ in range(5000):
            c.feed(b" ")
        c.feed(END)
        self.assertEqual(len(c.elements), 2)
        self.assertEqual(c.ended, 1)
        self.assertIsNone(c.parser._root)

    def test_noXMLDeclaration(self):
        """
        The XML declaration is optional.
        """
        c = Collector()
        c.feed(BARE_HEADER + MESSAGE)
        self.assertEqual(len(c.elements), 1)

    def test_utf8Declaration(self):
        """
        A declaration naming UTF-8 is accepted, and non-ASCII text parsed.
        """
        c = Collector()
        c.feed(b"<?xml version='1.0' encoding='UTF-8'?>" + BARE_HEADER,
               "<message><body>caf\u00e9 \u263a</body></message>".encode("utf-8"))
        self.assertEqual(c.elements[0][0].text, "caf\u00e9 \u263a")

    def test_predefinedEntitiesAndCharacterReferences(self):
        """
        The five predefined entities, character references and CDATA are
        fine.
        """
        c = Collector()
        c.feed(HEADER, b"<message a='&quot;&apos;'><body>&lt;&gt;&amp;&#65;&#x42;"
                       b"<![CDATA[<x>]]></body></message>")
        self.assertEqual(c.elements[0].get("a"), "\"'")
        self.assertEqual(c.elements[0][0].text, "<>&AB<x>")

    def test_dataAfterEndIgnored(self):
        """
        Bytes after C{</stream:stream>}, in the same chunk or later, are
        ignored.
        """
        c = Collector()
        c.feed(HEADER + MESSAGE + END + b"<garbage")
        c.feed(b"<message/>")
        self.assertEqual(len(c.elements), 1)
        self.assertEqual(c.ended, 1)

    def test_reset(self):
        """
        After L{StreamParser.reset} the next bytes are a new document with
        its own XML declaration and header.
        """
        c = Collector()
        c.feed(HEADER, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        c.parser.reset()
        c.feed(HEADER, MESSAGE, END)
        self.assertEqual(len(c.headers), 2)
        self.assertEqual([e.tag for e in c.elements],
                         ["{urn:ietf:params:xml:ns:xmpp-tls}starttls", "{jabber:client}message"])
        self.assertEqual(c.ended, 1)

    def test_resetFromCallbackDropsRestOfChunk(self):
        """
        A reset from inside a callback (STARTTLS, SASL success) drops the
        rest of the chunk: after STARTTLS those bytes came in the clear
        (RFC 6120 §5.4.3.3).
        """
        c = Collector()

        def onElement(element):
            c.elements.append(element)
            c.parser.reset()

        c.parser._onElement = onElement
        c.feed(HEADER + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
               + b"<message to='injected@example.com'/>" * 2000)
        self.assertEqual(len(c.elements), 1)
        c.feed(HEADER, MESSAGE)
        self.assertEqual(len(c.headers), 2)
        self.assertEqual(len(c.elements), 2)
        self.assertEqual(c.elements[1].get("id"), "m1")

    def test_closeFromCallback(self):
        """
        A callback may close the parser; nothing more is delivered.
        """
        c = Collector()

        def onElement(element):
            c.elements.append(element)
            c.parser.close()

        c.parser._onElement = onElement
        c.feed(HEADER + MESSAGE + MESSAGE)
        c.feed(MESSAGE)
        self.assertEqual(len(c.elements), 1)

    def test_closeDropsParser(self):
        """
        L{StreamParser.close} frees the lxml parser; later data is ignored.
        """
        c = Collector()
        c.feed(HEADER, b"<message>")
        c.parser.close()
        self.assertIsNone(c.parser._parser)
        c.feed(b"</message>")
        self.assertEqual(c.elements, [])

    def test_headerCallbackMayRaise(self):
        """
        A L{StreamError} raised by a callback comes out of C{feed}.
        """
        def onHeader(header):
            raise StreamError("host-unknown")

        parser = StreamParser(onHeader, lambda e: None, lambda: None)
        error = self.assertRaises(StreamError, parser.feed, HEADER)
        self.assertEqual(error.condition, "host-unknown")

    def test_callbackBugIsInternalServerError(self):
        """
        Any other exception from a callback becomes an
        C{internal-server-error} stream error, logged.
        """
        def onElement(element):
            raise ZeroDivisionError()

        parser = StreamParser(lambda h: None, onElement, lambda: None)
        error = self.assertRaises(StreamError, parser.feed, HEADER + MESSAGE)
        self.assertEqual(error.condition, "internal-server-error")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_contentNamespaces(self):
        """
        Another accepted content namespace (e.g. C{jabber:server}) works.
        """
        c = Collector(contentNamespaces={NS.SERVER})
        c.feed(HEADER.replace(b"jabber:client", b"jabber:server"), MESSAGE)
        self.assertEqual(c.headers[0].defaultNamespace, "jabber:server")
        self.assertEqual(etree.tostring(c.elements[0])[:36], b'<message xmlns="jabber:server" to="j')


class StreamErrorTests(unittest.TestCase):
    """
    Each way a peer can break the rules ends in the right stream error.
    """

    def assertStreamError(self, condition, *chunks, **kwargs):
        c = Collector(**kwargs)
        for chunk in chunks[:-1]:
            c.parser.feed(chunk)
        error = self.assertRaises(StreamError, c.parser.feed, chunks[-1])
        self.assertEqual(error.condition, condition)
        # Once failed, the parser ignores anything further.
        c.parser.feed(MESSAGE)
        c.parser.feed(HEADER)
        return c

    def test_doctype(self):
        """
        A DOCTYPE is restricted XML (RFC 6120 §11.1) and never reaches lxml.
        """
        c = self.assertStreamError("restricted-xml", b"<?xml version='1.0'?><!DOCTYPE stream:stream>" + BARE_HEADER)
        self.assertEqual(c.headers, [])

    def test_doctypeByteAtATime(self):
        """
        The prologue scan works however the bytes are split.
        """
        data = b"<?xml version='1.0'?>\n<!DOCTYPE x>"
        c = Collector()
        fed = []

        def feedBytes():
            for i in range(len(data)):
                fed.append(i)
                c.parser.feed(data[i:i + 1])

        error = self.assertRaises(StreamError, feedBytes)
        self.assertEqual(error.condition, "restricted-xml")
        # Raised as soon as "<!" is complete, before lxml saw the DOCTYPE.
        self.assertEqual(fed[-1], data.index(b"<!") + 1)

    def test_entityDeclaration(self):
        """
        An internal subset declaring entities is restricted XML.
        """
        self.assertStreamError(
            "restricted-xml",
            b"<!DOCTYPE stream:stream [<!ENTITY lol 'lol'>]>" + BARE_HEADER + b"<message>&lol;</message>")

    def test_entityDeclarationInContent(self):
        """
        C{<!ENTITY} inside the stream is restricted XML too.
        """
        self.assertStreamError("restricted-xml", HEADER, b"<!ENTITY x 'y'>")

    def test_commentInPrologue(self):
        self.assertStreamError("restricted-xml", b"<!-- x -->" + BARE_HEADER)

    def test_commentBetweenStanzas(self):
        self.assertStreamError("restricted-xml", HEADER, b"<!-- x -->")

    def test_commentInStanza(self):
        """
        A comment inside a stanza ends the stream before it is delivered.
        """
        c = self.assertStreamError("restricted-xml", HEADER, b"<message><!-- x --></message>")
        self.assertEqual(c.elements, [])

    def test_processingInstructionInPrologue(self):
        self.assertStreamError("restricted-xml", b"<?foo?>" + BARE_HEADER)

    def test_processingInstructionAfterDeclaration(self):
        self.assertStreamError("restricted-xml", b"<?xml version='1.0'?><?xml-stylesheet href='a'?>" + BARE_HEADER)

    def test_processingInstructionInStanza(self):
        self.assertStreamError("restricted-xml", HEADER, b"<message><?foo bar?></message>")

    def test_processingInstructionBetweenStanzas(self):
        self.assertStreamError("restricted-xml", HEADER, b"<?foo?>")

    def test_undefinedEntity(self):
        """
        A reference to an entity other than the predefined five is
        restricted XML, whether in text or in an attribute.
        """
        self.assertStreamError("restricted-xml", HEADER, b"<message><body>&custom;</body></message>")
        self.assertStreamError("restricted-xml", HEADER, b"<message to='&custom;'/>")

    def test_mismatchedTags(self):
        self.assertStreamError("not-well-formed", HEADER, b"<a></b>")

    def test_badCharacter(self):
        self.assertStreamError("not-well-formed", HEADER, b"<message><body>\x01</body></message>")

    def test_duplicateAttribute(self):
        self.assertStreamError("not-well-formed", HEADER, b"<message id='1' id='2'/>")

    def test_undeclaredPrefix(self):
        """
        Data that is not namespace-well-formed is refused before it is
        delivered (RFC 6120 §11.3 rule 4), for elements and attributes.
        """
        c = self.assertStreamError("not-well-formed", HEADER, b"<message><foo:bar/></message>")
        self.assertEqual(c.elements, [])
        self.assertStreamError("not-well-formed", HEADER, b"<message foo:bar='x'/>")

    def test_undeclaredPrefixSplitAcrossChunks(self):
        self.assertStreamError("not-well-formed", HEADER, b"<message><fo", b"o:bar/></message>")

    def test_relativeNamespaceNameIsFine(self):
        """
        libxml2 only warns about C{vcard-temp}; that is not an error.
        """
        c = Collector()
        for _ in range(150):
            c.feed(HEADER if not c.headers else b"", b"<iq type='get' id='v'><vCard xmlns='vcard-temp'/></iq>")
        self.assertEqual(len(c.elements), 150)

    def test_otherEncoding(self):
        """
        A declared encoding other than UTF-8 is refused (RFC 6120 §11.6).
        """
        self.assertStreamError(
            "unsupported-encoding", b"<?xml version='1.0' encoding='ISO-8859-1'?>" + BARE_HEADER)

    def test_utf16(self):
        self.assertStreamError("unsupported-encoding", ("\ufeff" + BARE_HEADER.decode()).encode("utf-16-le"))
        self.assertStreamError("unsupported-encoding", BARE_HEADER.decode().encode("utf-16-be"))

    def test_invalidUTF8(self):
        self.assertStreamError("unsupported-encoding", HEADER, b"<message><body>caf\xe9</body></message>")

    def test_wrongStreamNamespace(self):
        """
        A root in a namespace other than the streams namespace is
        C{invalid-namespace} (RFC 6120 §4.8.1, §4.9.3.10).
        """
        self.assertStreamError(
            "invalid-namespace",
            HEADER.replace(b"http://etherx.jabber.org/streams", b"http://wrong.namespace.example.org/"))

    def test_wrongRootElement(self):
        self.assertStreamError("invalid-namespace", HEADER.replace(b"stream:stream", b"stream:features"))

    def test_wrongContentNamespace(self):
        """
        A default namespace the stream does not accept is
        C{invalid-namespace} (RFC 6120 §4.9.3.10).
        """
        self.assertStreamError("invalid-namespace", HEADER.replace(b"jabber:client", b"jabber:server"))
        self.assertStreamError("invalid-namespace", HEADER.replace(b"xmlns='jabber:client'", b""))

    def test_otherStreamPrefix(self):
        """
        Only the prefix C{stream} is accepted for the stream namespace
        (RFC 6120 §4.8.5, §4.9.3.2).
        """
        self.assertStreamError(
            "bad-namespace-prefix",
            b"<foobar:stream xmlns='jabber:client' xmlns:foobar='http://etherx.jabber.org/streams'>")

    def test_undeclaredStreamPrefix(self):
        self.assertStreamError("bad-namespace-prefix", b"<stream:stream xmlns='jabber:client'>")

    def test_streamNamespaceAsDefault(self):
        self.assertStreamError("bad-namespace-prefix", b"<stream xmlns='http://etherx.jabber.org/streams'>")

    def test_largeStanzaInSmallChunks(self):
        """
        A 300 KiB stanza fed 1 KiB at a time breaks the 256 KiB limit
        (RFC 6120 §13.12).
        """
        c = Collector()
        c.feed(HEADER, b"<message><body>")
        chunk = b"x" * 1024
        with self.assertRaises(StreamError) as caught:
            for _ in range(300):
                c.parser.feed(chunk)
            c.parser.feed(b"</body></message>")
        self.assertEqual(caught.exception.condition, "policy-violation")
        self.assertEqual(c.elements, [])

    def test_largeStanzaInOneChunk(self):
        """
        A stanza over the limit is caught when it arrives in one read too.
        """
        self.assertStreamError(
            "policy-violation", HEADER + b"<message><body>" + b"x" * 300 * 1024 + b"</body></message>")

    def test_neverEndingStanza(self):
        """
        A stanza that never ends is cut off once it passes the limit.
        """
        c = Collector(maxStanzaSize=4096)
        c.feed(HEADER, b"<message><body>")
        with self.assertRaises(StreamError) as caught:
            for _ in range(100):
                c.parser.feed(b"y" * 100)
        self.assertEqual(caught.exception.condition, "policy-violation")

    def test_neverEndingStartTag(self):
        """
        So is a start tag that never ends, even if it grows by whitespace.
        """
        c = Collector(maxStanzaSize=4096)
        c.feed(HEADER, b"<presence/><message to='")
        with self.assertRaises(StreamError) as caught:
            for _ in range(100):
                c.parser.feed(b" " * 100)
        self.assertEqual(caught.exception.condition, "policy-violation")

    def test_stanzaUnderLimitAccepted(self):
        """
        Stanzas under the limit pass however they are chunked.
        """
        c = Collector(maxStanzaSize=4096)
        stanza = b"<message><body>" + b"z" * 3000 + b"</body></message>"
        c.feed(HEADER)
        for _ in range(10):
            c.feed(stanza)
            for i in range(0, len(stanza), 700):
                c.feed(stanza[i:i + 700])
        self.assertEqual(len(c.elements), 20)

    def test_hugeHeader(self):
        self.assertStreamError("policy-violation", BARE_HEADER[:-1] + b" a='" + b"x" * 40000 + b"'>")

    def test_hugePrologue(self):
        c = Collector()
        with self.assertRaises(StreamError) as caught:
            for _ in range(100):
                c.parser.feed(b" " * 1000)
        self.assertEqual(caught.exception.condition, "policy-violation")

    def test_deepNesting(self):
        """
        Elements nested deeper than C{maxDepth} are a policy violation.
        """
        self.assertStreamError("policy-violation", HEADER, b"<a>" * 65, maxDepth=64)
        c = Collector(maxDepth=10)
        c.feed(HEADER, b"<a>" * 10 + b"</a>" * 10)
        self.assertEqual(len(c.elements), 1)

    def test_errorIgnoredAfterEnd(self):
        """
        Malformed bytes after the end of the stream do not raise.
        """
        c = Collector()
        c.feed(HEADER, END + b"</a></b>")
        self.assertEqual(c.ended, 1)

    def test_smallLimitWholeStanzaInOneRead(self):
        """
        With a small limit, a too-large stanza that arrives complete in a
        single read is still refused.
        """
        self.assertStreamError(
            "policy-violation", HEADER, b"<message><body>" + b"w" * 200 + b"</body></message>",
            maxStanzaSize=100)

    def test_secondStreamHeader(self):
        """
        A second stream header inside the open stream, which is not a
        restart (those start a new document, L{StreamParser.reset}), is
        refused at its start tag: a C{<stream/>} child of C{<stream/>} is
        invalid against RFC 6120 Appendix A.1, so C{invalid-xml}
        (§4.9.3.11), before it can swallow the stanzas that follow.
        """
        c = self.assertStreamError("invalid-xml", HEADER, MESSAGE, BARE_HEADER)
        self.assertEqual(len(c.headers), 1)
        self.assertEqual(len(c.elements), 1)

    def test_secondStreamHeaderSplit(self):
        """
        The same, with the second header arriving in pieces and followed
        by a stanza in the same read.
        """
        self.assertStreamError("invalid-xml", HEADER, BARE_HEADER[:20],
                               BARE_HEADER[20:] + MESSAGE)

    def test_secondHeaderWithDeclaration(self):
        """
        With an XML declaration in front, the second header is not
        well-formed (XML 1.0 §2.8: the declaration comes only first;
        RFC 6120 §4.9.3.13).
        """
        self.assertStreamError("not-well-formed", HEADER, HEADER)
