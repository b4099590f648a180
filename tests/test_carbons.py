"""
Tests for L{xmppframe.modules.carbons}: Message Carbons (XEP-0280), driven
through the real router with fake sessions: enabling (§4, §5, §10.1),
which messages are copied (§6.1, §9), received carbons (§7), sent
carbons (§8), and sessions that end.
"""

from lxml import etree

from zope.interface.verify import verifyObject

from twisted.trial import unittest

from xmppframe.api.testing import (
    FakeClientSession, ModuleHarness, parseStanza as parse, stanzaErrorCondition)
from xmppframe.errors import StanzaError
from xmppframe.events import MESSAGE_DELIVERED, outboundEvent
from xmppframe.interfaces import IModule
from xmppframe.jid import parseJID
from xmppframe.modules.carbons import RECEIVED, SENT, CarbonCopy, CarbonsModule, isEligible
from xmppframe.xml import namespaces as NS

CLIENT = "{%s}" % (NS.CLIENT,)


def eligible(text, direction=RECEIVED):
    return isEligible(parse(text), direction)


class EligibilityTests(unittest.TestCase):
    """
    XEP-0280 §6.1: the messages that are carbon-copied, and §9: those a
    sender keeps out of it.
    """

    def test_chat(self):
        self.assertTrue(eligible("<message type='chat'><body>hi</body></message>"))
        self.assertTrue(eligible("<message type='chat'><thread>t1</thread></message>"))

    def test_normalWithBody(self):
        """
        §6.1: type "normal" (or no type, RFC 6121 §5.2.2) with a body.
        """
        self.assertTrue(eligible("<message type='normal'><body>hi</body></message>"))
        self.assertTrue(eligible("<message><body>hi</body></message>"))
        self.assertFalse(eligible("<message><subject>no body</subject></message>"))
        self.assertFalse(eligible("<message/>"))

    def test_imPayloads(self):
        """
        §6.1: receipts (XEP-0184), chat states (XEP-0085) and chat
        markers (XEP-0333) make any non-groupchat message eligible.
        """
        self.assertTrue(eligible("<message><request xmlns='urn:xmpp:receipts'/></message>"))
        self.assertTrue(eligible(
            "<message><active xmlns='http://jabber.org/protocol/chatstates'/></message>"))
        self.assertTrue(eligible(
            "<message type='headline'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/>"
            "</message>"))

    def test_headline(self):
        self.assertFalse(eligible("<message type='headline'><body>news</body></message>"))

    def test_groupchat(self):
        """
        §6.1: a groupchat message is never copied.
        """
        self.assertFalse(eligible("<message type='groupchat'><body>hi</body></message>"))
        self.assertFalse(eligible("<message type='groupchat'><body>hi</body></message>", SENT))

    def test_private(self):
        """
        §9: C{<private/>}, or the XEP-0334 C{<no-copy/>} hint, keeps a
        message out of Carbons in both directions.
        """
        for payload in ("<private xmlns='urn:xmpp:carbons:2'/>",
                        "<no-copy xmlns='urn:xmpp:hints'/>"):
            text = "<message type='chat'><body>secret</body>%s</message>" % (payload,)
            self.assertFalse(eligible(text, SENT))
            self.assertFalse(eligible(text, RECEIVED))

    def test_alreadyCarbon(self):
        """
        A message that already is a carbon is not copied again.
        """
        self.assertFalse(eligible(
            "<message type='chat'><received xmlns='urn:xmpp:carbons:2'>"
            "<forwarded xmlns='urn:xmpp:forward:0'/></received></message>"))

    def test_mucPrivateMessage(self):
        """
        §6.1: a MUC private message is copied when a local user sends it,
        not when an occupant sends it to a local user.
        """
        text = ("<message type='chat'><body>psst</body>"
                "<x xmlns='http://jabber.org/protocol/muc#user'/></message>")
        self.assertTrue(eligible(text, SENT))
        self.assertFalse(eligible(text, RECEIVED))

    def test_invitations(self):
        """
        §6.1: direct (XEP-0249) and mediated (XEP-0045) invitations.
        """
        self.assertTrue(eligible(
            "<message><x xmlns='jabber:x:conference' jid='room@muc.example.org'/></message>"))
        self.assertTrue(eligible(
            "<message><x xmlns='http://jabber.org/protocol/muc#user'>"
            "<invite from='bob@example.org'/></x></message>"))

    def test_error(self):
        """
        §6.1: an error answering an eligible message; recognised by the
        content it echoes back.
        """
        self.assertTrue(eligible(
            "<message type='error'><body>hi</body><error type='cancel'>"
            "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
            "</message>"))
        self.assertFalse(eligible(
            "<message type='error'><error type='cancel'>"
            "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
            "</message>"))


class CarbonCopyTests(unittest.TestCase):
    """
    The forwarded copy (XEP-0280 §7, §8; XEP-0297 §4).
    """

    def test_shape(self):
        message = parse("<message from='bob@example.org/desk' to='alice@example.org/laptop' "
                        "type='chat' id='m1'><body>Hi &amp; bye</body></message>")
        copy = CarbonCopy(RECEIVED, message, parseJID("alice@example.org"))
        wrapper = etree.fromstring(copy.bytesFor(parseJID("alice@example.org/phone")))
        self.assertEqual(wrapper.tag, CLIENT + "message")
        self.assertEqual(dict(wrapper.attrib), {
            "from": "alice@example.org", "to": "alice@example.org/phone", "type": "chat"})
        [received] = wrapper
        self.assertEqual(received.tag, "{%s}received" % (NS.CARBONS,))
        [forwarded] = received
        self.assertEqual(forwarded.tag, "{%s}forwarded" % (NS.FORWARD,))
        [inner] = forwarded
        self.assertEqual(inner.tag, CLIENT + "message")
        self.assertEqual(inner.get("from"), "bob@example.org/desk")
        self.assertEqual(inner.get("id"), "m1")
        self.assertEqual(inner.findtext(CLIENT + "body"), "Hi & bye")

    def test_untypedMessage(self):
        """
        The wrapper keeps the original's type, so an untyped message has an
        untyped wrapper.
        """
        message = parse("<message to='bob@example.org'><body>x</body></message>")
        copy = CarbonCopy(SENT, message, parseJID("alice@example.org"))
        wrapper = etree.fromstring(copy.bytesFor(parseJID("alice@example.org/phone")))
        self.assertIsNone(wrapper.get("type"))
        self.assertEqual(wrapper[0].tag, "{%s}sent" % (NS.CARBONS,))

    def test_addressEscaped(self):
        """
        A resource may hold any character (RFC 7622 §3.4): it is escaped
        in the hand-assembled wrapper.
        """
        message = parse("<message type='chat'><body>x</body></message>")
        copy = CarbonCopy(SENT, message, parseJID("alice@example.org"))
        to = parseJID("alice@example.org/it's <a> & \"b\"")
        wrapper = etree.fromstring(copy.bytesFor(to))
        self.assertEqual(wrapper.get("to"), to.full)

    def test_missingToFilledIn(self):
        """
        A message to one's own account without 'to' gets it in the copy;
        the original is left alone.
        """
        message = parse("<message from='alice@example.org/phone' type='chat'><body>x</body>"
                        "</message>")
        copy = CarbonCopy(SENT, message, parseJID("alice@example.org"),
                          parseJID("alice@example.org"))
        wrapper = etree.fromstring(copy.bytesFor(parseJID("alice@example.org/laptop")))
        self.assertEqual(wrapper[0][0][0].get("to"), "alice@example.org")
        self.assertIsNone(message.get("to"))


class SerializingSession(FakeClientSession):
    """
    A session that, like a client stream, takes already serialized
    stanzas; it keeps the bytes.
    """

    def __init__(self, *args, **kwargs):
        FakeClientSession.__init__(self, *args, **kwargs)
        self.written = []

    def sendSerialized(self, data):
        self.written.append(data)


class CarbonsTestCase(unittest.TestCase):
    """
    The carbons module on host C{example.org}, with the real router.
    """

    def setUp(self):
        self.harness = ModuleHarness("example.org")
        self.host = self.harness.host
        self.module = self.harness.load(CarbonsModule)
        self.api = self.module.api
        self.addCleanup(self.module.unload)
        self.send = self.harness.send

    def connect(self, jid, priority=0, available=True, carbons=False,
                sessionClass=FakeClientSession):
        session = self.harness.client(jid, available=available, priority=priority,
                                      sessionClass=sessionClass)
        if carbons:
            result = self.harness.ask(
                session, "<iq type='set' id='c1'><enable xmlns='%s'/></iq>" % (NS.CARBONS,))
            self.assertEqual(result.get("type"), "result")
        return session

    def assertCarbon(self, session, direction, original):
        """
        C{session} was sent exactly one stanza, a C{direction} carbon of
        C{original} shaped as XEP-0280 §7/§8 says, and its inner message
        is returned.
        """
        [wrapper] = session.take()
        self.assertEqual(wrapper.tag, CLIENT + "message")
        self.assertEqual(wrapper.get("from"), session.jid.bare.full)
        self.assertEqual(wrapper.get("to"), session.jid.full)
        self.assertEqual(wrapper.get("type"), original.get("type"))
        [container] = wrapper
        self.assertEqual(container.tag, "{%s}%s" % (NS.CARBONS, direction))
        [forwarded] = container
        self.assertEqual(forwarded.tag, "{%s}forwarded" % (NS.FORWARD,))
        [inner] = forwarded
        self.assertEqual(inner.get("from"), original.get("from"))
        self.assertEqual(inner.findtext(CLIENT + "body"), original.findtext(CLIENT + "body"))
        return inner


class EnableTests(CarbonsTestCase):
    """
    XEP-0280 §3, §4, §5, §10.1.
    """

    def test_interface(self):
        verifyObject(IModule, self.module)

    def test_feature(self):
        """
        §3: urn:xmpp:carbons:2 is in the host's disco features until the
        module is unloaded.
        """
        self.assertIn(NS.CARBONS, self.host.features())
        self.module.unload()
        self.assertNotIn(NS.CARBONS, self.host.features())

    def test_enableAndDisable(self):
        """
        §4, §5: an iq set without 'to', or to the own bare JID, turns
        Carbons on and off; repeating either is no error (§10.1).
        """
        phone = self.connect("alice@example.org/phone")
        for payload, to, enabled in (("enable", "", True),
                                     ("enable", " to='alice@example.org'", True),
                                     ("disable", "", False),
                                     ("disable", " to='alice@example.org'", False)):
            self.send(phone, "<iq type='set' id='x'%s><%s xmlns='%s'/></iq>"
                      % (to, payload, NS.CARBONS))
            [result] = phone.take()
            self.assertEqual((result.get("type"), result.get("id")), ("result", "x"))
            self.assertEqual(self.module.isEnabled(phone), enabled)

    def test_notAClient(self):
        """
        §4.1: only a client session of this server can enable Carbons.
        """
        class Event:
            origin = None
        self.assertRaises(StanzaError, self.module.enable, Event())

    def test_sessionEnded(self):
        """
        The setting belongs to the session: a new session on the same
        resource starts with Carbons off.
        """
        phone = self.connect("alice@example.org/phone", carbons=True)
        self.assertTrue(self.module.isEnabled(phone))
        phone.close()
        self.assertFalse(self.module.isEnabled(phone))
        self.assertEqual(len(self.module._enabled), 0)
        again = self.connect("alice@example.org/phone")
        self.assertFalse(self.module.isEnabled(again))


class ReceivedCarbonTests(CarbonsTestCase):
    """
    XEP-0280 §7: the recipient's other Carbons-enabled sessions get a
    <received/> copy.
    """

    def setUp(self):
        CarbonsTestCase.setUp(self)
        self.laptop = self.connect("alice@example.org/laptop", carbons=True)
        self.phone = self.connect("alice@example.org/phone", carbons=True)
        self.tablet = self.connect("alice@example.org/tablet")
        self.bob = self.connect("bob@example.org/desk")

    def test_toFullJID(self):
        """
        A message to one resource: it gets the original, every other
        enabled session one carbon, a session without Carbons nothing.
        """
        message = self.send(self.bob, "<message to='alice@example.org/laptop' type='chat' "
                                      "id='m1'><body>Hello</body></message>")
        self.assertEqual(self.laptop.take(), [message])
        inner = self.assertCarbon(self.phone, RECEIVED, message)
        self.assertEqual(inner.get("to"), "alice@example.org/laptop")
        self.assertEqual(inner.get("id"), "m1")
        self.assertEqual(self.tablet.take(), [])

    def test_toBareJIDHighestPriority(self):
        """
        A message to the bare JID goes to the highest-priority resource
        (RFC 6121 §8.5.2.1.1); the others that enabled Carbons, even one of
        negative priority, get a carbon.
        """
        self.laptop.priority = 5
        self.phone.priority = -1
        message = self.send(self.bob, "<message to='alice@example.org' type='chat'>"
                                      "<body>Hello</body></message>")
        self.assertEqual(self.laptop.take(), [message])
        self.assertCarbon(self.phone, RECEIVED, message)
        self.assertEqual(self.tablet.take(), [])

    def test_toBareJIDAllReceive(self):
        """
        §7: no carbon for a session that got the original.
        """
        message = self.send(self.bob, "<message to='alice@example.org' type='chat'>"
                                      "<body>Hello</body></message>")
        for session in (self.laptop, self.phone, self.tablet):
            self.assertEqual(session.take(), [message])

    def test_toMissingResource(self):
        """
        A message to a resource that is not online is handled as if sent
        to the bare JID (RFC 6121 §8.5.3.2.1), and copied once.
        """
        self.laptop.priority = 1
        message = self.send(self.bob, "<message to='alice@example.org/gone' type='chat'>"
                                      "<body>Hello</body></message>")
        self.assertEqual(self.laptop.take(), [message])
        self.assertCarbon(self.phone, RECEIVED, message)

    def test_notEligible(self):
        """
        §6.1, §9: no copies of groupchat, headline or private messages.
        """
        for text in ("<message to='alice@example.org/laptop' type='groupchat'><body>x</body></message>",
                     "<message to='alice@example.org/laptop' type='headline'><body>x</body></message>",
                     "<message to='alice@example.org/laptop' type='chat'><body>x</body>"
                     "<private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>"):
            self.send(self.bob, text)
            self.assertEqual(len(self.laptop.take()), 1)
            self.assertEqual(self.phone.take(), [])

    def test_disabled(self):
        self.send(self.phone, "<iq type='set' id='d'><disable xmlns='%s'/></iq>" % (NS.CARBONS,))
        self.phone.take()
        self.send(self.bob, "<message to='alice@example.org/laptop' type='chat'>"
                            "<body>Hello</body></message>")
        self.assertEqual(self.phone.take(), [])

    def test_serializedOnce(self):
        """
        A session that takes serialized stanzas gets the copy as bytes,
        the same for every recipient but for 'to'.
        """
        watch = self.connect("alice@example.org/watch", carbons=True,
                             sessionClass=SerializingSession)
        self.send(self.bob, "<message to='alice@example.org/laptop' type='chat'>"
                            "<body>Hello</body></message>")
        self.assertEqual(watch.take(), [])
        [data] = watch.written
        wrapper = etree.fromstring(data)
        self.assertEqual(wrapper.get("to"), "alice@example.org/watch")
        self.assertEqual(wrapper[0].tag, "{%s}received" % (NS.CARBONS,))
        phoneCopy = etree.tostring(self.phone.take()[0])
        self.assertEqual(etree.tostring(wrapper).replace(b"/watch", b"/phone"), phoneCopy)


class SentCarbonTests(CarbonsTestCase):
    """
    XEP-0280 §8: the sender's other Carbons-enabled sessions get a
    <sent/> copy.
    """

    def setUp(self):
        CarbonsTestCase.setUp(self)
        self.laptop = self.connect("alice@example.org/laptop", carbons=True)
        self.phone = self.connect("alice@example.org/phone")
        self.tablet = self.connect("alice@example.org/tablet", carbons=True)
        self.bob = self.connect("bob@example.org/desk")

    def test_sent(self):
        """
        The sender need not have Carbons enabled; it gets no copy itself.
        """
        message = self.send(self.phone, "<message to='bob@example.org' type='chat' id='s1'>"
                                        "<body>Hi Bob</body></message>")
        self.assertEqual(self.bob.take(), [message])
        for session in (self.laptop, self.tablet):
            inner = self.assertCarbon(session, SENT, message)
            self.assertEqual(inner.get("from"), "alice@example.org/phone")
            self.assertEqual(inner.get("to"), "bob@example.org")
        self.assertEqual(self.phone.take(), [])

    def test_senderEnabled(self):
        """
        §8: never a copy to the sending session, even when it enabled
        Carbons.
        """
        message = self.send(self.laptop, "<message to='bob@example.org/desk' type='chat'>"
                                         "<body>Hi</body></message>")
        self.assertEqual(self.laptop.take(), [])
        self.assertCarbon(self.tablet, SENT, message)

    def test_remoteRecipient(self):
        """
        A message to another server is copied as well; the sender then
        gets the error for the missing route, which is not copied.
        """
        message = self.send(self.phone, "<message to='carol@elsewhere.example' type='chat'>"
                                        "<body>Hi</body></message>")
        self.assertCarbon(self.laptop, SENT, message)
        [error] = self.phone.take()
        self.assertEqual(stanzaErrorCondition(error), "remote-server-not-found")

    def test_privateNotCopied(self):
        """
        §9: the sending server does not copy a private message.
        """
        self.send(self.phone, "<message to='bob@example.org' type='chat'><body>x</body>"
                              "<private xmlns='urn:xmpp:carbons:2'/>"
                              "<no-copy xmlns='urn:xmpp:hints'/></message>")
        self.assertEqual(len(self.bob.take()), 1)
        self.assertEqual((self.laptop.take(), self.tablet.take()), ([], []))

    def test_stoppedByFilter(self):
        """
        A message an outbound filter stops (privacy lists, blocking) is
        not copied.
        """
        self.api.hook(outboundEvent("message"), lambda event: True)
        self.send(self.phone, "<message to='bob@example.org' type='chat'><body>x</body></message>")
        self.assertEqual((self.bob.take(), self.laptop.take()), ([], []))

    def test_toOwnResource(self):
        """
        A message from one of the account's sessions to another: that one
        gets the original, the enabled sessions that neither sent nor got
        it one sent carbon, and there is no received carbon.
        """
        message = self.send(self.phone, "<message to='alice@example.org/laptop' type='chat'>"
                                        "<body>note to self</body></message>")
        self.assertEqual(self.laptop.take(), [message])
        self.assertCarbon(self.tablet, SENT, message)
        self.assertEqual(self.phone.take(), [])

    def test_toOwnBareJID(self):
        """
        A message without 'to' goes to the account's bare JID
        (RFC 6120 §10.3.1); its copy says where it went.
        """
        self.laptop.priority = 1
        message = self.send(self.phone, "<message type='chat'><body>memo</body></message>")
        self.assertEqual(self.laptop.take(), [message])
        inner = self.assertCarbon(self.tablet, SENT, message)
        self.assertEqual(inner.get("to"), "alice@example.org")
        self.assertEqual(self.phone.take(), [])


class DeliveryEventTests(unittest.TestCase):
    """
    The router's L{MESSAGE_DELIVERED} notification, which received carbons
    rely on: fired after default delivery with the sessions that got the
    message, and not when nobody did.
    """

    def setUp(self):
        self.harness = ModuleHarness("example.org")
        self.router = self.harness.router
        self.host = self.harness.host
        self.deliveries = []
        self.host.events.hook(MESSAGE_DELIVERED, self.deliveries.append)
        self.bob = self.connect("bob@example.org/desk")

    def connect(self, jid, priority=0):
        return self.harness.client(jid, available=True, priority=priority)

    def test_fullJID(self):
        laptop = self.connect("alice@example.org/laptop")
        message = parse("<message to='alice@example.org/laptop' type='chat'><body>x</body></message>")
        self.router.process(self.bob, message)
        [delivery] = self.deliveries
        self.assertIs(delivery.event.stanza, message)
        self.assertEqual(list(delivery.recipients), [laptop])
        self.assertEqual(laptop.take(), [message])

    def test_bareJID(self):
        laptop = self.connect("alice@example.org/laptop", priority=1)
        self.connect("alice@example.org/phone", priority=0)
        self.router.process(self.bob, parse(
            "<message to='alice@example.org' type='chat'><body>x</body></message>"))
        [delivery] = self.deliveries
        self.assertEqual(list(delivery.recipients), [laptop])

    def test_notDelivered(self):
        self.router.process(self.bob, parse(
            "<message to='alice@example.org' type='chat'><body>x</body></message>"))
        self.assertEqual(self.deliveries, [])
