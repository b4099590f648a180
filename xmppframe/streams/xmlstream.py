"""
What every XML stream of the server shares (RFC 6120 §4), whoever is at the
other end: a client (c2s), another server in either direction (s2s), or an
external component.

  - The bytes that arrive go to a L{StreamParser}; a L{StreamError} it or a
    callback raises closes the stream with that error.  A peer that sends
    faster than its configured rate is read more slowly (L{ReadShaper}).
  - Stanzas queued in one reactor turn leave in one write after the turn
    (L{WriteCoalescer}); any other write (a header, a negotiation element, a
    stream error) flushes them first, so the order on the wire is kept.
    A peer that stops reading while more and more is written to it is cut
    off once what waits for it passes a limit, before it can eat the
    server's memory.
  - Closing (§4.4): a stream error first when there is one, after our
    header if it has not gone out yet (§4.9.1.1); then our closing tag; the
    TCP connection is dropped when the peer closes its side, or after a
    grace period.
  - A peer has C{header_timeout} seconds from the connection (and from
    each restart) to complete its stream header: one that sends nothing,
    or half a header, is closed with C{connection-timeout}.
  - When the connection goes, the timers stop and the parser is dropped.

The kinds of stream differ in their headers, their negotiation and what
their stanzas mean; those are the subclasses' (L{xmppframe.streams.c2s},
L{xmppframe.streams.s2s}, L{xmppframe.streams.component}).
"""

from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from xmppframe.errors import StreamError
from xmppframe.streams.shaper import ReadShaper
from xmppframe.streams.write import coalescable, pendingBytes, writeStanza
from xmppframe.xml.parser import StanzaLimits, StreamParser
from xmppframe.xml.stanza import streamErrorBytes

__all__ = ["STREAM_END", "XMLStream"]

#: Our side's closing tag (RFC 6120 §4.4).
STREAM_END = b"</stream:stream>"


class XMLStream(Protocol):
    """
    One XML stream over one connection.

    A subclass provides C{_onHeader(header)}, C{_onElement(element)} and
    C{_sendHeader()} (which writes our header unless it has gone out, and
    sets C{_headerSent}); it calls L{_startParsing} from C{connectionMade}
    and this class's C{connectionLost} from its own.  It may extend
    L{_closeStarted}, called once when the stream starts closing.

    @ivar context: the L{xmppframe.streams.context.StreamContext}, all the
        stream sees of the server; it is told of the stream
        (C{streamStarted}, C{streamEnded}) and its C{writes} batches the
        stream's stanzas.
    @ivar reactor: the reactor the stream's timers run on (the context's).
    @ivar closing: whether the stream is closing or closed; nothing more is
        read or sent.
    @ivar peerHost: the peer's address, for log lines.
    """

    #: Names the kind of stream in log lines (C{c2s}, C{s2s-in}, ...).
    kind = None
    _log = Logger()
    #: Seconds to wait for the peer's closing tag after ours (§4.4).
    closeGrace = 2.0
    #: Whether the connection goes at once after a stream error, rather
    #: than after the peer's closing tag.
    dropAfterError = False

    def __init__(self, context):
        self.context = context
        self.reactor = context.reactor
        # Read once here rather than through the context for each stanza.
        self._writes = context.writes
        self.closing = False
        self.peerHost = None
        self._parser = None
        self._headerSent = False
        self._peerEnded = False
        self._timers = {}
        # Stanzas to write after this reactor turn, or None; _coalesce says
        # whether the transport is worth batching for.
        self._outgoing = None
        self._coalesce = False
        self._shaper = None
        self._maxPending = 0
        # What was read while the peer was ahead of its rate, to be parsed
        # when reading resumes; None when reading is not held back.
        self._held = None
        self._headerTimeout = 0

    # Connection lifecycle

    def _startParsing(self, contentNamespace, maxStanzaSize, readRate=0, readBurst=0,
                      maxPending=0, headerTimeout=0, limitsFrom=None):
        """
        Start reading: the parser for a stream whose content namespace is
        C{contentNamespace} (§4.8.2), and the server told of the stream.

        @param readRate: the bytes per second the peer may send on average
            (C{0}: no limit), with
        @param readBurst: the bytes it may send at once.
        @param maxPending: the most bytes that may wait for the peer to
            read them before the stream is closed (C{0}: no limit).
        @param headerTimeout: the seconds the peer has, from now and from
            each restart (L{_resetParser}), to complete its stream header;
            a peer that sends nothing, or only part of a header, is then
            closed with C{connection-timeout} (C{0}: no limit).
        @param limitsFrom: the config section whose C{max_stanza_nodes},
            C{max_attributes}, C{max_attribute_size} and C{max_depth} bound
            a stanza (L{StanzaLimits}), or C{None} for the defaults.
        """
        self._maxPending = maxPending
        self._coalesce = coalescable(self.transport)
        self._parser = StreamParser(
            self._headerArrived, self._onElement, self._onEnd,
            maxStanzaSize=maxStanzaSize, contentNamespaces=frozenset({contentNamespace}),
            limits=StanzaLimits.fromConfig(limitsFrom) if limitsFrom is not None else None)
        if readRate > 0:
            self._shaper = ReadShaper(readRate, readBurst, self.reactor.seconds())
        self._headerTimeout = headerTimeout
        self._awaitHeader()
        self.context.streamStarted(self)

    def _awaitHeader(self):
        if self._headerTimeout > 0 and not self.closing:
            timer = self._timers.get("header")
            if timer is not None and timer.active():
                timer.reset(self._headerTimeout)
            else:
                self._timers["header"] = self.callLater(self._headerTimeout,
                                                        self._headerTimedOut)

    def _headerArrived(self, header):
        timer = self._timers.pop("header", None)
        if timer is not None and timer.active():
            timer.cancel()
        self._onHeader(header)

    def _headerTimedOut(self):
        self._timers.pop("header", None)
        # RFC 6120 §4.9.3.4; the close logs the one line.
        self.close("connection-timeout",
                   "No stream header within %g seconds" % (self._headerTimeout,))

    def _resetParser(self):
        """
        Restart the stream (RFC 6120 §4.3.3, after STARTTLS or SASL): the
        parser starts a new document, and the peer's new header is awaited
        as the first was.
        """
        self._parser.reset()
        self._awaitHeader()

    def dataReceived(self, data):
        if self.closing or self._parser is None:
            return
        if self._shaper is not None:
            pause = self._shaper.take(len(data), self.reactor.seconds())
            if self._held is not None:
                # The rest of what TLS decrypted from the same read: it waits
                # too, and the wait covers all of it.
                self._held.append(data)
                if pause > 0.0:
                    self._timers["shaper"].reset(pause)
                return
            if pause > 0.0:
                self._holdBack(data, pause)
                return
        self._feed(data)

    def _feed(self, data):
        try:
            self._parser.feed(data)
        except StreamError as e:
            self.close(e.condition, e.text)

    def _holdBack(self, data, seconds):
        """
        The peer is ahead of its rate: parse C{data}, and read anything
        more, only after C{seconds}.  What it sends meanwhile waits in the
        kernel's buffers, and TCP slows the sender down.
        """
        self._held = [data]
        self.transport.pauseProducing()
        self._timers["shaper"] = self.callLater(seconds, self._resume)

    def _resume(self):
        del self._timers["shaper"]
        held, self._held = self._held, None
        generation = self._parser.generation
        for data in held:
            if self.closing:
                return
            if self._parser.generation != generation:
                # A restart (after STARTTLS or SASL, RFC 6120 §5.4.3.3,
                # §6.4.6) came with an earlier chunk: what the peer sent
                # before it belongs to no stream, as the parser treats the
                # rest of a chunk that restarts.
                break
            self._feed(data)
        if not self.closing:
            self.transport.resumeProducing()

    def connectionLost(self, reason):
        self.closing = True
        self._outgoing = None
        self.context.streamEnded(self)
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
        if self._parser is not None:
            self._parser.close()
            self._parser = None

    def callLater(self, delay, f, *args):
        return self.reactor.callLater(delay, f, *args)

    def _onEnd(self):
        # §4.4: the peer closed its stream; it sends nothing more, so ours
        # closes and the connection can go at once.
        self._peerEnded = True
        self.close()

    # Writing

    def _write(self, data):
        """
        Write C{data} now, after the stanzas still queued: for everything
        but stanzas (headers, negotiation, stream errors), which a peer
        awaits one by one, so that batching would gain nothing.
        """
        if self._outgoing is not None:
            self.flushOutgoing()
        if writeStanza(self.transport, data) and self._maxPending:
            self._checkPending()

    def _queueStanza(self, data):
        """
        Write the serialized stanza C{data} after this reactor turn, with
        the others queued for this stream meanwhile.
        """
        outgoing = self._outgoing
        if outgoing is not None:
            outgoing.append(data)
        elif self._coalesce:
            self._outgoing = [data]
            self._writes.queue(self)
        elif writeStanza(self.transport, data) and self._maxPending:
            self._checkPending()

    def flushOutgoing(self):
        """
        Write the stanzas queued this reactor turn, in one write.
        """
        outgoing, self._outgoing = self._outgoing, None
        if outgoing and writeStanza(
                self.transport, outgoing[0] if len(outgoing) == 1 else b"".join(outgoing)
        ) and self._maxPending:
            self._checkPending()

    def _checkPending(self):
        """
        Close the stream when more than the limit waits for the peer to
        read it: a peer that stops reading (or reads too slowly for what it
        asks for) would otherwise make the server buffer without bound.
        """
        if self.closing:
            return
        pending = pendingBytes(self.transport)
        if pending > self._maxPending:
            self.close("policy-violation",
                       "%d bytes are waiting for you to read them" % (pending,))
            # It would not read the stream error either: waiting to flush
            # what is buffered would keep the connection forever.
            self.transport.abortConnection()

    # Closing

    def close(self, condition=None, text=None):
        """
        Close the stream (§4.4), with a stream error first if C{condition}
        is given (§4.9.1.1: the header goes out first if it has not yet).
        """
        if self.closing:
            return
        self.closing = True
        if self._parser is not None:
            self._parser.close()
        if self.transport is None:
            self._closeStarted()
            return
        try:
            if condition is not None:
                self._log.info("{kind} {peer} stream error {condition}{text}", kind=self.kind,
                               peer=self.peerHost, condition=condition,
                               text=": " + text if text else "")
                self._sendHeader()
                self._write(streamErrorBytes(StreamError(condition, text)))
            if self._headerSent:
                self._write(STREAM_END)
            else:
                self.flushOutgoing()
        finally:
            if self._peerEnded or (condition is not None and self.dropAfterError):
                self.transport.loseConnection()
            else:
                self._timers["close"] = self.callLater(self.closeGrace, self._drop)
        self._closeStarted()

    def _closeStarted(self):
        """
        The stream has started closing (our side is closed); subclasses
        end what depends on it.
        """

    def _drop(self):
        self._timers.pop("close", None)
        if pendingBytes(self.transport):
            # A peer that neither closed nor read what we sent: closing
            # gracefully would wait for it forever.
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def _sendHeader(self):
        raise NotImplementedError()
