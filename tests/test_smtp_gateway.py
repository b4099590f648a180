"""
The SMTP gateway example (examples/smtp_gateway.py) over real sockets: the
gateway as an external XEP-0114 component of a real server, its ESMTP
server on a loopback port fed by the standard library's smtplib (in a
thread), a slixmpp user on the XMPP side, and a small twisted.mail ESMTP
server in the test as the smarthost that outgoing mail reaches.
"""

import asyncio
import io
import smtplib
import sys
from email.message import EmailMessage
from email import message_from_bytes, policy

from zope.interface import implementer

from twisted.internet import defer, reactor, threads
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.mail import smtp
from twisted.mail.interfaces import IMessageDelivery, IMessageSMTP
from twisted.trial import unittest

from examples.smtp_gateway import (
    AddressMapping, SMTPGatewayService, parseArguments, parseHostPort, startGateway)
from tests.e2e import asDeferred, requireAsyncioReactor, waitFor
from tests.test_e2e_component import startServer
from tests.xmppclient import TestClient
from xmppframe.errors import StanzaError
from xmppframe.jid import parseJID

LOOPBACK = "tcp:0:interface=127.0.0.1"
MAX_SIZE = 8000


@implementer(IMessageSMTP)
class RecordedMail:

    def __init__(self, smarthost, sender, recipient):
        self.smarthost = smarthost
        self.sender = sender
        self.recipient = recipient
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)

    def eomReceived(self):
        self.smarthost.mails.put((self.sender, self.recipient, b"\n".join(self.lines)))
        return defer.succeed(None)

    def connectionLost(self):
        pass


@implementer(IMessageDelivery)
class SmarthostDelivery:
    """
    Takes every recipient but C{reject@...} (550, as a real server would
    for an unknown user).
    """

    def __init__(self, smarthost):
        self.smarthost = smarthost

    def receivedHeader(self, helo, origin, recipients):
        return None

    def validateFrom(self, helo, origin):
        return origin

    def validateTo(self, user):
        if user.dest.local == b"reject":
            raise smtp.SMTPBadRcpt(str(user))
        return lambda: RecordedMail(self.smarthost, str(user.orig), str(user.dest))


class SmarthostProtocol(smtp.ESMTP):

    def connectionMade(self):
        smtp.ESMTP.connectionMade(self)
        self.factory.open.add(self)

    def connectionLost(self, reason):
        smtp.ESMTP.connectionLost(self, reason)
        self.factory.open.discard(self)


class Smarthost(smtp.SMTPFactory):
    """
    The SMTP server the gateway relays outgoing mail to, recording it.
    """

    protocol = SmarthostProtocol
    domain = "smarthost.test"

    def __init__(self):
        smtp.SMTPFactory.__init__(self)
        self.mails = defer.DeferredQueue()
        self.open = set()

    def buildProtocol(self, addr):
        protocol = smtp.SMTPFactory.buildProtocol(self, addr)
        protocol.delivery = SmarthostDelivery(self)
        return protocol

    async def closed(self):
        while self.open:
            await asyncio.sleep(0.01)


def sendWithSmtplib(port, sender, recipients, data):
    """
    Send one mail with the standard library's client (run in a thread).
    """
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail(sender, recipients, data)


def multipartMail():
    mail = EmailMessage()
    mail["From"] = "Bob <bob@example.com>"
    mail["To"] = "alice%localhost@mail.localhost"
    mail["Subject"] = "Lunch?"
    mail.set_content("Noon at the usual place.\n")
    mail.add_alternative("<p>Noon at the <b>usual</b> place.</p>", subtype="html")
    return mail.as_bytes()


class SMTPGatewayTests(unittest.TestCase):

    timeout = 60

    def setUp(self):
        requireAsyncioReactor()
        return asDeferred(self._setUp())

    async def _setUp(self):
        self.server = await startServer(self, {"components": {
            "listen": [LOOPBACK], "secrets": {"mail.localhost": "s3cret"}}})
        self.smarthost = Smarthost()
        smarthostPort = reactor.listenTCP(0, self.smarthost, interface="127.0.0.1")
        self.addCleanup(lambda: asDeferred(self.smarthost.closed()))
        self.addCleanup(smarthostPort.stopListening)
        factory, self.smtpPort = await waitFor(startGateway(
            reactor, "mail.localhost", "s3cret", "127.0.0.1",
            self.server.service.port("component"),
            TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"),
            ("127.0.0.1", smarthostPort.getHost().port), maxSize=MAX_SIZE,
            aliases={"postmaster": "alice@localhost"}))
        self.addCleanup(self.smtpPort.stopListening)
        self.addCleanup(factory.stop)
        await waitFor(factory.whenReady)
        await self.server.addUser("alice@localhost", "secret-pw")
        self.alice = TestClient("alice@localhost/desk", "secret-pw", self.server)
        await self.alice.login()
        self.addCleanup(lambda: asDeferred(self.alice.close()))

    def sendMail(self, sender, recipients, data):
        return waitFor(threads.deferToThread(
            sendWithSmtplib, self.smtpPort.getHost().port, sender, recipients, data))

    def test_mailBecomesMessage(self):
        return asDeferred(self._mailBecomesMessage())

    async def _mailBecomesMessage(self):
        refused = await self.sendMail("bob@example.com", ["alice%localhost@mail.localhost"],
                                      multipartMail())
        self.assertEqual(refused, {})
        message = await self.alice.nextMessage()
        self.assertEqual(str(message["from"]), "bob%example.com@mail.localhost")
        self.assertEqual(message["subject"], "Lunch?")
        self.assertEqual(message["body"], "Noon at the usual place.\n")
        # An alias (a documented mapping) delivers a plain local part.
        await self.sendMail("carol@example.net", ["postmaster@mail.localhost"],
                            b"Subject: hi\n\nplain text\n")
        message = await self.alice.nextMessage()
        self.assertEqual((str(message["from"]), message["body"]),
                         ("carol%example.net@mail.localhost", "plain text\n"))

    def test_badRecipientsRefused(self):
        return asDeferred(self._badRecipientsRefused())

    async def _badRecipientsRefused(self):
        for recipient, code in (("nobody@mail.localhost", 550),       # not an escaped address
                                ("alice@elsewhere.example", 550),     # no relaying
                                ("o'brien%localhost@mail.localhost", 553)):  # no JID
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as caught:
                await self.sendMail("bob@example.com", [recipient], b"Subject: x\n\nx\n")
            self.assertEqual(caught.exception.recipients[recipient][0], code, recipient)

    def test_mailTooLarge(self):
        return asDeferred(self._mailTooLarge())

    async def _mailTooLarge(self):
        data = b"Subject: big\n\n" + b"x" * 70 + (b"\n" + b"x" * 70) * (MAX_SIZE // 70)
        with self.assertRaises(smtplib.SMTPException) as caught:
            await self.sendMail("bob@example.com", ["alice%localhost@mail.localhost"], data)
        # smtplib checks the advertised SIZE itself, else the server says 552.
        self.assertIn(552, caught.exception.args + (getattr(caught.exception, "smtp_code", 0),))

    def test_messageBecomesMail(self):
        return asDeferred(self._messageBecomesMail())

    async def _messageBecomesMail(self):
        self.alice.send_message("carol%example.com@mail.localhost", "See you at noon.",
                                msubject="Re: Lunch?", mtype="normal")
        sender, recipient, data = await waitFor(self.smarthost.mails.get())
        self.assertEqual((sender, recipient),
                         ("alice%localhost@mail.localhost", "carol@example.com"))
        mail = message_from_bytes(data, policy=policy.default)
        self.assertEqual(mail["From"], "alice%localhost@mail.localhost")
        self.assertEqual(mail["To"], "carol@example.com")
        self.assertEqual(mail["Subject"], "Re: Lunch?")
        self.assertTrue(mail["Message-ID"].endswith("@mail.localhost>"))
        self.assertEqual(mail.get_content().strip(), "See you at noon.")

    def test_messageBounces(self):
        return asDeferred(self._messageBounces())

    async def _messageBounces(self):
        self.alice.send_message("plain@mail.localhost", "to whom?", mtype="chat")
        error = await self.alice.nextError()
        self.assertEqual(error["error"]["condition"], "jid-malformed")
        self.alice.send_message("reject%example.com@mail.localhost", "hello", mtype="chat")
        error = await self.alice.nextError()
        self.assertEqual(error["error"]["condition"], "item-not-found")
        self.assertIn("550", error["error"]["text"])
        self.alice.send_message("carol%example.com@mail.localhost", "y" * MAX_SIZE, mtype="chat")
        error = await self.alice.nextError()
        # (slixmpp predates RFC 6120's policy-violation: look at the XML.)
        self.assertIsNotNone(error["error"].xml.find(
            "{urn:ietf:params:xml:ns:xmpp-stanzas}policy-violation"))


class AddressMappingTests(unittest.TestCase):
    """
    The address mapping and the command line, without sockets.
    """

    def setUp(self):
        self.mapping = AddressMapping("mail.localhost", aliases={"Help": "alice@localhost"})

    def test_recipient(self):
        self.assertEqual(self.mapping.jidForRecipient("user%example.org", "MAIL.localhost"),
                         "user@example.org")
        self.assertEqual(self.mapping.jidForRecipient("help", "mail.localhost"),
                         "alice@localhost")
        self.assertRaises(LookupError, self.mapping.jidForRecipient, "user", "mail.localhost")
        self.assertRaises(LookupError, self.mapping.jidForRecipient, "u%x", "other.org")

    def test_sender(self):
        self.assertEqual(self.mapping.jidForSender("bob@example.com"),
                         "bob%example.com@mail.localhost")
        self.assertEqual(self.mapping.jidForSender(""), "mail.localhost")
        self.assertEqual(self.mapping.mailForSender(parseJID("a@b/c")), "a%b@mail.localhost")

    def test_mailForJID(self):
        self.assertEqual(self.mapping.mailForJID(parseJID("x%y.org@mail.localhost")), "x@y.org")
        error = self.assertRaises(StanzaError, self.mapping.mailForJID,
                                  parseJID("x@mail.localhost"))
        self.assertEqual(error.condition, "jid-malformed")

    def test_options(self):
        self.assertEqual(parseHostPort("smtp.example.org:587"), ("smtp.example.org", 587))
        self.assertRaises(ValueError, parseHostPort, "nohost")
        service = SMTPGatewayService("mail.localhost", reactor, {"smarthost": "h:26"})
        self.assertEqual(service.smarthost, ("h", 26))
        arguments = parseArguments(["--domain", "mail.localhost", "--secret", "s",
                                    "--smarthost", "127.0.0.1:2526", "--alias", "a=b@c"])
        self.assertEqual((arguments.smarthost, arguments.alias),
                         (("127.0.0.1", 2526), [("a", "b@c")]))
        self.patch(sys, "stderr", io.StringIO())
        self.assertRaises(SystemExit, parseArguments, ["--domain", "d", "--secret", "s",
                                                       "--smarthost", "nope"])
