"""
A harness for testing a module the way the server runs it, without
sockets: a router and session manager, virtual hosts on in-memory storage,
a clock, and fake client sessions that record what they are sent.

    harness = ModuleHarness("example.org", users=["alice"])
    harness.load(LastActivityModule, {"...": ...})
    alice = harness.client("alice@example.org/home", available=True)
    reply = harness.ask(alice, "<iq type='get' id='1' to='example.org'>"
                               "<query xmlns='jabber:iq:last'/></iq>")

Modules are built with the same L{ModuleAPI} the server gives them, with
their options filled in from their schema; services other modules would
provide (a roster, say) can be given as fakes with L{ModuleHarness.provide}
(L{FakeRoster} is an in-memory roster), and the host's accounts as a
L{FakeAccounts}.
"""

from lxml import etree
from zope.interface import implementer

from twisted.internet import defer, task

from xmppframe.config import HostConfig
from xmppframe.host import VirtualHost
from xmppframe.interfaces import IClientSession, IRoster
from xmppframe.jid import parseJID
from xmppframe.rosteritem import RosterItem
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.storage.memory import MemoryStorage
from xmppframe.xml import namespaces as NS
from xmppframe.xml.safe import safePullParser

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
        """
        Keep C{stanza}, unless the session is closed or one of its
        L{sendFilters} takes it (a filter returning true), as a client
        stream does.
        """
        if self.closed is not None:
            return
        if self.sendFilters:
            for sendFilter in tuple(self.sendFilters):
                if sendFilter(self, stanza):
                    return
        self.sent.append(stanza)

    def sendSerialized(self, data):
        """
        Take an already serialized stanza as L{send} takes an element (the
        filters see it as an element, as on a client stream).
        """
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
        return "<FakeClientSession %s>" % (self.jid,)


def parseStanzas(text, namespace=NS.CLIENT):
    """
    Parse C{text}, top-level elements of a stream, into detached elements
    in the stream's default namespace, as the stream parser hands them over.
    """
    parser = safePullParser()
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


class StanzaAssertions:
    """
    Assertions on the replies a module sends, for a C{TestCase} to mix in.
    """

    def assertResult(self, reply, id=None):
        """
        C{reply} is an iq result (to the request C{id}, if given).
        """
        self.assertEqual(reply.get("type"), "result", etree.tostring(reply))
        if id is not None:
            self.assertEqual(reply.get("id"), id)

    def assertStanzaError(self, reply, condition, id=None):
        """
        C{reply} is a stanza error of C{condition} (answering C{id}, if
        given).
        """
        self.assertEqual(stanzaErrorCondition(reply), condition, etree.tostring(reply))
        if id is not None:
            self.assertEqual(reply.get("id"), id)


class _Gate:
    """
    Answers that wait while C{paused} until L{release}, as a store or an
    account database behind a thread answers later.
    """

    def __init__(self):
        self.paused = False
        self._waiting = []

    def _answer(self, compute, key=None):
        paused = self.paused
        if paused is True or (paused and key in paused):
            d = defer.Deferred()
            self._waiting.append((d, compute))
            return d
        return defer.succeed(compute())

    def release(self):
        """
        Stop pausing, and answer every call that waited, in order.
        """
        self.paused = False
        while self._waiting:
            d, compute = self._waiting.pop(0)
            d.callback(compute())


class FakeAccounts(_Gate):
    """
    The accounts of a host, as far as modules ask (L{IAuthProvider}'s
    C{userExists} and C{listUsers}).  While C{paused} is true, answers wait
    for L{release}.
    """

    def __init__(self, users=()):
        _Gate.__init__(self)
        self.users = set(users)

    def userExists(self, username):
        return self._answer(lambda: username in self.users)

    def listUsers(self):
        return self._answer(lambda: sorted(self.users))

    def deleteUser(self, username):
        from xmppframe.auth import NoSuchUser

        def delete():
            if username not in self.users:
                raise NoSuchUser(username)
            self.users.discard(username)
        return defer.maybeDeferred(self._answer, delete)


@implementer(IRoster)
class FakeRoster(_Gate):
    """
    An in-memory L{IRoster}: C{user -> {bare JID: RosterItem}}, every
    changed item kept in L{pushes} as C{(user, item)}.  C{paused} is
    C{True} (every call) or a set of users whose calls wait for
    L{release}.
    """

    def __init__(self):
        _Gate.__init__(self)
        self.items = {}
        self.pushes = []

    def setItem(self, user, contact, **fields):
        """
        Put C{contact} (a JID or its text) in C{user}'s roster with the
        L{RosterItem} C{fields} (subscription, ask, groups, ...), no push.
        """
        contact = (parseJID(contact) if isinstance(contact, str) else contact).bare
        item = self.items.setdefault(user, {})[contact] = RosterItem(contact, **fields)
        return item

    def item(self, user, contact):
        """
        @return: C{user}'s item for C{contact} (a JID or its text), now.
        """
        contact = parseJID(contact) if isinstance(contact, str) else contact
        return self.items.get(user, {}).get(contact.bare)

    def getItem(self, user, contact):
        return self._answer(lambda: self.items.get(user, {}).get(contact.bare), user)

    def getItems(self, user):
        return self._answer(lambda: list(self.items.get(user, {}).values()), user)

    def updateSubscription(self, user, contact, subscription=None, ask=None, approved=None):
        def update():
            roster = self.items.setdefault(user, {})
            old = roster.get(contact.bare) or RosterItem(contact.bare)
            changes = {}
            if subscription is not None:
                changes["subscription"] = subscription
            if ask is not None:
                changes["ask"] = ask
            if approved is not None:
                changes["approved"] = approved
            new = old.evolve(**changes)
            if new != roster.get(contact.bare):
                roster[contact.bare] = new
                self.pushes.append((user, new))
            return new
        return self._answer(update, user)

    def removeItem(self, user, contact):
        return self._answer(
            lambda: self.items.get(user, {}).pop(contact.bare, None) is not None, user)


class ModuleHarness:
    """
    Virtual hosts with their router, sessions, storage and clock, for
    loading modules and talking to them.

    @ivar host: the first host.
    @ivar clock: a L{task.Clock} every module gets as its reactor.
    """

    def __init__(self, domain="example.org", storage=None, clock=None, auth=None,
                 users=None):
        """
        @param auth: the host's account provider; or give C{users}, the
            accounts of a L{FakeAccounts} (then in L{accounts}).
        """
        self.clock = clock if clock is not None else task.Clock()
        self.storage = storage if storage is not None else MemoryStorage(self.clock)
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = self.addHost(domain, auth=auth, users=users)

    @classmethod
    def over(cls, router, sessions, storage, clock, host=None):
        """
        A harness that loads modules into hosts that already run, on the
        given C{router}, C{sessions} and C{storage} (those of a whole
        server under test, whose real streams then meet the module).
        """
        harness = cls.__new__(cls)
        harness.clock = clock
        harness.storage = storage
        harness.sessions = sessions
        harness.router = router
        harness.host = host
        return harness

    def addHost(self, domain, auth=None, users=None):
        """
        Serve one more domain, with no modules yet; C{users}: see
        L{__init__}.
        """
        if auth is None and users is not None:
            auth = self.accounts = FakeAccounts(users)
        config = HostConfig(name=domain, certificate=None, key=None, modules=())
        host = VirtualHost(config, auth, self.storage)
        self.router.addHost(host)
        return host

    def removeAccount(self, user, host=None):
        """
        Remove the account C{user} of C{host} (the first host by default)
        as the server does, in band or from the admin command
        (L{xmppframe.accounts.removeAccount}): its credentials, its
        sessions closed, then every loaded module's
        L{xmppframe.api.ACCOUNT_REMOVED} cleanup, waited for.

        @return: a Deferred that fires when it is done.
        """
        from xmppframe.accounts import removeAccount
        host = host if host is not None else self.host
        return defer.ensureDeferred(removeAccount(host, self.sessions, user))

    def advance(self, seconds):
        """
        Move the modules' clock on by C{seconds}, running what falls due.
        """
        self.clock.advance(seconds)

    def api(self, name, options=None, host=None):
        """
        The L{ModuleAPI} the server would give module C{name}.
        """
        host = host if host is not None else self.host
        return ModuleAPI(name, host, self.router, self.sessions, self.storage, self.clock,
                         options)

    def create(self, moduleClass, options=None, host=None):
        """
        Build C{moduleClass} for C{host} (the first host by default) with
        C{options} over its schema's defaults, without loading it: for a
        test that loads it itself (a load that fails or waits).
        """
        host = host if host is not None else self.host
        return moduleClass(self.api(moduleClass.name, options, host))

    def load(self, moduleClass, options=None, host=None):
        """
        Build and load C{moduleClass} on C{host} (the first host by default)
        with C{options} over its schema's defaults.

        @return: the module, loaded (a load that waits is run to its end
            on the clock-free memory storage; one that still waits fails).
        """
        host = host if host is not None else self.host
        module = self.create(moduleClass, options, host)
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

    def withdraw(self, interface, host=None):
        """
        Take back what L{provide} offered for C{interface} on C{host}.
        """
        services = (host if host is not None else self.host).services
        services.withdraw(interface, services.get(interface))

    def client(self, jid, available=False, priority=0, interested=False,
               sessionClass=FakeClientSession):
        """
        A client session bound to full JID C{jid} on its host.  An
        C{available} one is marked available without sending presence (use
        L{send} for real initial presence); an C{interested} one has asked
        for its roster (RFC 6121 §2.1.6).  C{sessionClass} takes the
        arguments of L{FakeClientSession}.
        """
        full = parseJID(jid)
        host = self.router.hostFor(full.domain)
        session = sessionClass(full.bare, host=host, available=available,
                               priority=priority, manager=self.sessions)
        session.interested = interested
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

    def ask(self, session, text):
        """
        L{send} C{text} from C{session} and take the one stanza it got back.

        @raise AssertionError: if it got none, or more than one.
        """
        self.send(session, text)
        replies = session.take()
        if len(replies) != 1:
            raise AssertionError("expected one reply to %s, got %r" % (text, replies))
        return replies[0]

    def inject(self, text):
        """
        Parse C{text} and route it as another server hands a stanza over,
        its 'from' trusted.

        @return: the parsed stanza.
        """
        stanza = parseStanza(text)
        self.router.route(stanza)
        return stanza
