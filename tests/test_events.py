"""
Tests for L{xmppframe.events}: the event bus and the event-name helpers.
"""

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe import events
from xmppframe.events import EventBus
from xmppframe.interfaces import IEventBus


class EventBusTests(unittest.TestCase):
    """
    The first handler, in priority order, to return something other than
    C{None} claims an event.
    """

    def setUp(self):
        self.bus = EventBus()
        self.calls = []

    def recorder(self, label, result=None):
        def handler(event):
            self.calls.append((label, event))
            return result
        return handler

    def test_interface(self):
        self.assertTrue(verifyObject(IEventBus, self.bus))

    def test_noHandlers(self):
        """
        Firing an event nothing is hooked to returns C{None}.
        """
        self.assertIsNone(self.bus.fire("message/bare", object()))

    def test_priorityOrder(self):
        """
        Higher priorities run first; equal priorities run in hook order.
        """
        self.bus.hook("e", self.recorder("low"), priority=-5)
        self.bus.hook("e", self.recorder("first-zero"))
        self.bus.hook("e", self.recorder("high"), priority=10)
        self.bus.hook("e", self.recorder("second-zero"))
        self.assertIsNone(self.bus.fire("e", 1))
        self.assertEqual([label for label, _ in self.calls],
                         ["high", "first-zero", "second-zero", "low"])
        self.assertEqual({event for _, event in self.calls}, {1})

    def test_firstNonNoneClaims(self):
        """
        The first non-C{None} result is returned and later handlers do not
        run; a false but non-C{None} result still claims.
        """
        self.bus.hook("e", self.recorder("a"), priority=3)
        self.bus.hook("e", self.recorder("b", result=0), priority=2)
        self.bus.hook("e", self.recorder("c", result="later"), priority=1)
        self.assertEqual(self.bus.fire("e", None), 0)
        self.assertEqual([label for label, _ in self.calls], ["a", "b"])

    def test_otherNamesUntouched(self):
        self.bus.hook("one", self.recorder("one", True))
        self.assertIsNone(self.bus.fire("two", None))
        self.assertEqual(self.calls, [])

    def test_exceptionLoggedAndSkipped(self):
        """
        A handler that raises is logged and treated as not having claimed
        the event, so the next handler still runs.
        """
        def broken(event):
            raise ZeroDivisionError("broken handler")
        self.bus.hook("e", broken, priority=1)
        self.bus.hook("e", self.recorder("next", "claimed"))
        self.assertEqual(self.bus.fire("e", None), "claimed")
        self.assertEqual([label for label, _ in self.calls], ["next"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_cancel(self):
        """
        C{cancel()} on what L{EventBus.hook} returns removes that hook only;
        cancelling twice is harmless.
        """
        first = self.bus.hook("e", self.recorder("first", "x"), priority=1)
        self.bus.hook("e", self.recorder("second", "y"))
        first.cancel()
        self.assertEqual(self.bus.fire("e", None), "y")
        first.cancel()
        self.assertEqual([label for label, _ in self.calls], ["second"])

    def test_hasHandlers(self):
        self.assertFalse(self.bus.hasHandlers("e"))
        hook = self.bus.hook("e", self.recorder("x"))
        self.assertTrue(self.bus.hasHandlers("e"))
        self.assertFalse(self.bus.hasHandlers("f"))
        hook.cancel()
        self.assertFalse(self.bus.hasHandlers("e"))

    def test_hookWhileFiring(self):
        """
        A handler that hooks or cancels during L{EventBus.fire} does not
        disturb the dispatch in progress; the change applies to the next
        firing.
        """
        def hooker(event):
            self.calls.append(("hooker", event))
            self.bus.hook("e", self.recorder("added"))
            own.cancel()
        own = self.bus.hook("e", hooker, priority=1)
        self.bus.hook("e", self.recorder("existing"))
        self.bus.fire("e", 1)
        self.bus.fire("e", 2)
        self.assertEqual(self.calls, [("hooker", 1), ("existing", 1),
                                      ("existing", 2), ("added", 2)])

    def test_bussesIndependent(self):
        other = EventBus()
        self.bus.hook("e", self.recorder("x", True))
        self.assertIsNone(other.fire("e", None))
        self.assertFalse(other.hasHandlers("e"))


class FireAllAndWaitTests(unittest.TestCase):
    """
    L{EventBus.fireAllAndWait}: every handler runs, and the result waits
    for those that wait (the cleanup of a removed account).
    """

    def test_waitsForEveryHandler(self):
        from twisted.internet import defer
        bus = EventBus()
        first, second = defer.Deferred(), defer.Deferred()
        seen = []
        bus.hook("e", lambda event: seen.append(("sync", event)))
        bus.hook("e", lambda event: first)
        bus.hook("e", lambda event: second)
        d = bus.fireAllAndWait("e", "bob")
        self.assertEqual(seen, [("sync", "bob")])
        self.assertNoResult(d)
        second.callback(None)
        self.assertNoResult(d)
        first.callback("ignored")
        self.assertEqual(self.successResultOf(d), [])

    def test_failuresReported(self):
        from twisted.internet import defer
        bus = EventBus()
        ran = []

        def raising(event):
            raise ValueError("sync")

        async def failing(event):
            raise KeyError("async")

        bus.hook("e", raising, 2)
        bus.hook("e", failing, 1)
        bus.hook("e", lambda event: ran.append(event) or defer.succeed(None))
        failures = self.successResultOf(bus.fireAllAndWait("e", "bob"))
        self.assertEqual(ran, ["bob"])
        self.assertEqual([handler for handler, _ in failures], [raising, failing])
        self.assertEqual(len(self.flushLoggedErrors(ValueError, KeyError)), 2)

    def test_noHandlers(self):
        self.assertEqual(self.successResultOf(EventBus().fireAllAndWait("e", None)), [])


class EventNameTests(unittest.TestCase):
    """
    Event names come from helpers so that a misspelt name fails at once.
    """

    def test_stanzaEvent(self):
        self.assertEqual(events.stanzaEvent("message", "bare"), "message/bare")
        self.assertEqual(events.stanzaEvent("presence", "full"), "presence/full")
        for target in events.TARGETS:
            self.assertEqual(events.stanzaEvent("message", target), "message/" + target)

    def test_stanzaEventRejectsUnknown(self):
        self.assertRaises(AssertionError, events.stanzaEvent, "iq", "bare")
        self.assertRaises(AssertionError, events.stanzaEvent, "message", "nobody")

    def test_iqEventClark(self):
        """
        An iq event names the type, target and payload (RFC 6120 §8.2.3:
        the payload's qualified name selects the semantics).
        """
        self.assertEqual(events.iqEvent("get", "host", "{urn:xmpp:ping}ping"),
                         "iq-get/host/urn:xmpp:ping:ping")

    def test_iqEventTuple(self):
        self.assertEqual(events.iqEvent("set", "self", ("jabber:iq:roster", "query")),
                         "iq-set/self/jabber:iq:roster:query")

    def test_iqEventFormsAgree(self):
        """
        The Clark name and tuple forms give the same name, so a module
        hooking with a tuple meets the router firing with an lxml tag.
        """
        ns = "http://jabber.org/protocol/disco#info"
        self.assertEqual(events.iqEvent("get", "bare", "{%s}query" % ns),
                         events.iqEvent("get", "bare", (ns, "query")))

    def test_iqEventRejectsUnknown(self):
        self.assertRaises(AssertionError, events.iqEvent, "result", "host", ("a", "b"))
        self.assertRaises(AssertionError, events.iqEvent, "get", "anyone", ("a", "b"))

    def test_iqResponseEvent(self):
        self.assertEqual(events.iqResponseEvent("host"), "iq-response/host")
        self.assertRaises(AssertionError, events.iqResponseEvent, "elsewhere")

    def test_namesDistinct(self):
        """
        Names for different kinds and targets never collide.
        """
        names = set()
        for target in events.TARGETS:
            names.add(events.stanzaEvent("message", target))
            names.add(events.stanzaEvent("presence", target))
            names.add(events.iqResponseEvent(target))
            for type in ("get", "set"):
                names.add(events.iqEvent(type, target, ("urn:x", "q")))
        names.update({events.SESSION_BOUND, events.SESSION_ENDED})
        self.assertEqual(len(names), 5 * len(events.TARGETS) + 2)


class StanzaEventTests(unittest.TestCase):

    def test_attributes(self):
        event = events.StanzaEvent("origin", "stanza", "to", "sender", "host",
                                   "message", "chat")
        self.assertEqual(
            (event.origin, event.stanza, event.to, event.sender, event.host,
             event.kind, event.type),
            ("origin", "stanza", "to", "sender", "host", "message", "chat"))
