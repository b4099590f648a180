"""
Writing serialized stanzas to sockets: at once where that is safe (the one
piece of the hot path that reaches below Twisted's public transport
interface, kept here on its own), and batched per connection within a
reactor turn.
"""

from twisted.internet.tcp import Connection
from twisted.protocols.tls import TLSMemoryBIOProtocol

__all__ = ["WriteCoalescer", "coalescable", "pendingBytes", "writeStanza"]


def writeStanza(transport, data):
    """
    Write C{data} to C{transport}, at once when that is possible.

    Twisted buffers every write until the reactor's next turn, registering
    the socket for writability and unregistering it once written: two
    C{epoll_ctl} calls and a reactor turn per stanza, most of the cost of
    delivering a chat message.  On a plain TCP connection whose buffer is
    empty, the bytes go to the socket now (L{Connection.writeSomeData});
    only what the kernel does not take is buffered as usual.  Anything
    else (TLS, a non-empty buffer, a closing connection) takes Twisted's
    ordinary path, so the order of bytes is kept.

    @return: whether any of C{data} may be waiting in a buffer (see
        L{pendingBytes}), rather than certainly taken by the kernel.
    """
    if (isinstance(transport, Connection) and not transport.TLS
            and transport.connected and not transport.disconnecting
            and not transport.dataBuffer and not transport._tempDataBuffer):
        written = transport.writeSomeData(data)
        if isinstance(written, int):
            if written == len(data):
                return False
            data = data[written:]
    transport.write(data)
    return True


def pendingBytes(transport):
    """
    How many bytes written to C{transport} wait in Twisted's buffer for the
    kernel to take them: they pile up when the peer stops reading.  A plain
    TCP or STARTTLS connection, or the connection under a Direct TLS
    transport, says; any other transport counts as C{0}.
    """
    if isinstance(transport, TLSMemoryBIOProtocol):
        transport = transport.transport
    if isinstance(transport, Connection):
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    return 0


def coalescable(transport):
    """
    Whether writes to C{transport} are worth batching with
    L{WriteCoalescer}: a real socket (plain TCP, STARTTLS or Direct TLS),
    where each write costs a system call and, under TLS, a record.  Other
    transports (in-memory ones in tests, say) are written at once.
    """
    return isinstance(transport, (Connection, TLSMemoryBIOProtocol))


class WriteCoalescer:
    """
    Stanzas for one connection queued during a reactor turn go out in one
    write once the turn's I/O events have been handled.

    A presence broadcast, or a burst of messages, often sends several
    stanzas to the same connection while the reactor handles one batch of
    readable sockets.  Written one by one, each costs a C{send} system call
    (and a TLS record); queued, they cost one.  The wait is short: the
    flush runs as a zero-delay call, which the reactor runs right after
    the I/O events of the turn that queued the data, before it polls again.

    A target is anything with C{flushOutgoing()}; it queues itself with
    L{queue} when it has its first bytes of the turn and keeps them itself,
    so that its other writes can flush them first and keep the order.
    """

    def __init__(self, reactor):
        self._reactor = reactor
        self._targets = []
        self._scheduled = False

    def queue(self, target):
        """
        Call C{target.flushOutgoing()} after the current reactor turn.
        """
        self._targets.append(target)
        if not self._scheduled:
            self._scheduled = True
            self._reactor.callLater(0, self._flush)

    def _flush(self):
        self._scheduled = False
        targets, self._targets = self._targets, []
        for target in targets:
            target.flushOutgoing()
