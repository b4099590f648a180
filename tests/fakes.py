"""
Test doubles shared by the unit tests of the routing core: a client session
that records what it is sent, a virtual host built from a minimal config, a
parser that makes stanzas the way the stream parser does, and a transport
that counts its writes.
"""

from lxml import etree

from zope.interface import implementer

from twisted.internet import task
from twisted.internet.testing import StringTransport

from xmppframe.config import HostConfig
from xmppframe.host import VirtualHost
from xmppframe.interfaces import IClientSession
from xmppframe.jid import parseJID
from xmppframe.xml import namespaces as NS
from xmppframe.xml.safe import safePullParser

try:
    from xmppframe.storage.memory import MemoryStorage
except ImportError:  # the in-memory driver is optional for these tests
    MemoryStorage = None


@implementer(IClientSession)
class FakeSession:
    """
    A bound client session that keeps what it is sent in L{sent} and how
    it was closed in L{closed}, so a test can assert on both.

    @ivar sent: every stanza given to L{send} (or L{sendSerialized}, parsed
        back) and let through by the send filters, in order.
    @ivar closed: C{None} while open, else C{(condition, text)}.
    @ivar manager: an L{ISessionManager} to unbind from on L{close}, as a
        real stream does when it ends; C{None} to leave the table alone.
    """

    kind = "c2s"
    #: A fake session has no connection to tell activity by.
    lastActivity = None

    def __init__(self, jid, host=None, available=False, priority=0, manager=None):
        if isinstance(jid, str):
            jid = parseJID(jid)
        self.jid = jid
        self.host = host
        self.available = available
        self.priority = priority
        self.interested = False
        self.presence = None
        self.directedPresence = set()
        self.replaced = False
        self.sendFilters = []
        self.manager = manager
        self.sent = []
        self.closed = None

    @property
    def closing(self):
        return self.closed is not None

    def send(self, stanza):
        if self.closed is not None:
            return
        if self.sendFilters:
            for sendFilter in tuple(self.sendFilters):
                if sendFilter(self, stanza):
                    return
        self.sent.append(stanza)

    def sendSerialized(self, data):
        self.send(etree.fromstring(data))

    def close(self, condition=None, text=None):
        if self.closed is not None:
            return
        self.closed = (condition, text)
        if self.manager is not None:
            self.manager.unbind(self)

    def take(self):
        """
        @return: the stanzas sent so far, forgetting them.
        """
        sent, self.sent = self.sent, []
        return sent

    def __repr__(self):
        return "<FakeSession %s>" % (self.jid,)


def makeHost(name, modules=(), storage=None, auth=None):
    """
    A L{VirtualHost} for domain C{name} with no certificate, backed by an
    in-memory store when that driver is available.
    """
    config = HostConfig(name=name, certificate=None, key=None, modules=tuple(modules))
    if storage is None and MemoryStorage is not None:
        storage = MemoryStorage()
    return VirtualHost(config, auth, storage)


_STREAM_OPEN = (
    "<stream:stream xmlns='%s' xmlns:stream='%s' version='1.0'>"
    % (NS.CLIENT, NS.STREAMS))


def parseAll(text, namespace=NS.CLIENT):
    """
    Parse C{text}, the top-level elements of a stream, into detached lxml
    elements in the stream's default namespace (C{jabber:client} unless
    told), as the stream parser hands them to the router.
    """
    parser = safePullParser(events=("start", "end"))
    parser.feed(_STREAM_OPEN.replace(NS.CLIENT, namespace))
    parser.feed(text)
    parser.feed("</stream:stream>")
    stanzas = []
    depth = 0
    for action, element in parser.read_events():
        if action == "start":
            depth += 1
            continue
        depth -= 1
        if depth == 1:
            element.getparent().remove(element)
            stanzas.append(element)
    parser.close()
    return stanzas


def parse(text, namespace=NS.CLIENT):
    """
    Parse exactly one stanza; see L{parseAll}.
    """
    stanzas = parseAll(text, namespace)
    if len(stanzas) != 1:
        raise ValueError("expected one stanza, got %d" % (len(stanzas),))
    return stanzas[0]


def stanzaErrorCondition(stanza):
    """
    @return: the defined condition of the stanza error in C{stanza}
        (RFC 6120 §8.3.2), or C{None} if it is not an error.
    """
    if stanza.get("type") != "error":
        return None
    for error in stanza:
        if etree.QName(error).localname != "error":
            continue
        for child in error:
            name = etree.QName(child)
            if name.namespace == NS.STANZA_ERRORS and name.localname != "text":
                return name.localname
    return None


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
