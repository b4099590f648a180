"""
The incremental XML stream parser (RFC 6120 §4, §11).

An XML stream is one long XML document: a root C{<stream:stream>} whose
children are stanzas and negotiation elements.  L{StreamParser} feeds the
bytes read from a connection to lxml's C{XMLPullParser} and turns its events
into three callbacks: the stream header, each complete top-level element,
and the end of the stream.  It enforces the restricted XML profile of
RFC 6120 §11 and the size limits that keep one connection from eating the
server's memory (§13.12).

How the checks are placed, so that the common path stays cheap:

  - Comments and processing instructions inside the document come out of
    lxml as C{comment}/C{pi} events; nothing is scanned for them.
  - A second C{<stream:stream>} start tag inside the open stream is an
    C{invalid-xml} stream error (RFC 6120 §4.9.3.11, Appendix A.1); it is
    seen at its start tag, one comparison per top-level element.  (One
    preceded by an XML declaration already fails as not well-formed.)
  - Before the root start tag a tiny byte scan of the prologue rejects
    C{<!} (DOCTYPE, comment) and processing instructions, and reads the
    encoding of the XML declaration, I{before} lxml sees those bytes: a DTD
    never reaches libxml2 at all, so no entity can ever be declared.
  - Because no entity can be declared, the parser resolves "internal"
    entities: that leaves only the five predefined ones and character
    references, and makes libxml2 fail loudly on any other reference.
    (With C{resolve_entities=False} lxml deliberately swallows the
    undeclared-entity error and libxml2 silently stops parsing, which would
    hang the stream instead of closing it.)
  - Namespace errors (an undeclared prefix) do not stop libxml2; they are
    read from the feed parser's error log once per chunk that completes an
    element, before anything from that chunk is handed on (§11.3 rule 4:
    a server MUST NOT route data that is not namespace-well-formed).
  - Each complete top-level element is copied out of the parser's document
    with one C-level copy, then removed from the root.  The copy is its own
    document with the content namespace as its default namespace, so it
    serializes as C{<message xmlns="jabber:client">} rather than with the
    C{ns0} prefix lxml invents for an element merely unlinked from a root
    that declared its namespace; removing the original keeps the parser's
    tree at one open stanza however long the stream lives.

What a peer makes the parser hold is bounded and comes back (§13.12):

  - Names.  libxml2 keeps every element, attribute and prefix name in a
    dictionary that never forgets, and lxml shares one per thread: every
    made-up name a peer sent would stay for the life of the process.
    Each stream parses, and handles what it reads, with a name dictionary
    of its own (L{xmppframe.xml.names}), dropped at each stream restart
    and renewed after C{maxNames} names at a boundary between top-level
    elements (a new lxml parser takes over, given the header's namespace
    declarations).  Of the options measured in C{bench/memory}, this one
    keeps lxml's C parser for every byte (no second parser, no second
    tree-building step) and costs one dictionary swap per read; a
    pre-scan of names before authentication would not bound what an
    authenticated peer sends, and building lxml trees from expat events
    would still put every name into lxml's shared dictionary, for more
    CPU per stanza.
  - Structure.  Bytes alone do not bound memory: a parsed attribute costs
    many times the bytes that spell it.  L{StanzaLimits} bounds the
    attributes of an element, the size of a value, the depth and the
    elements and attributes of a stanza as they arrive, before it ends.
  - Release.  An lxml push parser sits in a reference cycle; a dropped one
    is closed and its queued events read, so that its document (and a
    half-read stanza) is freed at once, not at the next full collection.

Size accounting works on raw bytes, in slices of at most 16 KiB and a
quarter of the stanza limit, so a single huge read cannot slip past the
check: every slice fed while a top-level element (or a start tag, or
anything else after the last complete element) may be pending counts
against C{maxStanzaSize}, and is counted before lxml buffers it, so an
element that never ends is cut off too.  Byte offsets of events are not
known inside a slice, so the count may over-estimate by about one slice,
never under-estimate.  Whitespace keepalives (§4.6.1) that arrive between
elements are dropped before lxml sees them, so they neither count nor
accumulate.
"""

import re
from xml.sax.saxutils import quoteattr

from lxml import etree
from twisted.logger import Logger

from xmppframe.errors import StreamError
from xmppframe.xml import names
from xmppframe.xml import namespaces as NS
from xmppframe.xml.safe import safePullParser

__all__ = ["StanzaLimits", "StreamHeader", "StreamParser"]

_STREAM_TAG = NS.qname(NS.STREAMS, "stream")
_STREAM_PREFIX = "stream"

#: The XML declaration's encoding pseudo-attribute (XML 1.0 §4.3.3).
_DECLARED_ENCODING = re.compile(rb"""encoding\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XML_DECLARATION = re.compile(rb"<\?xml[\s?]")
_UTF8_NAMES = frozenset({b"utf-8", b"utf8"})

#: The tail of a chunk that ends exactly with a complete end tag or a
#: complete empty-element tag (and whitespace).  Used to tell that nothing
#: is left pending after the last top-level element of a chunk.
_COMPLETE_TAG_TAIL = re.compile(
    rb"""(?:</[^\s<>'"/!?]+\s*"""
    rb"""|<[^\s<>'"/!?]+(?:\s+[^\s<>'"=/]+\s*=\s*(?:'[^'<]*'|"[^"<]*"))*\s*/)"""
    rb""">\s*""")

_ERR = etree.ErrorTypes
#: libxml2 errors that mean a restricted XML feature was used (§11.1).
_RESTRICTED_ERRORS = frozenset({
    _ERR.ERR_UNDECLARED_ENTITY, _ERR.WAR_UNDECLARED_ENTITY,
    _ERR.ERR_UNPARSED_ENTITY, _ERR.ERR_ENTITY_LOOP,
    _ERR.ERR_ENTITY_PE_INTERNAL, _ERR.ERR_ENTITY_BOUNDARY,
})
#: libxml2 errors that mean the bytes are not UTF-8 (§11.6).
_ENCODING_ERRORS = frozenset({
    _ERR.ERR_INVALID_ENCODING, _ERR.ERR_UNSUPPORTED_ENCODING,
    _ERR.ERR_UNKNOWN_ENCODING,
})
#: libxml2's own resource limits (nesting, text and name length).
_LIMIT_ERRORS = frozenset({_ERR.ERR_RESOURCE_LIMIT, _ERR.ERR_NAME_TOO_LONG})
_LOG_ERROR_LEVEL = etree.ErrorLevels.ERROR
_CLEAN = object()
#: How many names the thread's shared name dictionary may collect, from
#: work done outside any stream's scope, before it is replaced.
_SHARED_NAMES = 16384
_NAMESPACE_DOMAIN = etree.ErrorDomains.NAMESPACE


class StreamHeader:
    """
    The root element's start tag of one stream document (RFC 6120 §4.7).

    @ivar tag: Clark name of the root, C{{http://etherx.jabber.org/streams}stream}.
    @ivar prefix: the prefix bound to the stream namespace (C{'stream'}).
    @ivar defaultNamespace: the content namespace declared as the default
        namespace (§4.8.2), or C{None}.
    @ivar attrib: the root's attributes as a C{dict}; C{xml:lang} is under
        C{{http://www.w3.org/XML/1998/namespace}lang}.
    """

    __slots__ = ("tag", "prefix", "defaultNamespace", "attrib")

    def __init__(self, tag, prefix, defaultNamespace, attrib):
        self.tag = tag
        self.prefix = prefix
        self.defaultNamespace = defaultNamespace
        self.attrib = attrib

    def __repr__(self):
        return "<StreamHeader %s xmlns=%r %r>" % (self.tag, self.defaultNamespace, self.attrib)


class StanzaLimits:
    """
    How much parsed structure one top-level element may have before it
    completes (RFC 6120 §13.12: bytes alone do not bound the memory, since
    a parsed attribute or element costs many times the bytes that spell
    it).  Exceeding one is a C{policy-violation} stream error
    (§4.9.3.18).

    @ivar maxDepth: how deeply elements may nest inside a top-level
        element (the top-level element itself is depth 1).
    @ivar maxAttributes: the most attributes of one element.
    @ivar maxAttributeSize: the longest attribute value, in characters.
    @ivar maxNodes: the most elements and attributes of one top-level
        element, counted as they arrive.
    """

    __slots__ = ("maxDepth", "maxAttributes", "maxAttributeSize", "maxNodes")

    def __init__(self, maxDepth=64, maxAttributes=64, maxAttributeSize=16384, maxNodes=5000):
        for name, value in (("maxDepth", maxDepth), ("maxAttributes", maxAttributes),
                            ("maxAttributeSize", maxAttributeSize), ("maxNodes", maxNodes)):
            if value < 1:
                raise ValueError("%s must be positive" % (name,))
        self.maxDepth = maxDepth
        self.maxAttributes = maxAttributes
        self.maxAttributeSize = maxAttributeSize
        self.maxNodes = maxNodes

    @classmethod
    def fromConfig(cls, config):
        """
        The limits of a C{[c2s]} or C{[s2s]} section (C{max_depth},
        C{max_attributes}, C{max_attribute_size}, C{max_stanza_nodes}).
        """
        return cls(config.max_depth, config.max_attributes, config.max_attribute_size,
                   config.max_stanza_nodes)


class StreamParser:
    """
    Parse one side of an XML stream incrementally.

    @param onHeader: called with a L{StreamHeader} when the root start tag
        of a document is complete.  It may raise L{StreamError}.
    @param onElement: called with each complete top-level element, a
        detached lxml element of its own.
    @param onEnd: called when C{</stream:stream>} arrives.
    @param maxStanzaSize: the largest top-level element accepted, in bytes
        (§13.12); a larger one is a C{policy-violation}.
    @param contentNamespaces: the default namespaces accepted on the root
        (§4.8.2, §4.9.3.10).
    @param maxHeaderSize: roughly how many bytes the prologue and stream
        header may take.
    @param maxDepth: how deeply elements may nest inside a top-level
        element (the top-level element itself is depth 1); C{limits}
        overrides it.
    @param limits: the L{StanzaLimits} (default: its defaults).
    @param maxNames: how many names of its own the stream's name
        dictionary may collect before the parser starts a new one at the
        next boundary between top-level elements (L{xmppframe.xml.names}).

    A callback may call L{reset} (stream restart after STARTTLS or SASL,
    RFC 6120 §5.4.3.3 and §6.4.6) or L{close}; whatever else arrived in the
    same L{feed} call is then dropped, because after STARTTLS such bytes were
    sent in the clear and must not be read as part of the new stream.
    """

    _log = Logger()

    def __init__(self, onHeader, onElement, onEnd, maxStanzaSize=262144,
                 contentNamespaces=frozenset({NS.CLIENT}), maxHeaderSize=16384,
                 maxDepth=64, limits=None, maxNames=4096):
        if maxStanzaSize < 1:
            raise ValueError("maxStanzaSize must be positive")
        if limits is None:
            limits = StanzaLimits(maxDepth=maxDepth)
        self._onHeader = onHeader
        self._onElement = onElement
        self._onEnd = onEnd
        self._maxStanzaSize = maxStanzaSize
        self._contentNamespaces = frozenset(contentNamespaces)
        self._maxHeaderSize = maxHeaderSize
        self._maxRootDepth = limits.maxDepth + 1
        self._maxAttributes = limits.maxAttributes
        self._maxAttributeSize = limits.maxAttributeSize
        self._maxNodes = limits.maxNodes
        self._maxNames = maxNames
        self._scope = names.NameScope()
        self._parser = None
        # A whole element inside one slice is smaller than the limit, so it
        # need not be counted; anything longer is counted slice by slice.
        self._sliceSize = max(1, min(16384, maxStanzaSize // 4))
        self._failed = False
        self._closed = False
        self._generation = 0
        self._startDocument()

    # Public API

    def feed(self, data):
        """
        Parse C{data}, the next bytes of the stream, calling back for what
        it completes.

        @raise StreamError: the stream must be closed with this error.  After
            that, and after the stream ended or L{close}, further data is
            ignored.
        """
        if self._failed or self._closed or self._ended:
            return
        generation = self._generation
        previous = self._scope.install()
        try:
            size = len(data)
            step = self._sliceSize
            if size <= step:
                self._feedSlice(data)
            else:
                for start in range(0, size, step):
                    self._feedSlice(data[start:start + step])
                    if self._generation != generation or self._ended or self._closed:
                        break
        except StreamError:
            self._fail()
            raise
        except Exception:
            self._log.failure("Unexpected error while parsing an XML stream")
            self._fail()
            raise StreamError("internal-server-error")
        finally:
            names.restore(previous)
            names.renewShared(_SHARED_NAMES)

    @property
    def generation(self):
        """
        A count that changes whenever the parser starts over or stops (a
        reset, the end of the stream, a failure, L{close}): bytes read
        before it changed do not belong to the document now being parsed.
        """
        return self._generation

    def reset(self):
        """
        Forget the current document: the next bytes fed start a new one,
        with its own prologue and stream header (RFC 6120 §4.3.3).
        """
        self._generation += 1
        self._startDocument()
        # The names of the finished document (before authentication, all
        # of them) go with it.
        self._scope = names.NameScope()

    def close(self):
        """
        Drop the lxml parser and every buffer; further data is ignored.
        """
        self._generation += 1
        self._closed = True
        self._startDocument()

    # Document state

    def _startDocument(self):
        if self._parser is not None:
            self._dropParser()
        self._root = None
        self._depth = 0
        self._ended = False
        self._inPrologue = True
        self._prologue = b""
        self._prologueScan = 0
        self._headerBytes = 0
        self._pending = 0
        self._nodes = 0
        self._logSeen = 0
        # After a chunk that completed a top-level element at depth 1: that
        # chunk (whether anything is left pending after the element is only
        # worked out if whitespace follows), or _CLEAN once it is known.
        self._afterElement = None

    def _fail(self):
        self._failed = True
        self._generation += 1
        self._startDocument()

    def _dropParser(self):
        """
        Let go of the lxml parser, so that it is freed at once.  An lxml
        push parser is part of a reference cycle (with its event
        collector), which only the cyclic collector would find, holding
        the document and whatever part of a stanza was read; closing it
        breaks the cycle.  Events still queued (when a callback stopped
        the parser halfway through a chunk, or the end events closing
        queues for the elements still open) hold elements too.
        """
        parser, self._parser, self._root = self._parser, None, None
        previous = self._scope.install()
        events = parser.read_events()
        try:
            for _ in events:
                pass
            parser.close()
        except etree.LxmlError:
            pass
        finally:
            # Closing queues an end event for each element still open.
            for _ in events:
                pass
            names.restore(previous)

    def _newParser(self):
        # The encoding is fixed to UTF-8 (RFC 6120 §11.6); a declaration
        # naming another one is refused by the prologue scan.  Comments and
        # PIs are kept as events, to be refused; "internal" entities are
        # resolved, as the module's docstring explains.
        return safePullParser(
            events=("start", "end", "comment", "pi"), resolve_entities="internal",
            remove_comments=False, remove_pis=False, encoding="utf-8")

    # Feeding

    def _feedSlice(self, data):
        afterElement = self._afterElement
        if afterElement is not None and data.isspace():
            if afterElement is _CLEAN or _endsCleanly(afterElement):
                # Whitespace between top-level elements (§4.6.1, §11.7):
                # meaningless, so it is neither parsed nor counted.
                self._afterElement = _CLEAN
                self._pending = 0
                return
            self._afterElement = None
        size = len(data)
        if self._root is None:
            if self._headerBytes >= self._maxHeaderSize:
                raise StreamError("policy-violation", "The stream header is too large")
            self._headerBytes += size
            if self._inPrologue:
                self._scanPrologue(data)
        else:
            self._pending += size
            if self._pending > self._maxStanzaSize:
                raise StreamError(
                    "policy-violation",
                    "Stanzas are limited to %d bytes" % (self._maxStanzaSize,))
        parser = self._parser
        if parser is None:
            parser = self._parser = self._newParser()
        try:
            parser.feed(data)
        except etree.XMLSyntaxError as e:
            error = e
        else:
            error = None
        boundary = self._processEvents(parser)
        if self._parser is not parser:
            # The stream ended, or a callback reset or closed the parser.
            return
        if error is not None:
            raise self._syntaxError(error, data)
        if self._depth == 1:
            # Character data between top-level elements would otherwise
            # collect on the root for the life of the stream.
            self._root.text = None
        if boundary:
            # What follows the last complete element in this chunk is
            # pending; count the whole chunk, to stay on the safe side.
            self._pending = size
            self._afterElement = data if self._depth == 1 else None
            if (self._afterElement is not None
                    and names.dictSize() - self._scope.base > self._maxNames
                    and _endsCleanly(data)):
                self._renewScope()
        else:
            self._afterElement = None

    def _renewScope(self):
        """
        Start a new name dictionary for the rest of the stream, between two
        top-level elements: a new lxml parser, given a copy of the stream
        header's namespace declarations, takes over.  The old dictionary is
        freed with the parser and the last stanza parsed into it.
        """
        declarations = self._root.nsmap
        self._dropParser()
        self._scope = names.NameScope()
        # Installed until the end of this feed (which then restores what
        # was there before it).
        self._scope.install()
        parser = self._parser = self._newParser()
        header = "<%s:stream%s>" % (_STREAM_PREFIX, "".join(
            " xmlns%s=%s" % (":" + prefix if prefix else "", quoteattr(uri))
            for prefix, uri in declarations.items()))
        parser.feed(header.encode("utf-8"))
        for event, element in parser.read_events():
            self._root = element
        self._depth = 1
        self._pending = 0
        self._nodes = 0
        self._logSeen = 0
        self._afterElement = _CLEAN

    def _processEvents(self, parser):
        """
        Act on the events of the last chunk.

        @return: whether the chunk completed the header or a top-level
            element (C{None} if a callback reset or closed the parser).
        """
        boundary = False
        checked = False
        depth = self._depth
        root = self._root
        maxDepth = self._maxRootDepth
        for event, element in parser.read_events():
            if event == "start":
                depth += 1
                if depth > 1:
                    attributes = element.attrib
                    count = len(attributes)
                    if depth == 2:
                        if element.tag == _STREAM_TAG:
                            # A second stream header inside the open stream
                            # (not a restart, which starts a new document
                            # through reset): a <stream/> child of <stream/>
                            # is invalid against the schema of RFC 6120
                            # Appendix A.1, hence invalid-xml (§4.9.3.11),
                            # before it can swallow what follows.
                            raise StreamError("invalid-xml",
                                              "A stream header inside an open stream")
                        self._nodes = 1 + count
                    else:
                        if depth > maxDepth:
                            raise StreamError("policy-violation", "Elements are nested too deeply")
                        self._nodes += 1 + count
                    if count > self._maxAttributes:
                        raise StreamError("policy-violation",
                                          "Elements are limited to %d attributes"
                                          % (self._maxAttributes,))
                    if self._nodes > self._maxNodes:
                        raise StreamError("policy-violation",
                                          "Stanzas are limited to %d elements and attributes"
                                          % (self._maxNodes,))
                    if count and self._pending > self._maxAttributeSize:
                        # Only a chunk longer than the limit can hold a
                        # value longer than the limit.
                        self._checkValues(attributes)
                elif depth == 1:
                    self._depth = depth
                    self._root = root = element
                    self._startStream(parser, element)
                    checked = boundary = True
                    if self._parser is not parser:
                        return None
            elif event == "end":
                depth -= 1
                if depth == 1:
                    if not checked:
                        self._checkNamespaces(parser)
                        checked = True
                    boundary = True
                    stanza = element.__copy__()
                    stanza.tail = None
                    root.remove(element)
                    self._depth = depth
                    self._onElement(stanza)
                    if self._parser is not parser:
                        return None
                elif depth == 0:
                    self._endStream()
                    return None
            elif event == "comment":
                raise StreamError("restricted-xml", "Comments are not allowed (RFC 6120 §11.1)")
            else:
                raise StreamError(
                    "restricted-xml", "Processing instructions are not allowed (RFC 6120 §11.1)")
        self._depth = depth
        return boundary

    def _checkValues(self, attributes):
        limit = self._maxAttributeSize
        for value in attributes.values():
            if len(value) > limit:
                raise StreamError("policy-violation",
                                  "Attribute values are limited to %d characters" % (limit,))

    def _startStream(self, parser, root):
        """
        Check the root start tag (RFC 6120 §4.8) and announce it.
        """
        tag = root.tag
        if tag != _STREAM_TAG:
            if tag[:1] != "{" and ":" in tag:
                raise StreamError("bad-namespace-prefix",
                                  "The stream's namespace prefix is not declared")
            raise StreamError("invalid-namespace",
                              "The root element must be <stream> in %s" % (NS.STREAMS,))
        if root.prefix != _STREAM_PREFIX:
            raise StreamError("bad-namespace-prefix",
                              "The stream namespace must use the prefix 'stream'")
        self._checkNamespaces(parser)
        defaultNamespace = root.nsmap.get(None)
        if defaultNamespace not in self._contentNamespaces:
            raise StreamError("invalid-namespace",
                              "The default namespace must be one of %s"
                              % (", ".join(sorted(self._contentNamespaces)),))
        self._onHeader(StreamHeader(tag, root.prefix, defaultNamespace, dict(root.attrib)))

    def _endStream(self):
        self._ended = True
        self._generation += 1
        self._dropParser()
        self._onEnd()

    def _checkNamespaces(self, parser):
        """
        Refuse data that is not namespace-well-formed (RFC 6120 §11.3):
        libxml2 reports an undeclared prefix but keeps going.
        """
        log = parser.feed_error_log
        count = len(log)
        if count == self._logSeen:
            return
        for index in range(self._logSeen, count):
            entry = log[index]
            if entry.domain == _NAMESPACE_DOMAIN and entry.level >= _LOG_ERROR_LEVEL:
                raise StreamError("not-well-formed", entry.message)
        # Warnings (such as the relative namespace name 'vcard-temp') are
        # harmless, and libxml2 stops logging them after a hundred; fatal
        # errors raise from feed() and are mapped by _syntaxError.
        self._logSeen = count

    def _scanPrologue(self, data):
        """
        Look at the bytes before the root start tag (RFC 6120 §11.1,
        §11.5, §11.6): refuse a DTD, comment, processing instruction or a
        declared encoding other than UTF-8 before lxml parses them.
        """
        buffer = self._prologue + data if self._prologue else data
        if buffer[:1] in (b"\xfe", b"\xff") or b"\x00" in buffer[:4]:
            raise StreamError("unsupported-encoding", "Only UTF-8 is allowed")
        position = self._prologueScan
        length = len(buffer)
        while True:
            lt = buffer.find(b"<", position)
            if lt < 0:
                position = length
                break
            if lt + 1 >= length:
                position = lt
                break
            following = buffer[lt + 1]
            if following == 0x21:  # "<!"
                raise StreamError("restricted-xml",
                                  "DTDs and comments are not allowed (RFC 6120 §11.1)")
            if following != 0x3F:  # not "<?": the root start tag begins
                self._inPrologue = False
                self._prologue = b""
                return
            end = buffer.find(b"?>", lt + 2)
            if end < 0:
                position = lt
                break
            if not _XML_DECLARATION.match(buffer, lt):
                raise StreamError("restricted-xml",
                                  "Processing instructions are not allowed (RFC 6120 §11.1)")
            match = _DECLARED_ENCODING.search(buffer, lt, end)
            if match is not None:
                encoding = (match.group(1) or match.group(2) or b"").lower()
                if encoding not in _UTF8_NAMES:
                    raise StreamError("unsupported-encoding", "Only UTF-8 is allowed")
            position = end + 2
        self._prologue = buffer
        self._prologueScan = position

    def _syntaxError(self, error, data):
        """
        Map an lxml parse error to the stream error it calls for.
        """
        code = error.code
        message = (error.msg or "").split("\n", 1)[0]
        if code in _RESTRICTED_ERRORS:
            return StreamError("restricted-xml", message)
        if code in _ENCODING_ERRORS:
            return StreamError("unsupported-encoding", message)
        if code in _LIMIT_ERRORS:
            return StreamError("policy-violation", message)
        if code == _ERR.ERR_NO_MEMORY:
            return StreamError("resource-constraint")
        if _hasMarkupDeclaration(data):
            # A DOCTYPE or entity declaration in the middle of the stream
            # is malformed there, but what was attempted is restricted XML.
            return StreamError("restricted-xml", message)
        return StreamError("not-well-formed", message)


def _endsCleanly(data):
    """
    Whether C{data}, a chunk that completed a top-level element, leaves
    nothing pending after that element: it ends with a complete end tag or
    empty-element tag, and holds nothing (CDATA, comment) that could hide a
    C{<}.  A wrong "yes" only costs a sender whitespace inside its own
    unfinished markup; it never lets bytes pile up uncounted.
    """
    lt = data.rfind(b"<")
    if lt < 0:
        return True
    if b"<!" in data or b"<?" in data:
        return False
    return _COMPLETE_TAG_TAIL.fullmatch(data, lt) is not None


def _hasMarkupDeclaration(data):
    start = data.find(b"<!")
    while start >= 0:
        if not data.startswith(b"<![CDATA[", start):
            return True
        start = data.find(b"<!", start + 2)
    return False
