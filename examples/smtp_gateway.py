"""
An SMTP gateway: mail becomes XMPP messages and XMPP messages become mail,
with the addresses of one world written as local parts in the other.

The gateway has an XMPP domain (C{mail.localhost}) that is also its mail
domain (or C{--mail-domain}), and escapes a foreign address into a local
part with C{%} in place of its C{@}:

  - A mail to C{user%example.org@mail.localhost} (received by the
    gateway's own ESMTP server, L{twisted.mail.smtp}) becomes a C{normal}
    message to C{user@example.org}, from the sender's escaped address at
    the gateway (C{bob%example.com@mail.localhost}, so that a reply comes
    back as mail), with the C{Subject} as C{<subject/>} and the first
    C{text/plain} part (found by the standard library's L{email} package)
    as C{<body/>}.  Aliases map plain local parts to JIDs:
    C{--alias support=alice@example.org} delivers C{support@mail.localhost}
    to C{alice@example.org}.
  - A message to C{alice%example.com@mail.localhost} becomes a mail to
    C{alice@example.com} from the sender's escaped address, sent with
    L{twisted.mail.smtp.sendmail} to the configured smarthost.

What is refused, and how (RFC 5321 §4.2.2 reply codes, RFC 6120 §8.3.3
stanza error conditions):

  - a recipient at another domain: C{550} (no relaying); one that is not
    an escaped address or alias, or not a valid JID: C{550}/C{553};
  - a mail larger than C{--max-size} bytes: C{552} (the size is also
    advertised with the SIZE extension, RFC 1870);
  - mail while the gateway is not connected to its XMPP server: C{451}
    (try again later);
  - an XMPP message to an address that is not an escaped email address:
    C{jid-malformed}; a body larger than C{--max-size}: C{policy-violation};
    the smarthost refusing the recipient: C{item-not-found}; the smarthost
    unreachable or failing otherwise: C{remote-server-not-found} or
    C{service-unavailable}.  Each error carries the SMTP reply as text.

Run it as an external XEP-0114 component (the server needs
C{[components.secrets] "mail.localhost" = "s3cret"})::

    python -m examples.smtp_gateway --domain mail.localhost --secret s3cret \\
        --smtp-listen tcp:2525:interface=127.0.0.1 --smarthost 127.0.0.1:25
"""

import argparse
import email
import email.policy
import email.utils
import sys
from email.message import EmailMessage

from lxml import etree
from zope.interface import implementer

from twisted.internet import defer, error as netError
from twisted.mail import smtp
from twisted.mail.interfaces import IMessageDelivery, IMessageSMTP
from twisted.logger import Logger

from xmppframe.errors import StanzaError
from xmppframe.jid import InvalidJID, makeJID, parseJID
from xmppframe.service import Service
from xmppframe.streams.componentclient import ComponentClientFactory
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeStanza

_BODY = NS.qname(NS.CLIENT, "body")
_SUBJECT = NS.qname(NS.CLIENT, "subject")

DEFAULT_MAX_SIZE = 1024 * 1024


class AddressMapping:
    """
    The two-way mapping between mail addresses and JIDs at the gateway:
    C{local%domain@gateway} stands for C{local@domain} on the other side.

    @ivar mailDomain: the gateway's mail domain (lower case).
    @ivar domain: the gateway's XMPP domain.
    @ivar aliases: plain local part (lower case) -> JID (a C{str}).
    """

    def __init__(self, domain, mailDomain=None, aliases=None):
        self.domain = domain
        self.mailDomain = (mailDomain or domain).lower()
        self.aliases = {k.lower(): str(parseJID(v)) for k, v in (aliases or {}).items()}

    def jidForRecipient(self, local, domain):
        """
        The JID a mail to C{local@domain} is for.

        @raise LookupError: with the reason, if it is for no mailbox here.
        @raise InvalidJID: if the escaped address is no valid JID.
        """
        if domain.lower() != self.mailDomain:
            raise LookupError("relaying to %s is not allowed" % (domain,))
        alias = self.aliases.get(local.lower())
        if alias is not None:
            return alias
        user, percent, host = local.rpartition("%")
        if not percent or not user or not host:
            raise LookupError("no such mailbox: use user%%domain@%s" % (self.mailDomain,))
        return str(makeJID(user, host))

    def jidForSender(self, address):
        """
        The gateway JID that stands for the mail address C{address}
        (C{local@domain}), or the gateway's domain for the null sender or
        an address that is no JID.
        """
        local, at, domain = address.rpartition("@")
        if not at or not local:
            return self.domain
        try:
            return str(makeJID("%s%%%s" % (local, domain), self.domain))
        except InvalidJID:
            return self.domain

    def mailForJID(self, jid):
        """
        The mail address a message to the gateway JID C{jid} is for.

        @raise StanzaError: C{jid-malformed} if C{jid} is no escaped address.
        """
        user, percent, host = (jid.localpart or "").rpartition("%")
        if not percent or not user or not host:
            raise StanzaError("jid-malformed", text="Write the address as user%%domain@%s"
                              % (self.domain,))
        return "%s@%s" % (user, host)

    def mailForSender(self, jid):
        """
        The mail address (at the gateway's mail domain) that stands for the
        XMPP sender C{jid}, so that replies come back through the gateway.
        """
        if jid.localpart is None:
            return "%s@%s" % (jid.domain, self.mailDomain)
        return "%s%%%s@%s" % (jid.localpart, jid.domain, self.mailDomain)


@implementer(IMessageSMTP)
class IncomingMail:
    """
    One mail being received for one recipient: its lines are kept until
    the end of data, then it is handed to the gateway as a message.
    """

    def __init__(self, gateway, sender, recipient):
        self.gateway = gateway
        self.sender = sender
        self.recipient = recipient
        self.lines = []
        self.size = 0

    def lineReceived(self, line):
        self.size += len(line) + 2
        if self.size > self.gateway.maxSize:
            raise smtp.SMTPServerError(
                552, b"Message exceeds the size limit of %d bytes" % (self.gateway.maxSize,))
        self.lines.append(line)

    def eomReceived(self):
        mail = email.message_from_bytes(b"\n".join(self.lines), policy=email.policy.default)
        return defer.maybeDeferred(self.gateway.deliverMail, self.sender, self.recipient, mail)

    def connectionLost(self):
        self.lines = []


@implementer(IMessageDelivery)
class GatewayDelivery:
    """
    The gateway's SMTP side: which recipients it takes, and what it does
    with their mail.
    """

    def __init__(self, gateway):
        self.gateway = gateway

    def receivedHeader(self, helo, origin, recipients):
        return None

    def validateFrom(self, helo, origin):
        return origin

    def validateTo(self, user):
        local = user.dest.local.decode("utf-8", "replace")
        domain = user.dest.domain.decode("utf-8", "replace")
        try:
            recipient = self.gateway.mapping.jidForRecipient(local, domain)
        except LookupError as e:
            raise smtp.SMTPBadRcpt(str(user), 550, _ascii(str(e)))
        except InvalidJID as e:
            raise smtp.SMTPBadRcpt(str(user), 553, _ascii("not a valid address for XMPP: %s"
                                                          % (e,)))
        if not self.gateway.connected:
            raise smtp.SMTPServerError(451, "The XMPP side is not connected; try again later")
        sender = str(user.orig) if user.orig is not None else ""
        return lambda: IncomingMail(self.gateway, sender, recipient)


def _ascii(text):
    """
    C{text} as an SMTP reply can carry it (RFC 5321 replies are ASCII).
    """
    return text.encode("ascii", "replace").decode("ascii")


class GatewayESMTP(smtp.ESMTP):
    """
    The ESMTP server, advertising the size limit (RFC 1870).
    """

    def extensions(self):
        extensions = smtp.ESMTP.extensions(self)
        extensions.pop(b"AUTH", None)
        extensions[b"SIZE"] = [str(self.factory.gateway.maxSize).encode("ascii")]
        return extensions


class GatewaySMTPFactory(smtp.SMTPFactory):
    """
    Builds the gateway's ESMTP server protocols (listen on it with any
    server endpoint).
    """

    protocol = GatewayESMTP
    timeout = 300

    def __init__(self, gateway):
        smtp.SMTPFactory.__init__(self)
        self.gateway = gateway
        self.domain = gateway.mapping.mailDomain

    def buildProtocol(self, addr):
        protocol = smtp.SMTPFactory.buildProtocol(self, addr)
        protocol.delivery = GatewayDelivery(self.gateway)
        protocol.timeout = self.timeout  # an idle client is dropped (RFC 5321 §4.5.3.2)
        return protocol


def firstTextPart(mail):
    """
    The text of C{mail}'s first C{text/plain} part, or C{None}.
    """
    part = mail.get_body(preferencelist=("plain",))
    if part is None:
        return None
    return part.get_content()


class SMTPGatewayService(Service):
    """
    The XMPP side of the gateway, and the owner of the mapping and limits
    its SMTP server uses (L{smtpFactory}).

    @param options: C{smarthost} (C{"host:port"}, where outgoing mail goes),
        C{mail_domain} (default: the XMPP domain), C{max_size} (bytes, for
        both directions), C{aliases} (local part -> JID).
    """

    name = "smtp"
    identities = (("gateway", "smtp", "SMTP gateway"),)

    log = Logger()

    def __init__(self, domain, reactor, options=None):
        Service.__init__(self, domain, reactor, options)
        self.mapping = AddressMapping(domain, self.options.get("mail_domain"),
                                      self.options.get("aliases"))
        self.maxSize = int(self.options.get("max_size", DEFAULT_MAX_SIZE))
        self.smarthost = parseHostPort(self.options.get("smarthost", "127.0.0.1:25"))

    def smtpFactory(self):
        """
        A server factory for the gateway's ESMTP server.
        """
        return GatewaySMTPFactory(self)

    # Mail -> XMPP

    def deliverMail(self, sender, recipient, mail):
        """
        Send C{mail} (an L{email.message.EmailMessage}) from the envelope
        sender C{sender} as a message to the JID C{recipient}.
        """
        message = makeStanza("message", to=recipient,
                             from_=self.mapping.jidForSender(sender), type="normal")
        subject = mail.get("subject")
        if subject:
            etree.SubElement(message, _SUBJECT).text = str(subject)
        text = firstTextPart(mail)
        etree.SubElement(message, _BODY).text = (
            text if text is not None else "(This mail has no text/plain part.)")
        self.send(message)

    # XMPP -> mail

    def onMessage(self, message):
        if message.get("type") == "error":
            return
        try:
            self._mailMessage(message)
        except StanzaError as e:
            self.replyError(message, e)

    def _mailMessage(self, message):
        try:
            sender = parseJID(message.get("from"))
            recipient = self.mapping.mailForJID(parseJID(message.get("to")))
        except InvalidJID:
            raise StanzaError("jid-malformed")
        body = message.findtext(_BODY)
        if body is None:
            return
        mail = EmailMessage()
        mail["From"] = self.mapping.mailForSender(sender)
        mail["To"] = recipient
        subject = message.findtext(_SUBJECT)
        if subject:
            mail["Subject"] = subject
        mail["Date"] = email.utils.formatdate(self.reactor.seconds(), localtime=False)
        mail["Message-ID"] = email.utils.make_msgid(domain=self.mapping.mailDomain)
        mail.set_content(body)
        data = mail.as_bytes()
        if len(data) > self.maxSize:
            raise StanzaError("policy-violation", text="The message exceeds the size limit "
                              "of %d bytes" % (self.maxSize,))
        host, port = self.smarthost
        d = smtp.sendmail(host, mail["From"].encode("utf-8"),
                          [recipient.encode("utf-8")], data,
                          senderDomainName=self.mapping.mailDomain, port=port,
                          reactor=self.reactor)
        d.addErrback(self._sendFailed, message)

    def _sendFailed(self, failure, message):
        self.log.warn("mail for {to} not sent: {error}", to=message.get("to"),
                      error=failure.value)
        code = getattr(failure.value, "code", None)
        text = "SMTP: %s" % (failure.getErrorMessage(),)
        if failure.check(smtp.SMTPConnectError, netError.ConnectError):
            error = StanzaError("remote-server-not-found", text=text)
        elif isinstance(code, int) and 500 <= code < 600:
            error = StanzaError("item-not-found", text=text)
        else:
            error = StanzaError("service-unavailable", type="wait", text=text)
        if self.connected:
            self.replyError(message, error)


def parseHostPort(text):
    """
    C{"host:port"} -> C{(host, port)}.

    @raise ValueError: with a clear message.
    """
    host, colon, port = str(text).rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, got %r" % (text,))
    return host, int(port)


def parseAlias(text):
    local, equals, jid = text.partition("=")
    if not equals or not local or not jid:
        raise argparse.ArgumentTypeError("expected LOCAL=JID, got %r" % (text,))
    try:
        parseJID(jid)
    except InvalidJID as e:
        raise argparse.ArgumentTypeError("%r: %s" % (jid, e))
    return local, jid


def parseSmarthost(text):
    try:
        return parseHostPort(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def parseArguments(argv):
    parser = argparse.ArgumentParser(
        description="An SMTP <-> XMPP gateway, as an external XEP-0114 component.")
    parser.add_argument("--domain", required=True, help="the component's XMPP domain")
    parser.add_argument("--secret", required=True, help="the component's shared secret")
    parser.add_argument("--server", default="127.0.0.1", help="the XMPP server's address")
    parser.add_argument("--port", type=int, default=5347,
                        help="the XMPP server's component port")
    parser.add_argument("--smtp-listen", default="tcp:2525:interface=127.0.0.1",
                        help="where the gateway's SMTP server listens (an endpoint string)")
    parser.add_argument("--smarthost", type=parseSmarthost, default=("127.0.0.1", 25),
                        help="host:port of the SMTP server outgoing mail is sent to")
    parser.add_argument("--mail-domain", default=None,
                        help="the gateway's mail domain (default: --domain)")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE,
                        help="the largest mail or message, in bytes")
    parser.add_argument("--alias", type=parseAlias, action="append", default=[],
                        metavar="LOCAL=JID", help="deliver LOCAL@mail-domain to JID")
    return parser.parse_args(argv)


def startGateway(reactor, domain, secret, server, port, smtpEndpoint, smarthost,
                 mailDomain=None, maxSize=DEFAULT_MAX_SIZE, aliases=None):
    """
    Connect an L{SMTPGatewayService} to C{server}:C{port} and listen for
    mail on C{smtpEndpoint} (a server endpoint).

    @return: a Deferred of C{(factory, listeningPort)}: the
        L{ComponentClientFactory} and the SMTP port.
    """
    service = SMTPGatewayService(domain, reactor, {
        "smarthost": "%s:%d" % smarthost, "mail_domain": mailDomain, "max_size": maxSize,
        "aliases": dict(aliases or {})})
    factory = ComponentClientFactory(service, secret)
    reactor.connectTCP(server, port, factory)
    d = smtpEndpoint.listen(service.smtpFactory())
    d.addCallback(lambda listening: (factory, listening))
    return d


def main(reactor, *argv):
    from twisted.internet.endpoints import serverFromString
    from twisted.logger import globalLogBeginner, textFileLogObserver
    arguments = parseArguments(list(argv))
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])
    d = startGateway(reactor, arguments.domain, arguments.secret, arguments.server,
                     arguments.port, serverFromString(reactor, arguments.smtp_listen),
                     arguments.smarthost, arguments.mail_domain, arguments.max_size,
                     arguments.alias)
    d.addCallback(lambda _: defer.Deferred())  # run until interrupted
    return d


if __name__ == "__main__":
    from twisted.internet.task import react
    react(main, sys.argv[1:])
