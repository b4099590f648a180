"""
Writing serialized stanzas to a transport without waiting for the
reactor's next turn where that is safe: the one piece of the hot path that
reaches below Twisted's public transport interface, kept here on its own.
"""

from twisted.internet.tcp import Connection

__all__ = ["writeStanza"]


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
    """
    if (isinstance(transport, Connection) and not transport.TLS
            and transport.connected and not transport.disconnecting
            and not transport.dataBuffer and not transport._tempDataBuffer):
        written = transport.writeSomeData(data)
        if isinstance(written, int):
            if written == len(data):
                return
            data = data[written:]
    transport.write(data)
