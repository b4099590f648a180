"""
Handlers that wait: a handler returns a Deferred (or is a coroutine) and
the router holds that stanza, and later ones from the same origin, until it
fires; other origins are not held up (docs/architecture.md, "Hooks that may
wait").
"""

from twisted.internet import defer
from twisted.trial import unittest

from xmppframe.api import Priority, inboundEvent, outboundEvent, stanzaEvent
from xmppframe.api.testing import ModuleHarness
from xmppframe.events import EventBus


class EventBusWaitingTests(unittest.TestCase):

    def setUp(self):
        self.bus = EventBus()
        self.calls = []

    def handler(self, name, result=None):
        def handle(event):
            self.calls.append(name)
            return result
        return handle

    def test_resumesAfterUnclaimed(self):
        """
        A waiting handler that fires with None lets the next handler run.
        """
        waiting = defer.Deferred()
        self.bus.hook("e", self.handler("first", waiting), 10)
        self.bus.hook("e", self.handler("second", True), 0)
        result = self.bus.fire("e", object())
        self.assertIsInstance(result, defer.Deferred)
        self.assertEqual(self.calls, ["first"])
        waiting.callback(None)
        self.assertEqual(self.calls, ["first", "second"])
        self.assertIs(self.successResultOf(result), True)

    def test_claimWhileWaiting(self):
        waiting = defer.Deferred()
        self.bus.hook("e", self.handler("first", waiting), 10)
        self.bus.hook("e", self.handler("second", True), 0)
        result = self.bus.fire("e", object())
        waiting.callback("mine")
        self.assertEqual(self.calls, ["first"])
        self.assertEqual(self.successResultOf(result), "mine")

    def test_coroutine(self):
        gate = defer.Deferred()

        async def handle(event):
            await gate
            return None
        self.bus.hook("e", handle, 10)
        self.bus.hook("e", self.handler("second"), 0)
        result = self.bus.fire("e", object())
        self.assertNoResult(result)
        gate.callback(None)
        self.assertEqual(self.calls, ["second"])
        self.assertIsNone(self.successResultOf(result))

    def test_failureCountsAsUnclaimed(self):
        """
        A waiting handler that fails is logged and counts as unclaimed, as
        a handler that raises does.
        """
        self.bus.hook("e", lambda event: defer.fail(KeyError("x")), 10)
        self.bus.hook("e", self.handler("second", True), 0)
        self.assertIs(self.successResultOf(self.bus.fire("e", object())), True)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)

    def test_plainHandlersStaySynchronous(self):
        self.bus.hook("e", self.handler("first"), 10)
        self.bus.hook("e", self.handler("second", True), 0)
        self.assertIs(self.bus.fire("e", object()), True)


class RouterWaitingTests(unittest.TestCase):

    def setUp(self):
        self.harness = ModuleHarness("example.org")
        self.events = self.harness.host.events
        self.alice = self.harness.client("alice@example.org/home", available=True)
        self.bob = self.harness.client("bob@example.org/phone", available=True)
        self.carol = self.harness.client("carol@example.org/desk", available=True)

    def message(self, sender, to, body):
        self.harness.send(sender, "<message to='%s' type='chat'><body>%s</body></message>"
                          % (to, body))

    def bodies(self, session):
        return [stanza.findtext("{jabber:client}body") for stanza in session.take()]

    def holdFrom(self, jid, event):
        """
        An C{event} handler that makes the first stanza from C{jid} wait;
        returns the list of the Deferreds it made.
        """
        gates = []

        def handle(stanzaEvent):
            if stanzaEvent.sender.bare.full == jid and not gates:
                gates.append(defer.Deferred())
                return gates[0]
            return None
        self.events.hook(event, handle, Priority.FILTER)
        return gates

    def test_outboundWaitThenDelivered(self):
        """
        A stanza whose outbound filter waits is delivered, by the rules
        after the filter, once it fires with None.
        """
        gates = self.holdFrom("alice@example.org", outboundEvent("message"))
        self.message(self.alice, "bob@example.org", "one")
        self.assertEqual(self.bodies(self.bob), [])
        gates[0].callback(None)
        self.assertEqual(self.bodies(self.bob), ["one"])

    def test_noOvertaking(self):
        """
        Later stanzas from the same session queue behind the waiting one,
        and go out in order when it is done.
        """
        gates = self.holdFrom("alice@example.org", inboundEvent("message"))
        self.message(self.alice, "bob@example.org", "one")
        self.message(self.alice, "bob@example.org", "two")
        self.message(self.alice, "carol@example.org", "three")
        self.assertEqual(self.bodies(self.bob), [])
        self.assertEqual(self.bodies(self.carol), [])
        gates[0].callback(None)
        self.assertEqual(self.bodies(self.bob), ["one", "two"])
        self.assertEqual(self.bodies(self.carol), ["three"])

    def test_othersNotHeld(self):
        """
        Other origins go on while one waits.
        """
        gates = self.holdFrom("alice@example.org", inboundEvent("message"))
        self.message(self.alice, "bob@example.org", "one")
        self.message(self.carol, "bob@example.org", "from carol")
        self.assertEqual(self.bodies(self.bob), ["from carol"])
        gates[0].callback(None)
        self.assertEqual(self.bodies(self.bob), ["one"])

    def test_claimedWhileWaiting(self):
        """
        A waiting handler that claims the stanza stops it; the queue
        behind it goes on.
        """
        gates = self.holdFrom("alice@example.org", outboundEvent("message"))
        self.message(self.alice, "bob@example.org", "one")
        self.message(self.alice, "bob@example.org", "two")
        gates[0].callback(True)
        self.assertEqual(self.bodies(self.bob), ["two"])

    def test_failedHandlerUnclaimed(self):
        gates = self.holdFrom("alice@example.org", stanzaEvent("message", "bare"))
        self.message(self.alice, "bob@example.org", "one")
        gates[0].errback(ValueError("storage is gone"))
        self.assertEqual(self.bodies(self.bob), ["one"])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_waitTwice(self):
        """
        A stanza may wait at more than one step (the sender's filter, then
        the recipient's); the queue waits for the whole of it.
        """
        outGates = self.holdFrom("alice@example.org", outboundEvent("message"))
        inGates = self.holdFrom("alice@example.org", inboundEvent("message"))
        self.message(self.alice, "bob@example.org", "one")
        self.message(self.alice, "bob@example.org", "two")
        outGates[0].callback(None)
        self.assertEqual(self.bodies(self.bob), [])
        inGates[0].callback(None)
        self.assertEqual(self.bodies(self.bob), ["one", "two"])

    def test_iqHandlerWaits(self):
        """
        An iq handler hooked directly may wait too; unclaimed, the iq gets
        service-unavailable (RFC 6120 §8.4) only once it has fired.
        """
        gate = defer.Deferred()
        self.events.hook("iq-get/host/urn:example:wait:query", lambda event: gate)
        self.harness.send(self.alice, "<iq type='get' id='w1' to='example.org'>"
                                      "<query xmlns='urn:example:wait'/></iq>")
        self.assertEqual(self.alice.take(), [])
        gate.callback(None)
        [reply] = self.alice.take()
        self.assertEqual(reply.get("type"), "error")

    def test_serverRoutedStanzasQueueBySender(self):
        """
        Stanzas the server routes (no session) queue by their sender.
        """
        from xmppframe.xml.stanza import makeStanza
        gates = self.holdFrom("alice@example.org", inboundEvent("message"))
        for body in ("one", "two"):
            message = makeStanza("message", to="bob@example.org",
                                 from_="alice@example.org/home", type="chat")
            message.append(_body(body))
            self.harness.router.route(message)
        self.assertEqual(self.bodies(self.bob), [])
        gates[0].callback(None)
        self.assertEqual(self.bodies(self.bob), ["one", "two"])


def _body(text):
    from xmppframe.xml.stanza import makeElement
    element = makeElement("jabber:client", "body")
    element.text = text
    return element
