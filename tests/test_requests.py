"""
Tests for L{xmppframe.api.requests}: the iqs the server sends and the
answers it waits for (L{ModuleAPI.request}), and iq pushes whose answers
it absorbs (L{ModuleAPI.push}), through the module harness.
"""

from twisted.internet import defer
from twisted.trial import unittest

from xmppframe.api import RequestTimedOut, iqResponseEvent
from xmppframe.api.testing import ModuleHarness
from xmppframe.errors import StanzaError
from xmppframe.xml.stanza import makeElement, makeStanza

_EXAMPLE = "urn:example:ask"


def question(to, from_="example.org", id=None):
    iq = makeStanza("iq", to=to, from_=from_, type="get", id=id)
    iq.append(makeElement(_EXAMPLE, "query"))
    return iq


class RequestTestCase(unittest.TestCase):

    def setUp(self):
        self.harness = ModuleHarness("example.org")
        self.api = self.harness.api("asker")
        self.alice = self.harness.client("alice@example.org/home", available=True)
        self.mallory = self.harness.client("mallory@example.org/x", available=True)

    def ask(self, to="alice@example.org/home", timeout=30.0, **kwargs):
        """
        Send a request; @return: its Deferred.
        """
        return self.api.request(question(to, **kwargs), timeout)

    def received(self, session):
        [iq] = session.take()
        self.assertEqual((iq.get("type"), iq.get("from")), ("get", "example.org"))
        return iq

    def answer(self, session, iq, type="result", error="feature-not-implemented"):
        if type == "result":
            xml = "<iq type='result' id='%s' to='example.org'/>" % (iq.get("id"),)
        else:
            xml = ("<iq type='error' id='%s' to='example.org'><error type='cancel'>"
                   "<%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                   % (iq.get("id"), error))
        return self.harness.send(session, xml)


class RequestTests(RequestTestCase):

    def test_result(self):
        """
        RFC 6120 §8.2.3: the result fires the Deferred with the result iq.
        """
        d = self.ask()
        iq = self.received(self.alice)
        self.assertNoResult(d)
        sent = self.answer(self.alice, iq)
        self.assertIs(self.successResultOf(d), sent)
        self.assertEqual(self.harness.clock.getDelayedCalls(), [])

    def test_idGiven(self):
        """
        An iq without an id is given one; one with an id keeps it.
        """
        self.ask()
        self.assertTrue(self.received(self.alice).get("id"))
        self.ask(id="mine")
        self.assertEqual(self.received(self.alice).get("id"), "mine")

    def test_error(self):
        """
        An error answer fails the Deferred with its condition (§8.3).
        """
        d = self.ask()
        self.answer(self.alice, self.received(self.alice), type="error",
                    error="service-unavailable")
        failure = self.failureResultOf(d, StanzaError)
        self.assertEqual(failure.value.condition, "service-unavailable")

    def test_timeout(self):
        """
        No answer within the timeout: RequestTimedOut (remote-server-timeout),
        and a late answer is not taken.
        """
        seen = []
        self.harness.host.events.hook(iqResponseEvent("host"), seen.append, -10)
        d = self.ask(timeout=5)
        iq = self.received(self.alice)
        self.harness.clock.advance(4.9)
        self.assertNoResult(d)
        self.harness.clock.advance(0.1)
        failure = self.failureResultOf(d, RequestTimedOut)
        self.assertEqual(failure.value.condition, "remote-server-timeout")
        self.answer(self.alice, iq)
        self.assertEqual(len(seen), 1)

    def test_answerFromSomeoneElse(self):
        """
        Only the entity asked answers (RFC 6120 §8.2.3; otherwise a client
        could answer for another by guessing the id): another's answer
        with the same id is not taken, and the real one still is.
        """
        d = self.ask()
        iq = self.received(self.alice)
        self.answer(self.mallory, iq, type="error")
        self.assertNoResult(d)
        sent = self.answer(self.alice, iq)
        self.assertIs(self.successResultOf(d), sent)

    def test_otherResource(self):
        """
        A request to a full JID is answered by that resource only, not by
        another of the same account.
        """
        other = self.harness.client("alice@example.org/phone", available=True)
        d = self.ask()
        iq = self.received(self.alice)
        self.answer(other, iq)
        self.assertNoResult(d)
        self.answer(self.alice, iq)
        self.successResultOf(d)

    def test_bareJIDAnsweredByServer(self):
        """
        A request to an account's bare JID is answered by the server on
        the account's behalf (RFC 6120 §10.5.3.1 note): from the bare JID.
        """
        def onAsk(event):
            return True
        self.api.hookIQ("get", "bare", (_EXAMPLE, "query"), onAsk)
        d = self.ask("alice@example.org")
        result = self.successResultOf(d)
        self.assertEqual((result.get("type"), result.get("from")),
                         ("result", "alice@example.org"))
        self.assertEqual(self.alice.take(), [])

    def test_bareJIDErrorFromServer(self):
        """
        Unclaimed, the server's service-unavailable for the account is its
        answer too.
        """
        d = self.ask("alice@example.org")
        failure = self.failureResultOf(d, StanzaError)
        self.assertEqual(failure.value.condition, "service-unavailable")

    def test_onBehalfOfAccount(self):
        """
        A request from one of the host's accounts (the server acting for
        it) is answered to that account's bare JID.
        """
        d = self.ask("mallory@example.org/x", from_="alice@example.org", id="a1")
        [iq] = self.mallory.take()
        self.assertEqual(iq.get("from"), "alice@example.org")
        self.harness.send(self.mallory, "<iq type='result' id='a1' to='alice@example.org'/>")
        self.successResultOf(d)
        self.assertEqual(self.alice.take(), [])

    def test_cancel(self):
        """
        Cancelling the Deferred forgets the request and its timer.
        """
        d = self.ask()
        iq = self.received(self.alice)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.harness.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.api.host.services.requests), 0)
        self.answer(self.alice, iq)

    def test_noTimeout(self):
        """
        C{timeout=None}: no timer; the request waits until answered or
        cancelled (for a module that keeps its own deadlines, as ping does).
        """
        d = self.ask(timeout=None)
        iq = self.received(self.alice)
        self.assertEqual(self.harness.clock.getDelayedCalls(), [])
        self.harness.clock.advance(3600)
        self.assertNoResult(d)
        self.answer(self.alice, iq)
        self.successResultOf(d)

    def test_notARequest(self):
        iq = makeStanza("iq", to="alice@example.org/home", from_="example.org", type="result")
        self.assertRaises(ValueError, self.api.request, iq)

    def test_needsAddresses(self):
        """
        A request says whom it asks and for whom: 'to' and 'from'.
        """
        for to, from_ in ((None, "example.org"), ("alice@example.org/home", None)):
            iq = makeStanza("iq", to=to, from_=from_, type="get")
            self.assertRaises(ValueError, self.api.request, iq)

    def test_sameIdTwice(self):
        self.ask(id="dup")
        self.assertRaises(ValueError, self.api.request,
                          question("alice@example.org/home", id="dup"))

    def test_unrelatedAnswersLeftAlone(self):
        """
        An answer to nothing the tracker asked goes on to other handlers.
        """
        self.ask()
        seen = []
        self.harness.host.events.hook(iqResponseEvent("host"), seen.append, -10)
        self.harness.send(self.alice, "<iq type='result' id='other' to='example.org'/>")
        self.assertEqual(len(seen), 1)


class PushTests(RequestTestCase):

    def payload(self):
        return makeElement("jabber:iq:roster", "query")

    def test_pushToEverySession(self):
        """
        RFC 6121 §2.1.6: an iq set, from the account (no 'from'), to each
        of its bound sessions, each with its own id.
        """
        phone = self.harness.client("alice@example.org/phone")
        self.api.push("alice", self.payload())
        [first] = self.alice.take()
        [second] = phone.take()
        for iq, session in ((first, self.alice), (second, phone)):
            self.assertEqual((iq.get("type"), iq.get("to"), iq.get("from")),
                             ("set", session.jid.full, None))
            self.assertEqual(iq[0].tag, "{jabber:iq:roster}query")
        self.assertNotEqual(first.get("id"), second.get("id"))

    def test_answersAbsorbed(self):
        """
        §2.1.6: the server SHOULD NOT care what the client answers: a
        result or an error ends at the server, routed nowhere and not
        bounced, and nothing waits for it.
        """
        phone = self.harness.client("alice@example.org/phone", available=True)
        self.api.push("alice", self.payload())
        [iq] = self.alice.take()
        phone.take()
        self.harness.send(self.alice, "<iq type='result' id='%s'/>" % (iq.get("id"),))
        self.harness.send(self.alice, "<iq type='error' id='%s' to='alice@example.org'>"
                                      "<error type='cancel'><bad-request xmlns="
                                      "'urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                                      % (iq.get("id"),))
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(phone.take(), [])
        self.assertEqual(len(self.api.host.services.requests), 0)
        self.assertEqual(self.harness.clock.getDelayedCalls(), [])

    def test_someoneElsesAnswerNotAbsorbed(self):
        """
        Only the account pushed to may answer its push: a result with a
        push id addressed to the server by another account is not taken.
        """
        self.api.push("alice", self.payload())
        [iq] = self.alice.take()
        seen = []
        self.harness.host.events.hook(iqResponseEvent("host"), seen.append, -10)
        self.harness.send(self.mallory, "<iq type='result' id='%s' to='example.org'/>"
                                        % (iq.get("id"),))
        self.assertEqual(len(seen), 1)

    def test_chosenSessions(self):
        phone = self.harness.client("alice@example.org/phone")
        self.api.push("alice", self.payload(), sessions=[phone])
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(len(phone.take()), 1)


class TrackerTests(RequestTestCase):

    def test_onePerHost(self):
        """
        Every module of a host shares one tracker.
        """
        self.api.request(question("alice@example.org/home"), 30)
        other = self.harness.api("other")
        other.request(question("alice@example.org/home"), 30)
        self.assertIs(self.api.host.services.requests, other.host.services.requests)
        self.assertEqual(len(self.api.host.services.requests), 2)

    def test_cancelAll(self):
        """
        On shutdown, what still waits fails with service-unavailable.
        """
        d = self.ask()
        self.api.host.services.requests.cancelAll()
        failure = self.failureResultOf(d, StanzaError)
        self.assertEqual(failure.value.condition, "service-unavailable")
        self.assertEqual(self.harness.clock.getDelayedCalls(), [])

    def test_errorWithoutErrorElement(self):
        """
        An error answer with no <error/> is still an error.
        """
        d = self.ask(id="e1")
        self.received(self.alice)
        self.harness.send(self.alice, "<iq type='error' id='e1' to='example.org'/>")
        failure = self.failureResultOf(d, StanzaError)
        self.assertEqual(failure.value.condition, "undefined-condition")

