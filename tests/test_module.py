"""
Tests for L{xmppframe.api.module}: the module API a feature module uses, and
the error chain that turns what an iq handler raises into a stanza error
(RFC 6120 §8.3.3).
"""

from lxml import etree

from zope.interface import Interface, implementer
from zope.interface.verify import verifyObject

from twisted.internet import defer
from twisted.trial import unittest

from xmppframe.errors import StanzaError
from xmppframe.events import MESSAGE_ANNOTATE, iqEvent, stanzaEvent
from xmppframe.interfaces import IModule, IVirtualHost
from xmppframe.api import Module, ModuleAPI, ModuleOption, Priority
from xmppframe.api.testing import ModuleHarness, parseStanza as parse, stanzaErrorCondition

TEST_NS = "urn:xmppframe:test"
QUERY = (TEST_NS, "query")


class ModuleAPITestCase(unittest.TestCase):

    def setUp(self):
        self.harness = ModuleHarness("example.org")
        self.clock = self.harness.clock
        self.sessions = self.harness.sessions
        self.router = self.harness.router
        self.host = self.harness.host
        self.api = self.harness.api("test", {"limit": 5})
        self.alice = self.harness.client("alice@example.org/home", available=True)

    def query(self, type="get", id="q1", to="example.org"):
        toAttr = "" if to is None else " to='%s'" % (to,)
        return self.harness.send(self.alice, "<iq id='%s' type='%s'%s><query xmlns='%s'/></iq>"
                                 % (id, type, toAttr, TEST_NS))

    def assertResult(self, id="q1"):
        """
        Alice got exactly one iq result for C{id}, from the server, and it
        is returned (RFC 6120 §8.2.3: a result answers each get or set).
        """
        [reply] = self.alice.take()
        self.assertEqual(etree.QName(reply).localname, "iq")
        self.assertEqual(reply.get("type"), "result")
        self.assertEqual(reply.get("id"), id)
        self.assertEqual(reply.get("to"), "alice@example.org/home")
        return reply

    def assertError(self, condition, id="q1"):
        [reply] = self.alice.take()
        self.assertEqual(stanzaErrorCondition(reply), condition)
        self.assertEqual(reply.get("id"), id)
        self.assertEqual(reply.get("to"), "alice@example.org/home")
        return reply


class HookIQTests(ModuleAPITestCase):

    def test_payloadResult(self):
        """
        A returned element becomes the result's payload.
        """
        def handler(event):
            element = etree.Element("{%s}query" % (TEST_NS,))
            etree.SubElement(element, "{%s}item" % (TEST_NS,)).text = "one"
            return element
        self.api.hookIQ("get", "host", QUERY, handler)
        self.query()
        reply = self.assertResult()
        self.assertEqual(reply.get("from"), "example.org")
        [payload] = list(reply)
        self.assertEqual(payload.tag, "{%s}query" % (TEST_NS,))
        self.assertEqual(payload[0].text, "one")

    def test_trueEmptyResult(self):
        """
        C{True} means an empty result (RFC 6120 §8.2.3: a result may be
        empty).
        """
        self.api.hookIQ("set", "host", QUERY, lambda event: True)
        self.query(type="set")
        self.assertEqual(len(self.assertResult()), 0)

    def test_eventGiven(self):
        events = []
        self.api.hookIQ("get", "host", QUERY, lambda event: events.append(event) or True)
        stanza = self.query()
        [event] = events
        self.assertIs(event.stanza, stanza)
        self.assertIs(event.origin, self.alice)
        self.assertIs(event.host, self.host)

    def test_selfTarget(self):
        """
        An iq without C{to} reaches a handler hooked for 'self'
        (RFC 6120 §10.3.3).
        """
        self.api.hookIQ("get", "self", QUERY, lambda event: True)
        self.query(to=None)
        self.assertResult()

    def test_deferredResult(self):
        """
        A Deferred result is answered when it fires, not before.
        """
        pending = defer.Deferred()
        self.api.hookIQ("get", "host", QUERY, lambda event: pending)
        self.query()
        self.assertEqual(self.alice.sent, [])
        pending.callback(etree.Element("{%s}query" % (TEST_NS,)))
        self.assertEqual(len(self.assertResult()), 1)

    def test_deferredTrue(self):
        self.api.hookIQ("get", "host", QUERY, lambda event: defer.succeed(True))
        self.query()
        self.assertEqual(len(self.assertResult()), 0)

    def test_coroutineHandler(self):
        """
        A handler written with C{async def} can be wrapped with
        C{Deferred.fromCoroutine}.
        """
        async def handler(event):
            await defer.succeed(None)
            return True
        self.api.hookIQ("get", "host", QUERY,
                        lambda event: defer.Deferred.fromCoroutine(handler(event)))
        self.query()
        self.assertResult()

    def test_stanzaError(self):
        """
        A raised L{StanzaError} becomes that error (RFC 6120 §8.3).
        """
        def handler(event):
            raise StanzaError("item-not-found", text="no such thing")
        self.api.hookIQ("get", "host", QUERY, handler)
        self.query()
        reply = self.assertError("item-not-found")
        self.assertEqual(reply.get("from"), "example.org")

    def test_deferredStanzaError(self):
        self.api.hookIQ("get", "host", QUERY,
                        lambda event: defer.fail(StanzaError("not-allowed")))
        self.query()
        self.assertError("not-allowed")

    def test_notImplemented(self):
        """
        C{NotImplementedError} is C{feature-not-implemented}
        (RFC 6120 §8.3.3.3).
        """
        def handler(event):
            raise NotImplementedError()
        self.api.hookIQ("get", "host", QUERY, handler)
        self.query()
        self.assertError("feature-not-implemented")

    def test_deferredNotImplemented(self):
        self.api.hookIQ("get", "host", QUERY,
                        lambda event: defer.fail(NotImplementedError()))
        self.query()
        self.assertError("feature-not-implemented")

    def test_otherException(self):
        """
        Anything else is C{internal-server-error} (RFC 6120 §8.3.3.6), and
        is logged.
        """
        def handler(event):
            raise KeyError("bug")
        self.api.hookIQ("get", "host", QUERY, handler)
        self.query()
        self.assertError("internal-server-error")
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)

    def test_deferredOtherException(self):
        pending = defer.Deferred()
        self.api.hookIQ("get", "host", QUERY, lambda event: pending)
        self.query()
        pending.errback(ValueError("bug"))
        self.assertError("internal-server-error")
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_deferredUnusableValue(self):
        """
        A Deferred firing with something that cannot be a result payload
        still gets an answer, C{internal-server-error}, and is logged.
        """
        self.api.hookIQ("get", "host", QUERY, lambda event: defer.succeed(object()))
        self.query()
        self.assertError("internal-server-error")
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

    def test_serverGeneratedIQAnsweredThroughRouter(self):
        """
        An iq the server itself routes (no origin session) is answered
        through the router, to its C{from}.
        """
        self.api.hookIQ("get", "host", QUERY, lambda event: True)
        self.router.route(parse("<iq id='s1' type='get' from='alice@example.org/home' "
                                "to='example.org'><query xmlns='%s'/></iq>" % (TEST_NS,)))
        self.assertResult(id="s1")

    def test_priority(self):
        self.api.hookIQ("get", "host", QUERY, lambda event: True, priority=Priority.OBSERVE)
        self.api.hookIQ("get", "host", QUERY,
                        lambda event: etree.Element("{%s}query" % (TEST_NS,)),
                        priority=Priority.BEFORE_DELIVERY)
        self.query()
        self.assertEqual(len(self.assertResult()), 1)


class ModuleAPIMiscTests(ModuleAPITestCase):

    def test_hostInterface(self):
        self.assertTrue(verifyObject(IVirtualHost, self.host))
        self.assertEqual(self.host.name, "example.org")
        self.assertEqual(str(self.host.jid), "example.org")

    def test_hookCancel(self):
        events = []
        hook = self.api.hook(stanzaEvent("message", "host"), events.append)
        self.assertTrue(self.host.events.hasHandlers(stanzaEvent("message", "host")))
        hook.cancel()
        self.assertFalse(self.host.events.hasHandlers(stanzaEvent("message", "host")))

    def test_features(self):
        self.api.addFeature(TEST_NS)
        self.assertIn(TEST_NS, self.host.features())

    def test_identity(self):
        self.api.addIdentity("pubsub", "pep", "Personal events")
        self.assertIn(("pubsub", "pep", "Personal events"), self.host.identities())

    def test_options(self):
        """
        The options are what the server validated, read-only.
        """
        self.assertEqual(self.api.options["limit"], 5)
        self.assertNotIn("missing", self.api.options)
        with self.assertRaises(TypeError):
            self.api.options["limit"] = 6

    def test_optionsCopied(self):
        options = {"limit": 5}
        api = ModuleAPI("x", self.host, self.router, self.sessions, None, self.clock, options)
        options["limit"] = 6
        self.assertEqual(api.options["limit"], 5)

    def test_optionDefaults(self):
        """
        A module's schema fills in every option the config did not give,
        so a module never repeats a default.
        """
        class WithOptions(Module):
            name = "withoptions"
            optionSchema = {"limit": ModuleOption("integer", 5),
                            "size": ModuleOption("integer", 10)}
        api = ModuleAPI("withoptions", self.host, self.router, self.sessions, None, self.clock,
                        {"limit": 7})
        WithOptions(api)
        self.assertEqual(dict(api.options), {"limit": 7, "size": 10})

    def test_priorityBands(self):
        """
        Handlers hook in a named band, never at a bare number.
        """
        with self.assertRaises(ValueError):
            self.api.hook(stanzaEvent("message", "bare"), lambda event: None, 1234)

    def test_replyError(self):
        events = []
        self.api.hook(iqEvent("get", "host", QUERY), lambda e: events.append(e) or True)
        self.query()
        self.api.replyError(events[0], StanzaError("conflict"))
        self.assertError("conflict")

    def test_openStore(self):
        """
        Stores are opened in the module's host, by kind.
        """
        opened = []

        class Storage:
            def keyValue(self, host, name):
                opened.append(("keyvalue", host, name))
                return "kv"

            def map(self, host, name):
                opened.append(("map", host, name))
                return "map"

            def archive(self, host, name):
                opened.append(("archive", host, name))
                return "archive"

        api = ModuleAPI("x", self.host, self.router, self.sessions, Storage(), self.clock)
        self.assertEqual([api.openStore(kind, "s") for kind in ("keyvalue", "map", "archive")],
                         ["kv", "map", "archive"])
        self.assertEqual(opened, [("keyvalue", "example.org", "s"),
                                  ("map", "example.org", "s"),
                                  ("archive", "example.org", "s")])
        self.assertRaises(KeyError, api.openStore, "blob", "s")


class EchoModule(Module):
    """
    A module that hooks an iq and a message event and adds a feature.
    """

    name = "echo"

    def load(self):
        self.api.addFeature(TEST_NS)
        self.api.hookIQ("get", "host", QUERY, lambda event: True)
        self.api.hook(stanzaEvent("message", "host"), lambda event: True)


class ModuleLifecycleTests(ModuleAPITestCase):

    def test_interface(self):
        self.assertTrue(verifyObject(IModule, self.harness.create(EchoModule)))

    def test_loadHooks(self):
        module = self.harness.create(EchoModule)
        module.load()
        self.assertIn(TEST_NS, self.host.features())
        self.query()
        self.assertResult()

    def test_unloadRemovesHooksAndFeatures(self):
        """
        Unloading undoes every hook and feature the module added through
        its API: the iq is unclaimed again (RFC 6120 §8.4:
        C{service-unavailable}) and disco no longer lists the feature.
        """
        module = self.harness.create(EchoModule)
        module.load()
        module.unload()
        self.assertNotIn(TEST_NS, self.host.features())
        self.assertFalse(self.host.events.hasHandlers(iqEvent("get", "host", QUERY)))
        self.assertFalse(self.host.events.hasHandlers(stanzaEvent("message", "host")))
        self.query()
        self.assertError("service-unavailable")

    def test_unloadLeavesOthers(self):
        """
        Unloading one module leaves other modules' hooks in place.
        """
        otherAPI = self.harness.api("other")
        otherEvents = []
        otherAPI.hook(iqEvent("get", "host", QUERY), lambda e: otherEvents.append(e))
        module = self.harness.create(EchoModule)
        module.load()
        module.unload()
        self.assertTrue(self.host.events.hasHandlers(iqEvent("get", "host", QUERY)))
        self.query()
        self.assertEqual(len(otherEvents), 1)

    def test_unloadTwice(self):
        module = self.harness.create(EchoModule)
        module.load()
        module.unload()
        module.unload()
        self.assertNotIn(TEST_NS, self.host.features())

    def test_reload(self):
        module = self.harness.create(EchoModule)
        module.load()
        module.unload()
        module.load()
        self.query()
        self.assertResult()


class IExample(Interface):
    """
    A service one module offers another, for these tests.
    """

    def answer():
        """
        @return: 42.
        """


@implementer(IExample)
class ExampleService:

    def answer(self):
        return 42


class ServiceTests(ModuleAPITestCase):
    """
    Modules offer each other services by interface (L{ModuleAPI.provide},
    L{ModuleAPI.service}), never by reaching into another module.
    """

    def test_provideAndFind(self):
        service = ExampleService()
        self.api.provide(IExample, service)
        other = ModuleAPI("other", self.host, self.router, self.sessions, None, self.clock)
        self.assertIs(other.service(IExample), service)

    def test_missing(self):
        self.assertIsNone(self.api.service(IExample))

    def test_mustProvide(self):
        """
        An object that does not provide the interface is refused.
        """
        self.assertRaises(ValueError, self.api.provide, IExample, object())

    def test_oneProvider(self):
        self.api.provide(IExample, ExampleService())
        self.assertRaises(ValueError, self.api.provide, IExample, ExampleService())

    def test_withdrawnOnUnload(self):
        self.api.provide(IExample, ExampleService())
        self.api.unhookAll()
        self.assertIsNone(self.api.service(IExample))
        self.api.provide(IExample, ExampleService())

    def test_otherHostsApart(self):
        """
        Each host has its own services.
        """
        self.api.provide(IExample, ExampleService())
        other = self.harness.api("other", host=self.harness.addHost("example.net"))
        self.assertIsNone(other.service(IExample))


class AnnotationTests(ModuleAPITestCase):
    """
    C{message/annotate}: one step, once per message to a local account,
    where modules ask for changes the router makes before delivery.
    """

    def setUp(self):
        ModuleAPITestCase.setUp(self)
        self.bob = self.harness.client("bob@example.org/phone", available=True)
        self.seen = []

        def annotate(annotation):
            self.seen.append(annotation.event.to.full)
            stanza = annotation.event.stanza
            for child in stanza:
                if child.tag == "{urn:example}forged":
                    annotation.remove(child)
            annotation.add(etree.Element("{urn:example}mark"))
        self.api.hook(MESSAGE_ANNOTATE, annotate)

    def send(self, to):
        self.harness.send(self.alice, "<message to='%s' type='chat'><body>hi</body>"
                                      "<forged xmlns='urn:example'/></message>" % (to,))

    def test_annotated(self):
        self.send("bob@example.org")
        [message] = self.bob.take()
        self.assertEqual([child.tag for child in message],
                         ["{jabber:client}body", "{urn:example}mark"])

    def test_onceForFallback(self):
        """
        A message to a full JID with no such resource falls back to the
        bare JID (RFC 6121 §8.5.3.2.1), and is annotated once.
        """
        self.send("bob@example.org/gone")
        self.assertEqual(self.seen, ["bob@example.org/gone"])
        [message] = self.bob.take()
        self.assertEqual(len(message.findall("{urn:example}mark")), 1)

    def test_notForTheServer(self):
        self.send("example.org")
        self.assertEqual(self.seen, [])
