"""
Test doubles shared by the unit tests of the routing core: a client session
that records what it is sent, a virtual host built from a minimal config, a
parser that makes stanzas the way the stream parser does, and a transport
that counts its writes.
"""

from twisted.internet import task
from twisted.internet.testing import StringTransport

from xmppframe.api.testing import (  # noqa: F401 (re-exported for the tests)
    FakeClientSession, parseStanza, parseStanzas, stanzaErrorCondition)
from xmppframe.config import HostConfig
from xmppframe.host import VirtualHost

try:
    from xmppframe.storage.memory import MemoryStorage
except ImportError:  # the in-memory driver is optional for these tests
    MemoryStorage = None


#: A bound client session that records what it is sent (the harness's).
FakeSession = FakeClientSession


def makeHost(name, modules=(), storage=None, auth=None):
    """
    A L{VirtualHost} for domain C{name} with no certificate, backed by an
    in-memory store when that driver is available.
    """
    config = HostConfig(name=name, certificate=None, key=None, modules=tuple(modules))
    if storage is None and MemoryStorage is not None:
        storage = MemoryStorage()
    return VirtualHost(config, auth, storage)


#: Stanzas parsed as the stream parser makes them (the harness's helpers).
parseAll = parseStanzas
parse = parseStanza


class ThreadedClock(task.Clock):
    """
    A clock for a server under test whose time the test moves on, with the
    running reactor's threads: what runs in a thread (the auth provider's
    key derivation) comes back through the real reactor, as trial expects
    of a Deferred a test waits for.
    """

    def getThreadPool(self):
        from twisted.internet import reactor
        return reactor.getThreadPool()

    def callFromThread(self, f, *args, **kwargs):
        from twisted.internet import reactor
        reactor.callFromThread(f, *args, **kwargs)


class CountingTransport(StringTransport):
    """
    A transport that counts its writes (to see what a stream batches).
    """

    def __init__(self):
        StringTransport.__init__(self)
        self.writes = 0

    def write(self, data):
        self.writes += 1
        StringTransport.write(self, data)
