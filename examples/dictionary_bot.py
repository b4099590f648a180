"""
The classic XMPP library demo: a bot that logs in as an ordinary user,
accepts every subscription request, and answers a word with its definition
from a small built-in dictionary ("I don't know WORD" otherwise).

It is a client, not a service, and uses Twisted's own XMPP client
(L{twisted.words.protocols.jabber.client}): STARTTLS, required and checked
against the server's certificate (C{--ca-file}, the host name being the
JID's domain), SASL PLAIN over it, resource binding (RFC 6120 §5, §6, §7).
It works with any server; against xmppframe, make the account first::

    python -m examples.dictionary_bot --jid dict@localhost \\
        --password-file dict.password --server 127.0.0.1:5222 \\
        --ca-file data/certs/localhost.crt

Then send it "xmpp" from any client.
"""

import argparse
import sys

from twisted.internet import defer, ssl
from twisted.logger import Logger
from twisted.words.protocols.jabber import client, jid as jabberJID, xmlstream
from twisted.words.xish import domish

DEFINITIONS = {
    "xmpp": "The Extensible Messaging and Presence Protocol: streaming XML for instant "
            "messaging, presence and more (RFC 6120, RFC 6121).",
    "jid": "A Jabber ID, an XMPP address: localpart@domain/resource (RFC 7622).",
    "stanza": "One unit of XMPP traffic: a message, a presence or an iq.",
    "presence": "Whether an entity is available, broadcast to those subscribed to it.",
    "roster": "A user's contact list, kept on the server (RFC 6121 §2).",
    "twisted": "An event-driven networking engine written in Python.",
}


def define(word, definitions=DEFINITIONS):
    """
    The answer to C{word}: its definition, or that the bot does not know it.
    """
    word = word.strip()
    definition = definitions.get(word.lower())
    if definition is None:
        return "I don't know %s" % (word,)
    return "%s: %s" % (word, definition)


class DictionaryBot:
    """
    The bot's behaviour on an authenticated stream: answers messages and
    accepts subscriptions.

    @ivar factory: the reconnecting client factory (connect it with
        C{reactor.connectTCP(host, port, bot.factory)}).
    @ivar whenReady: fires once the first stream is authenticated and
        bound, or fails if negotiation fails (wrong password, no TLS, an
        untrusted certificate).
    """

    log = Logger()

    def __init__(self, botJID, password, trustRoot, definitions=DEFINITIONS):
        self.jid = jabberJID.JID(botJID)
        self.definitions = definitions
        self.whenReady = defer.Deferred()
        self.stream = None
        self._whenStopped = []
        tls = ssl.optionsForClientTLS(self.jid.host, trustRoot=trustRoot)
        self.factory = client.XMPPClientFactory(self.jid, password, configurationForTLS=tls)
        self.factory.addBootstrap(xmlstream.STREAM_CONNECTED_EVENT, self._connected)
        self.factory.addBootstrap(xmlstream.STREAM_AUTHD_EVENT, self._authenticated)
        self.factory.addBootstrap(xmlstream.INIT_FAILED_EVENT, self._failed)
        self.factory.addBootstrap(xmlstream.STREAM_END_EVENT, self._ended)

    def _connected(self, stream):
        self.stream = stream

    def _authenticated(self, stream):
        stream.addObserver("/message/body", self.onMessage)
        stream.addObserver("/presence[@type='subscribe']", self.onSubscribe)
        stream.send(domish.Element((None, "presence")))
        self.log.info("{jid} is online", jid=stream.authenticator.jid.full())
        if not self.whenReady.called:
            self.whenReady.callback(self)

    def _failed(self, failure):
        self.log.error("stream negotiation failed: {error}", error=failure.value)
        self.stop()
        if not self.whenReady.called:
            self.whenReady.errback(failure)

    def _ended(self, reason):
        self.stream = None
        waiting, self._whenStopped = self._whenStopped, []
        for d in waiting:
            d.callback(None)

    def onMessage(self, message):
        if message.getAttribute("type") == "error" or not message.getAttribute("from"):
            return
        reply = domish.Element((None, "message"))
        reply["to"] = message["from"]
        reply["type"] = message.getAttribute("type", "chat")
        reply.addElement("body", content=define(str(message.body), self.definitions))
        self.stream.send(reply)

    def onSubscribe(self, presence):
        """
        Accept the request and ask for the user's presence in return
        (RFC 6121 §3.1.5).
        """
        for kind in ("subscribed", "subscribe"):
            answer = domish.Element((None, "presence"))
            answer["to"] = jabberJID.JID(presence["from"]).userhost()
            answer["type"] = kind
            self.stream.send(answer)

    def stop(self):
        """
        Stop reconnecting and log out.

        @return: a Deferred that fires once the connection is closed.
        """
        self.factory.stopTrying()
        if self.stream is None:
            return defer.succeed(None)
        d = defer.Deferred()
        self._whenStopped.append(d)
        self.stream.sendFooter()
        self.stream.transport.loseConnection()
        return d


def loadTrustRoot(path):
    """
    The certificate(s) in the PEM file C{path} as a trust root.
    """
    with open(path, "rb") as f:
        return ssl.Certificate.loadPEM(f.read())


def parseServer(text):
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("expected host:port, got %r" % (text,))
    return host, int(port)


def parseArguments(argv):
    parser = argparse.ArgumentParser(description="An XMPP bot answering words with definitions.")
    parser.add_argument("--jid", required=True, help="the bot's account, user@domain")
    parser.add_argument("--password-file", required=True,
                        help="a file holding the account's password (its first line)")
    parser.add_argument("--server", type=parseServer, default=None,
                        help="host:port to connect to (default: the JID's domain, port 5222)")
    parser.add_argument("--ca-file", required=True,
                        help="PEM certificate(s) to trust for the server's TLS certificate")
    return parser.parse_args(argv)


def main(reactor, *argv):
    from twisted.logger import globalLogBeginner, textFileLogObserver
    arguments = parseArguments(list(argv))
    try:
        with open(arguments.password_file, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
        trustRoot = loadTrustRoot(arguments.ca_file)
        bot = DictionaryBot(arguments.jid, password, trustRoot)
    except (OSError, ValueError, ssl.SSL.Error, jabberJID.InvalidFormat) as e:
        sys.stderr.write("dictionary_bot: %s\n" % (e,))
        raise SystemExit(2)
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])
    host, port = arguments.server or (bot.jid.host, 5222)
    reactor.connectTCP(host, port, bot.factory)
    d = bot.whenReady
    d.addCallback(lambda _: defer.Deferred())  # then run until interrupted
    d.addErrback(_loginFailed)
    return d


def _loginFailed(failure):
    sys.stderr.write("dictionary_bot: could not log in: %s\n" % (failure.getErrorMessage(),))
    raise SystemExit(1)


if __name__ == "__main__":
    from twisted.internet.task import react
    react(main, sys.argv[1:])
