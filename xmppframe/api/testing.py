"""
A harness for testing a module the way the server runs it, without
sockets: a router and session manager, virtual hosts on in-memory storage,
a clock, and fake client sessions that record what they are sent.

    harness = ModuleHarness("example.org")
    harness.load(LastActivityModule, {"...": ...})
    alice = harness.client("alice@example.org/home", available=True)
    harness.send(alice, "<iq type='get' id='1' to='example.org'>"
                        "<query xmlns='jabber:iq:last'/></iq>")
    [reply] = alice.take()

Modules are built with the same L{ModuleAPI} the server gives them, with
their options filled in from their schema; services other modules would
provide (a roster, say) can be given as fakes with L{ModuleHarness.provide}.
"""

from lxml import etree
from zope.interface import implementer

from twisted.internet import defer, task

from xmppframe.config import HostConfig
from xmppframe.host import VirtualHost
from xmppframe.interfaces import IClientSession
from xmppframe.jid import parseJID
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.storage.memory import MemoryStorage
from xmppframe.xml import namespaces as NS

from xmppframe.api.module import ModuleAPI

_STREAM_OPEN = ("<stream:stream xmlns='%s' xmlns:stream='%s' version='1.0'>"
                % (NS.CLIENT, NS.STREAMS))


@implementer(IClientSession)
class FakeClientSession:
    """
    A bound client session that keeps what it is sent in L{sent} and how
    it was closed in L{closed}.
    """

    kind = "c2s"

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
        self.closing = False
        self.lastActivity = 0.0
        self.sendFilters = []
        self.manager = manager
        self.sent = []
        self.closed = None

    def send(self, stanza):
        if self.closed is None:
            self.sent.append(stanza)

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
        return "<FakeClientSession %s>" % (self.jid,)


def parseStanzas(text, namespace=NS.CLIENT):
    """
    Parse C{text}, top-level elements of a stream, into detached elements
    in the stream's default namespace, as the stream parser hands them over.
    """
    parser = etree.XMLPullParser(events=("start", "end"), resolve_entities=False,
                                 no_network=True)
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


def parseStanza(text, namespace=NS.CLIENT):
    """
    Parse exactly one stanza; see L{parseStanzas}.
    """
    stanzas = parseStanzas(text, namespace)
    if len(stanzas) != 1:
        raise ValueError("expected one stanza, got %d" % (len(stanzas),))
    return stanzas[0]


class ModuleHarness:
    """
    Virtual hosts with their router, sessions, storage and clock, for
    loading modules and talking to them.

    @ivar host: the first host.
    @ivar clock: a L{task.Clock} every module gets as its reactor.
    """

    def __init__(self, domain="example.org", storage=None, clock=None, auth=None):
        self.clock = clock if clock is not None else task.Clock()
        self.storage = storage if storage is not None else MemoryStorage()
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = self.addHost(domain, auth=auth)

    def addHost(self, domain, auth=None):
        """
        Serve one more domain, with no modules yet.
        """
        config = HostConfig(name=domain, certificate=None, key=None, modules=())
        host = VirtualHost(config, auth, self.storage)
        self.router.addHost(host)
        return host

    def api(self, name, options=None, host=None):
        """
        The L{ModuleAPI} the server would give module C{name}.
        """
        host = host if host is not None else self.host
        return ModuleAPI(name, host, self.router, self.sessions, self.storage, self.clock,
                         options)

    def load(self, moduleClass, options=None, host=None):
        """
        Build and load C{moduleClass} on C{host} (the first host by default)
        with C{options} over its schema's defaults.

        @return: the module, loaded (a load that waits is run to its end
            on the clock-free memory storage; one that still waits fails).
        """
        host = host if host is not None else self.host
        module = moduleClass(self.api(moduleClass.name, options, host))
        loading = defer.maybeDeferred(module.load)
        failures = []
        loading.addErrback(failures.append)
        if failures:
            failures[0].raiseException()
        if not loading.called:
            raise RuntimeError("%s did not finish loading" % (moduleClass.name,))
        host.modules[moduleClass.name] = module
        return module

    def unload(self, name, host=None):
        host = host if host is not None else self.host
        host.modules.pop(name).unload()

    def provide(self, interface, provider, host=None):
        """
        Offer C{provider} for C{interface} on C{host}, as a module would:
        a fake service for the module under test.
        """
        (host if host is not None else self.host).services.provide(interface, provider)

    def client(self, jid, available=False, priority=0):
        """
        A client session bound to full JID C{jid} on its host.  An
        C{available} one is marked available without sending presence (use
        L{send} for real initial presence).
        """
        full = parseJID(jid)
        host = self.router.hostFor(full.domain)
        session = FakeClientSession(full.bare, host=host, available=available,
                                    priority=priority, manager=self.sessions)
        self.sessions.bind(session, full.resource)
        return session

    def send(self, session, text):
        """
        Parse C{text} (one stanza) and process it as sent by C{session}.

        @return: the parsed stanza.
        """
        stanza = parseStanza(text)
        self.router.process(session, stanza)
        return stanza
