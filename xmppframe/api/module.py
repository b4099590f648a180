"""
The module API: what a feature module sees of the server.

A module gets one L{ModuleAPI} for the host it is loaded into and reaches
the rest of the server only through it: hooks on the host's event bus,
disco features, stores, its options, the router, iq requests and pushes,
and the services other modules provide.  Everything it hooks or provides
through the API is withdrawn when it is unloaded.
"""

from types import MappingProxyType

from zope.interface import implementer

from twisted.internet import defer
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from xmppframe.accounts import removeAccount
from xmppframe.errors import StanzaError
from xmppframe.events import iqEvent
from xmppframe.interfaces import IModule
from xmppframe.xml.stanza import errorReply, iqResult

from xmppframe.api.durability import DurabilityFence
from xmppframe.api.priorities import BANDS, Priority
from xmppframe.api.requests import RequestTracker


class ModuleLogger(Logger):
    """
    A module's logger (L{ModuleAPI.log}): Twisted's, except for a failure
    that is already explained in the log.

    An exception whose C{explained} attribute is a true string (such as
    L{xmppframe.storage.DatabaseDamaged}: the storage driver has logged, once,
    which file is damaged and what to do) is logged by L{failure} as one
    line at error level, the module's message and that string, without a
    traceback: the traceback would say nothing new, once per module and
    per stanza.  Every other failure is logged as Twisted logs it.
    """

    def failure(self, format, failure=None, level=LogLevel.critical, **kwargs):
        if failure is None:
            failure = Failure()
        explained = getattr(failure.value, "explained", None)
        if isinstance(explained, str) and explained:
            self.emit(LogLevel.error, format + ": {log_explained}", log_explained=explained,
                      **kwargs)
            return
        Logger.failure(self, format, failure, level, **kwargs)


class ModuleAPI:
    """
    The handle a module holds on its host.

    @ivar host: the L{IVirtualHost}.
    @ivar router: the L{IRouter}.
    @ivar sessions: the L{ISessionManager}.
    @ivar reactor: the reactor, for timers and threads.
    @ivar options: the module's options, validated against its
        C{optionSchema} with every default filled in (a read-only mapping).
    """

    def __init__(self, name, host, router, sessions, storage, reactor, options=None):
        self.name = name
        self.host = host
        self.router = router
        self.sessions = sessions
        self.storage = storage
        self.reactor = reactor
        self._options = dict(options or {})
        self.options = MappingProxyType(self._options)
        self.log = ModuleLogger(namespace="xmppframe.modules." + name)
        self._provided = []
        self._hooks = []
        self._accountFeatures = []
        self._discoItems = []
        self._features = []
        self._responders = []
        self._elementHandlers = []

    def declareOptions(self, schema):
        """
        Fill in the default of every option of C{schema} (name ->
        L{ModuleOption}) that was not given: the server gives validated
        values for all of them, and so a module only ever reads
        C{self.options[name]}.  (Unknown options are the config check's
        to refuse, with the key's path.)
        """
        for key, option in schema.items():
            self._options.setdefault(key, option.default)

    def hook(self, name, handler, priority=Priority.DEFAULT):
        """
        Call C{handler(event)} for the event C{name} on this host, in the
        band C{priority} (a L{Priority}).  The handler claims the event by
        returning anything but C{None}; it may return a Deferred (or be a
        coroutine function) to wait: the router then holds the stanza, and
        later ones from the same origin, until it fires (C{None}: go on
        with the next handler).
        """
        if priority not in BANDS:
            raise ValueError("priority %r is not one of the bands of Priority" % (priority,))
        entry = self.host.events.hook(name, handler, priority)
        self._hooks.append(entry)
        return entry

    def hookIQ(self, type, target, payloadName, handler, priority=0):
        """
        Handle iq C{type} (get/set) whose payload is C{payloadName}
        (C{(namespace, local)}) addressed to C{target} ('host', 'bare',
        'self').  C{handler(event)} returns the result payload element,
        C{True} for an empty result, a Deferred of either, or raises
        L{StanzaError}; the reply is sent for it.
        """
        def onIQ(event):
            try:
                result = handler(event)
            except StanzaError as e:
                self.router.bounce(event, e)
                return True
            except NotImplementedError:
                self.router.bounce(event, StanzaError("feature-not-implemented"))
                return True
            except Exception:
                self.log.failure("iq handler failed")
                self.router.bounce(event, StanzaError("internal-server-error"))
                return True
            if hasattr(result, "addCallbacks"):
                # Errback after the callback, so that a value that cannot
                # be made into a result still gets an error reply.
                result.addCallback(lambda value: self._answer(event, value))
                result.addErrback(lambda failure: self._answerFailure(event, failure))
            else:
                self._answer(event, result)
            return True

        return self.hook(iqEvent(type, target, payloadName), onIQ, priority)

    # Requests

    def _tracker(self):
        services = self.host.services
        if services.requests is None:
            services.requests = RequestTracker(self.host, self.router, self.reactor,
                                               self.sessions)
        return services.requests

    def request(self, iq, timeout=30.0):
        """
        Send C{iq}, a get or set with 'to' and 'from' (this host, or one of
        its accounts), and wait for its answer (RFC 6120 §8.2.3).

        @return: a Deferred of the result iq; it fails with the
            L{StanzaError} the entity answered, or with
            L{xmppframe.api.RequestTimedOut} after C{timeout} seconds
            (C{None}: no timeout; cancel the Deferred to stop waiting).
        """
        return self._tracker().request(iq, timeout)

    def push(self, user, payload, sessions=None):
        """
        Send an iq set of C{payload} from the account C{user}'s bare JID to
        each of C{sessions} (by default every bound session of the account),
        a roster or privacy list push (RFC 6121 §2.1.6, XEP-0016 §2.6).  The
        clients' answers are absorbed: RFC 6121 §2.1.6 says the server
        SHOULD NOT care what they are.
        """
        if sessions is None:
            sessions = self.sessions.sessionsFor(self._bareJID(user))
        self._tracker().push(sessions, payload)

    def _bareJID(self, user):
        text = "%s@%s" % (user, self.host.name)
        return self.sessions.knownJID(text) or self.router.jids.parse(text)

    # Durability

    def durable(self, event, write):
        """
        The stanza of C{event} is stored by C{write} (a Deferred that fires
        when the write is committed): nothing the server sends the
        stanza's sender after it goes out before that (see
        L{xmppframe.api.durability}).  Stanzas from a peer server or a
        component have no session to hold back.

        @return: C{write}.
        """
        origin = event.origin
        if origin is not None and origin.kind == "c2s":
            fence = DurabilityFence.of(origin)
            if fence is not None:
                fence.add(write)
        return write

    # Accounts

    def removeAccount(self, user, answer=None):
        """
        Remove the account C{user} of this host and all its data: its
        credentials go, C{answer()} (if given) is called, the account's
        sessions are closed with C{not-authorized} (XEP-0077 §3.2), and
        L{ACCOUNT_REMOVED} fires, every module's cleanup waited for.  The
        admin command runs the same cascade
        (L{xmppframe.accounts.removeAccount}).

        @return: a Deferred that fires when it is done; it fails with
            L{xmppframe.api.NoSuchUser} if there is no such account, or
            with L{xmppframe.accounts.RemovalIncomplete} if a module's
            cleanup failed.
        """
        return defer.ensureDeferred(removeAccount(self.host, self.sessions, user, answer))

    # Services

    def provide(self, interface, provider):
        """
        Offer C{provider} to the other modules of this host as the
        provider of the zope interface C{interface}, until unloaded.
        """
        self.host.services.provide(interface, provider)
        self._provided.append((interface, provider))

    def service(self, interface):
        """
        @return: what provides C{interface} on this host, or C{None} (the
            module that provides it should be among the dependencies).
        """
        return self.host.services.get(interface)

    def _answer(self, event, value):
        child = None if value is True or value is None else value
        self.reply(event, iqResult(event.stanza, child))

    def _answerFailure(self, event, failure):
        if failure.check(StanzaError):
            self.router.bounce(event, failure.value)
        elif failure.check(NotImplementedError):
            self.router.bounce(event, StanzaError("feature-not-implemented"))
        else:
            self.log.failure("iq handler failed", failure)
            self.router.bounce(event, StanzaError("internal-server-error"))

    def reply(self, event, stanza):
        """
        Send C{stanza}, an answer to C{event}, back the way it came.
        """
        if event.origin is not None:
            event.origin.send(stanza)
        else:
            self.router.route(stanza)

    def replyError(self, event, error):
        self.reply(event, errorReply(event.stanza, error))

    def addFeature(self, namespace):
        self.host.addFeature(namespace)
        self._features.append(namespace)

    def addStreamResponder(self, responder):
        """
        Add a stream feature responder to this host's client streams, like
        the built-in STARTTLS, SASL and bind ones
        (L{xmppframe.streams.negotiation}): C{responder.offer(stream)}
        returns the feature elements to advertise in the stream's current
        state (RFC 6120 §4.3.2), and C{responder.handlers(stream)} a dict
        of element Clark name -> C{handler(stream, element)} for elements
        received before a resource is bound.  Offer-only features (e.g.
        roster versioning) return no handlers.

        Optionally, C{responder.offerKey(stream)} returns a hashable value
        equal for two streams exactly when C{offer} and C{handlers} (and
        C{restrictsOthers}, if any) give the same for both, or C{None} when
        it cannot say: with it the stream features of a login can come
        from a cache (L{xmppframe.streams.c2s.FeaturesCache}) instead of
        being built and serialized again.
        """
        self.host.responders.append(responder)
        self._responders.append(responder)

    def addElementHandler(self, tag, handler):
        """
        Handle C{tag} (a Clark name), a top-level element that is not a
        stanza, sent by a bound client on this host, such as XEP-0352's
        C{<inactive/>}: C{handler(session, element)}.  Without a handler
        such an element ends the stream with C{unsupported-stanza-type}
        (RFC 6120 §4.9.3.24).

        @raise ValueError: if another module already handles C{tag}.
        """
        if tag in self.host.elementHandlers:
            raise ValueError("%s is already handled on %s" % (tag, self.host.name))
        self.host.elementHandlers[tag] = handler
        self._elementHandlers.append(tag)

    def addIdentity(self, category, type, name):
        self.host.addIdentity(category, type, name)

    def addAccountFeature(self, namespace):
        """
        Advertise C{namespace} in the disco#info the server gives for this
        host's accounts (XEP-0030 §3), until unloaded.
        """
        self.host.addAccountFeature(namespace)
        self._accountFeatures.append(namespace)

    def addDiscoItem(self, jid, name=None, node=None):
        """
        List C{jid} in this host's disco#items (XEP-0030 §4), until unloaded.
        """
        self.host.addDiscoItem(jid, name, node)
        self._discoItems.append((jid, node))

    def openStore(self, kind, name):
        """
        Open this host's store C{name} of C{kind} ('keyvalue', 'map' or
        'archive').
        """
        opener = {"keyvalue": self.storage.keyValue, "map": self.storage.map,
                  "archive": self.storage.archive}[kind]
        return opener(self.host.name, name)

    def unhookAll(self):
        for interface, provider in self._provided:
            self.host.services.withdraw(interface, provider)
        del self._provided[:]
        for namespace in self._accountFeatures:
            self.host.removeAccountFeature(namespace)
        del self._accountFeatures[:]
        for jid, node in self._discoItems:
            self.host.removeDiscoItem(jid, node)
        del self._discoItems[:]
        for entry in self._hooks:
            entry.cancel()
        del self._hooks[:]
        for namespace in self._features:
            self.host.removeFeature(namespace)
        del self._features[:]
        for responder in self._responders:
            self.host.responders.remove(responder)
        del self._responders[:]
        for tag in self._elementHandlers:
            self.host.elementHandlers.pop(tag, None)
        del self._elementHandlers[:]


@implementer(IModule)
class Module:
    """
    A base class for modules: subclasses declare what they are once, as
    class attributes (the plugin entry, C{xmppframe modules} and the config
    check all read them from here), override C{load} to hook what they
    need through C{self.api}, and get C{unload} for free.
    """

    #: The name hosts list in their C{modules}.
    name = None
    #: One line saying what it does, for C{xmppframe modules}.
    summary = ""
    #: The names of the modules it needs loaded first.
    dependencies = ()
    #: The specifications it implements, e.g. C{("XEP-0199",)}, listed by
    #: C{xmppframe modules}.
    xeps = ()
    #: name -> L{ModuleOption}; the validated values are in
    #: C{self.api.options}.
    optionSchema = {}

    def __init__(self, api):
        self.api = api
        api.declareOptions(self.optionSchema)

    def load(self):
        pass

    def unload(self):
        self.api.unhookAll()
