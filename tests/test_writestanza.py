"""
Tests for L{xmppframe.streams.write.writeStanza}: stanzas written at once on
a plain TCP connection with an empty buffer, in order either way.
"""

from twisted.internet import defer, protocol, reactor, task
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from xmppframe.streams.write import WriteCoalescer, coalescable, pendingBytes, writeStanza


class _Collect(protocol.Protocol):
    def __init__(self, expected):
        self.received = b""
        self.expected = expected
        self.done = defer.Deferred()

    def dataReceived(self, data):
        self.received += data
        if len(self.received) >= self.expected and not self.done.called:
            self.done.callback(self.received)


class WriteStanzaTests(unittest.TestCase):

    def test_otherTransports(self):
        """
        A transport that is not a plain TCP connection is written to as
        usual.
        """
        transport = StringTransport()
        writeStanza(transport, b"<message/>")
        self.assertEqual(transport.value(), b"<message/>")

    @defer.inlineCallbacks
    def test_orderKeptOverTCP(self):
        """
        Over loopback TCP, a stanza written at once, one buffered behind
        Twisted's ordinary write and one after it arrive in order.
        """
        chunks = [b"<message id='1'/>", b"<message id='2'/>", b"<message id='3'/>"]
        expected = sum(len(chunk) for chunk in chunks)
        server = _Collect(expected)
        connected = defer.Deferred()

        class Sender(protocol.Protocol):
            def connectionMade(self):
                connected.callback(self.transport)

        port = reactor.listenTCP(0, protocol.Factory.forProtocol(lambda: server),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = protocol.ClientCreator(reactor, Sender)
        yield client.connectTCP("127.0.0.1", port.getHost().port)
        transport = yield connected
        self.addCleanup(transport.loseConnection)
        writeStanza(transport, chunks[0])
        transport.write(chunks[1])
        writeStanza(transport, chunks[2])
        received = yield server.done
        self.assertEqual(received, b"".join(chunks))


    @defer.inlineCallbacks
    def test_pendingWhenThePeerDoesNotRead(self):
        """
        When the peer stops reading, what the kernel does not take waits in
        Twisted's buffer: L{writeStanza} says so, and L{pendingBytes}
        counts it.
        """
        readers = []

        class NotReading(protocol.Protocol):
            def connectionMade(self):
                readers.append(self)
                self.transport.pauseProducing()

        connected = defer.Deferred()

        class Sender(protocol.Protocol):
            def connectionMade(self):
                connected.callback(self.transport)

        port = reactor.listenTCP(0, protocol.Factory.forProtocol(NotReading),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = protocol.ClientCreator(reactor, Sender)
        yield client.connectTCP("127.0.0.1", port.getHost().port)
        transport = yield connected
        self.addCleanup(lambda: [r.transport.abortConnection() for r in readers])
        self.addCleanup(transport.abortConnection)
        self.assertFalse(writeStanza(transport, b"<message/>"))
        self.assertEqual(pendingBytes(transport), 0)
        chunk = b"x" * 1000000
        buffered = [writeStanza(transport, chunk) for _ in range(32)]
        self.assertTrue(buffered[-1])
        self.assertGreater(pendingBytes(transport), 1000000)
        self.assertEqual(pendingBytes(StringTransport()), 0)


class WriteCoalescerTests(unittest.TestCase):

    def test_flushOncePerTurn(self):
        """
        Targets queued during a turn are flushed once, in order, by a single
        zero-delay call; the next turn schedules a new one.
        """
        clock = task.Clock()
        coalescer = WriteCoalescer(clock)
        flushed = []

        class Target:
            def __init__(self, name):
                self.name = name

            def flushOutgoing(self):
                flushed.append(self.name)

        coalescer.queue(Target("a"))
        coalescer.queue(Target("b"))
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(0)
        self.assertEqual(flushed, ["a", "b"])
        coalescer.queue(Target("c"))
        clock.advance(0)
        self.assertEqual(flushed, ["a", "b", "c"])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_coalescable(self):
        self.assertFalse(coalescable(StringTransport()))
