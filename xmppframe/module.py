"""
The module API: what a feature module sees of the server.

A module gets one L{ModuleAPI} for the host it is loaded into and reaches
the rest of the server only through it: hooks on the host's event bus,
disco features, stores, its options, and the router.  Everything it hooks
through the API is unhooked when it is unloaded.
"""

from zope.interface import implementer

from twisted.logger import Logger

from xmppframe.errors import StanzaError
from xmppframe.events import iqEvent
from xmppframe.interfaces import IModule
from xmppframe.xml.stanza import errorReply, iqResult


class ModuleAPI:
    """
    The handle a module holds on its host.

    @ivar host: the L{IVirtualHost}.
    @ivar router: the L{IRouter}.
    @ivar sessions: the L{ISessionManager}.
    @ivar reactor: the reactor, for timers and threads.
    @ivar options: the module's options from the config (a dict).
    """

    def __init__(self, name, host, router, sessions, storage, reactor, options=None):
        self.name = name
        self.host = host
        self.router = router
        self.sessions = sessions
        self.storage = storage
        self.reactor = reactor
        self.options = dict(options or {})
        self.log = Logger(namespace="xmppframe.modules." + name)
        self._hooks = []
        self._accountFeatures = []
        self._discoItems = []
        self._features = []
        self._responders = []
        self._elementHandlers = []

    def hook(self, name, handler, priority=0):
        """
        Call C{handler(event)} for the event C{name} on this host.
        """
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

    def option(self, name, default=None):
        return self.options.get(name, default)

    def unhookAll(self):
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
    A base class for modules: subclasses set C{name}, override C{load} to
    hook what they need through C{self.api}, and get C{unload} for free.
    """

    name = None
    dependencies = ()
    #: The specifications it implements, e.g. C{("XEP-0199",)}, listed by
    #: C{xmppframe modules}.
    xeps = ()
    #: name -> L{xmppframe.config.ModuleOption}; the validated values are
    #: in C{self.api.options}.
    optionSchema = {}

    def __init__(self, api):
        self.api = api

    def load(self):
        pass

    def unload(self):
        self.api.unhookAll()
