"""
An IRC gateway: XMPP users join IRC channels as multi-user chat rooms
(XEP-0045) and talk privately to IRC nicks, over Twisted's IRC client
(L{twisted.words.protocols.irc.IRCClient}).

Addressing, as biboumi does it (the gateway's domain is C{irc.localhost}
here):

  - C{#channel%server@irc.localhost} is the channel C{#channel} on the IRC
    server C{server}, seen as a room; C{#channel%server@irc.localhost/nick}
    is its occupant C{nick}.  Join with presence to that occupant JID
    (XEP-0045 §7.2), leave with unavailable presence (the channel is
    parted, §7.14), talk with C{groupchat} messages (§7.4).
  - C{nick%server@irc.localhost} is the IRC user C{nick}: a C{chat}
    message to it is a private message (PRIVMSG), and an IRC user's
    private message arrives from that address.  A private message to an
    occupant JID (§7.5) goes to that nick as well; answers come from
    C{nick%server@...}.

Channel names lose their case in a JID (local parts are case-folded);
IRC compares channel names without case too.  Only C{#} channels are
reachable (C{&} is not allowed in a JID's local part).

One IRC connection per XMPP I{full} JID and IRC server: each client
resource is its own IRC user.  Its nickname is the one asked for in the
first join; later joins on the same server use the connection's nickname
(IRC nicknames are server-wide) and say so with status code 210
(XEP-0045 §7.2.9).  A nickname already in use, or one IRC refuses, is
reported on the join as a MUC error (C{conflict}, C{jid-malformed};
§7.2.8).  The connection quits when its last channel is left and no
private conversation was started on it, or when the service stops.

The IRC port is the C{irc_port} option (6667 by default), for every
server; C{servers}, when not empty, lists the only IRC servers users may
reach, so that the gateway is no open relay to the whole network.

disco#info on the gateway answers the identities gateway/irc and
conference/irc (XEP-0030, the Jabber Registrar's categories).

Run it as an external XEP-0114 component (the server needs
C{[components.secrets] "irc.localhost" = "s3cret"})::

    python -m examples.irc_gateway --domain irc.localhost --secret s3cret \\
        --irc-port 6667 --allow-server 127.0.0.1

or in process: C{"irc"} in a host's C{modules} (the module plugin in
C{examples/twisted/plugins/}), with
C{[hosts."localhost".options.irc] domain = "irc.localhost"}.
"""

import argparse
import sys

from lxml import etree

from twisted.internet import protocol
from twisted.logger import Logger
from twisted.words.protocols import irc

from xmppframe.api import ModuleOption
from xmppframe.errors import StanzaError
from xmppframe.jid import InvalidJID, makeJID
from xmppframe.service import Service, serviceModule
from xmppframe.streams.componentclient import ComponentClientFactory
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import errorReply, makeStanza

MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"

_BODY = NS.qname(NS.CLIENT, "body")
_NICK_PREFIXES = "~&@%+"

#: IRC replies refusing a JOIN (by the symbolic names Twisted gives the
#: numerics), and the MUC error each becomes
#: (XEP-0045 §7.2.5-§7.2.10).
_JOIN_REFUSALS = {
    "ERR_NOSUCHCHANNEL": "item-not-found",            # 403
    "ERR_TOOMANYCHANNELS": "not-allowed",             # 405
    "ERR_CHANNELISFULL": "service-unavailable",       # 471
    "ERR_INVITEONLYCHAN": "registration-required",    # 473
    "ERR_BANNEDFROMCHAN": "forbidden",                # 474
    "ERR_BADCHANNELKEY": "not-authorized",            # 475
}


def isChannel(name):
    return name[:1] in ("#", "&")


def ircLower(name):
    return name.lower()


class Address:
    """
    A JID at the gateway, read: C{name%server@gateway[/nick]}.

    @ivar name: the channel (with its C{#}) or the nick.
    @ivar server: the IRC server's host.
    @ivar nick: the resource (an occupant's nick), or C{None}.
    """

    def __init__(self, name, server, nick):
        self.name = name
        self.server = server
        self.nick = nick

    @property
    def isChannel(self):
        return isChannel(self.name)

    @classmethod
    def parse(cls, jid):
        """
        @raise StanzaError: C{jid-malformed}, with the expected form.
        """
        name, percent, server = (jid.localpart or "").rpartition("%")
        if not percent or not name or not server:
            raise StanzaError("jid-malformed",
                              text="Address IRC as #channel%server@" + jid.domain
                              + " or nick%server@" + jid.domain)
        return cls(name, server, jid.resource)


class IRCConnection(irc.IRCClient):
    """
    One XMPP user's connection to one IRC server; turns IRC events into
    calls on its L{UserSession}.
    """

    log = Logger()
    lineRate = None

    def connectionMade(self):
        self.nickname = self.factory.session.nickname
        self.realname = self.factory.session.nickname
        self.username = "xmpp"
        irc.IRCClient.connectionMade(self)

    def connectionLost(self, reason):
        irc.IRCClient.connectionLost(self, reason)
        self.factory.session.ircLost(reason)

    def signedOn(self):
        self.factory.session.ircSignedOn(self)

    def irc_ERR_NICKNAMEINUSE(self, prefix, params):
        self.factory.session.ircNickRefused("conflict", params[-1])

    def irc_ERR_ERRONEUSNICKNAME(self, prefix, params):
        self.factory.session.ircNickRefused("jid-malformed", params[-1])

    def irc_ERR_NICKCOLLISION(self, prefix, params):
        self.factory.session.ircNickRefused("conflict", params[-1])

    def irc_RPL_NAMREPLY(self, prefix, params):
        self.factory.session.channelNames(params[2], params[3].split())

    def irc_RPL_ENDOFNAMES(self, prefix, params):
        self.factory.session.channelJoined(params[1])

    def irc_RPL_NOTOPIC(self, prefix, params):
        self.factory.session.channelTopic(params[1], None, "")

    def irc_unknown(self, prefix, command, params):
        condition = _JOIN_REFUSALS.get(command)
        if condition is not None and len(params) > 1:
            self.factory.session.joinRefused(params[1], condition, params[-1])

    def topicUpdated(self, user, channel, newTopic):
        self.factory.session.channelTopic(channel, user.split("!")[0], newTopic)

    def privmsg(self, user, channel, message):
        self.factory.session.ircMessage(user.split("!")[0], channel, message)

    def action(self, user, channel, data):
        self.factory.session.ircMessage(user.split("!")[0], channel, "/me " + data)

    def noticed(self, user, channel, message):
        if "!" in user:   # not server notices
            self.factory.session.ircMessage(user.split("!")[0], channel, message)

    def userJoined(self, user, channel):
        self.factory.session.occupantJoined(channel, user.split("!")[0])

    def userLeft(self, user, channel):
        self.factory.session.occupantLeft(channel, user.split("!")[0])

    def userKicked(self, kickee, channel, kicker, message):
        self.factory.session.occupantLeft(channel, kickee)

    def kickedFrom(self, channel, kicker, message):
        self.factory.session.channelLost(channel, "kicked by %s: %s" % (kicker, message))

    def userQuit(self, user, quitMessage):
        self.factory.session.userQuit(user.split("!")[0])

    def userRenamed(self, oldname, newname):
        self.factory.session.userRenamed(oldname, newname)


class _IRCConnectionFactory(protocol.ClientFactory):
    protocol = IRCConnection
    noisy = False

    def __init__(self, session):
        self.session = session

    def clientConnectionFailed(self, connector, reason):
        self.session.ircLost(reason, failedToConnect=True)


class Room:
    """
    A channel a user joined or is joining: who is in it.
    """

    def __init__(self, channel, jid, requestedNick):
        self.channel = channel
        self.jid = jid                    # the room's bare JID (a str)
        self.requestedNick = requestedNick
        self.members = {}                 # irc-lowered nick -> nick
        self.joined = False
        self.pendingSubject = None        # a topic that came before the names


class UserSession:
    """
    An XMPP full JID's presence on one IRC server: its connection, its
    rooms, and the conversion of IRC events into stanzas.
    """

    log = Logger()

    def __init__(self, service, user, server, nickname):
        self.service = service
        self.user = user                  # the XMPP full JID (a str)
        self.server = server
        self.nickname = nickname
        self.rooms = {}                   # irc-lowered channel -> Room
        self.connection = None
        self.pendingMessages = []         # (target, text) sent once signed on
        self.privateTalk = False
        self.closed = False

    # From XMPP

    def connect(self):
        self.service.reactor.connectTCP(self.server, self.service.ircPort,
                                        _IRCConnectionFactory(self))

    def join(self, channel, roomJID, nick):
        key = ircLower(channel)
        if key in self.rooms:
            room = self.rooms[key]
            if room.joined:
                self._sendRoster(room)
            return
        self.rooms[key] = Room(channel, roomJID, nick)
        if self.connection is not None:
            self.connection.join(channel)

    def part(self, channel):
        room = self.rooms.pop(ircLower(channel), None)
        if room is None:
            return
        if self.connection is not None:
            self.connection.part(channel)
        self._sendSelfUnavailable(room)
        self._quitIfIdle()

    def say(self, target, text):
        if self.connection is None:
            self.pendingMessages.append((target, text))
            return
        for line in text.splitlines() or [""]:
            self.connection.msg(target, line)

    def quit(self, message="Leaving"):
        self.closed = True
        self.service.sessionEnded(self)
        if self.connection is not None:
            self.connection.quit(message)
            self.connection.transport.loseConnection()

    # From IRC

    def ircSignedOn(self, connection):
        self.connection = connection
        if self.closed:   # everything was left while connecting
            self.quit()
            return
        for room in self.rooms.values():
            connection.join(room.channel)
        pending, self.pendingMessages = self.pendingMessages, []
        for target, text in pending:
            self.say(target, text)

    def ircNickRefused(self, condition, text):
        if self.connection is not None:
            return   # a later NICK change failing: nothing was asked for it
        for room in list(self.rooms.values()):
            self._sendJoinError(room, condition, "IRC: " + text)
        self.rooms.clear()
        self.pendingMessages = []
        self.quit()

    def joinRefused(self, channel, condition, text):
        room = self.rooms.pop(ircLower(channel), None)
        if room is not None:
            self._sendJoinError(room, condition, "IRC: " + text)
            self._quitIfIdle()

    def ircLost(self, reason, failedToConnect=False):
        wasClosed, self.closed = self.closed, True
        self.service.sessionEnded(self)
        if wasClosed:
            return
        text = "IRC server %s: %s" % (self.server, reason.getErrorMessage())
        for room in self.rooms.values():
            if room.joined:
                self._sendSelfUnavailable(room, text)
            else:
                self._sendJoinError(room, "remote-server-not-found" if failedToConnect
                                    else "service-unavailable", text)
        self.rooms.clear()

    def channelNames(self, channel, names):
        room = self.rooms.get(ircLower(channel))
        if room is None:
            return
        for name in names:
            nick = name.lstrip(_NICK_PREFIXES)
            if nick:
                room.members[ircLower(nick)] = nick

    def channelJoined(self, channel):
        room = self.rooms.get(ircLower(channel))
        if room is None or room.joined:
            return
        room.joined = True
        self._sendRoster(room)

    def channelTopic(self, channel, setter, topic):
        room = self.rooms.get(ircLower(channel))
        if room is None:
            return
        if not room.joined and not topic:
            return   # RPL_NOTOPIC at join: the empty subject follows the roster
        message = makeStanza("message", to=self.user, type="groupchat",
                             from_=self._occupant(room, setter) if setter else room.jid)
        etree.SubElement(message, NS.qname(NS.CLIENT, "subject")).text = topic
        if room.joined:
            self.service.send(message)
        else:
            room.pendingSubject = message

    def channelLost(self, channel, text):
        room = self.rooms.pop(ircLower(channel), None)
        if room is not None:
            self._sendSelfUnavailable(room, text)
            self._quitIfIdle()

    def ircMessage(self, nick, target, text):
        if isChannel(target):
            room = self.rooms.get(ircLower(target))
            if room is None:
                return
            self._send("message", self._occupant(room, nick), type="groupchat", body=text)
        else:
            self.privateTalk = True
            self._send("message", self.service.nickJID(nick, self.server), type="chat",
                       body=text)

    def occupantJoined(self, channel, nick):
        room = self.rooms.get(ircLower(channel))
        if room is not None:
            room.members[ircLower(nick)] = nick
            if room.joined:
                self._sendOccupant(room, nick)

    def occupantLeft(self, channel, nick):
        room = self.rooms.get(ircLower(channel))
        if room is not None and room.members.pop(ircLower(nick), None) is not None:
            if room.joined:
                self._sendOccupant(room, nick, available=False)

    def userQuit(self, nick):
        for room in self.rooms.values():
            if room.members.pop(ircLower(nick), None) is not None and room.joined:
                self._sendOccupant(room, nick, available=False)

    def userRenamed(self, old, new):
        for room in self.rooms.values():
            if room.members.pop(ircLower(old), None) is None:
                continue
            room.members[ircLower(new)] = new
            if room.joined:
                self._sendOccupant(room, old, available=False, newNick=new)
                self._sendOccupant(room, new)

    # Stanzas

    def _occupant(self, room, nick):
        return "%s/%s" % (room.jid, nick)

    def _send(self, kind, from_, type=None, body=None):
        stanza = makeStanza(kind, to=self.user, from_=from_, type=type)
        if body is not None:
            etree.SubElement(stanza, _BODY).text = body
        self.service.send(stanza)
        return stanza

    def _mucUser(self, presence, statuses=(), nick=None):
        x = etree.SubElement(presence, NS.qname(MUC_USER, "x"), nsmap={None: MUC_USER})
        item = etree.SubElement(x, NS.qname(MUC_USER, "item"))
        item.set("affiliation", "none")
        item.set("role", "participant" if presence.get("type") is None else "none")
        if nick is not None:
            item.set("nick", nick)
        for code in statuses:
            etree.SubElement(x, NS.qname(MUC_USER, "status")).set("code", str(code))
        return presence

    def _sendOccupant(self, room, nick, available=True, newNick=None, statuses=()):
        presence = makeStanza("presence", to=self.user, from_=self._occupant(room, nick),
                              type=None if available else "unavailable")
        self.service.send(self._mucUser(
            presence, statuses + ((303,) if newNick else ()), newNick))

    def _sendRoster(self, room):
        """
        XEP-0045 §7.2.3: the other occupants, then the user's own presence
        (status 110, and 210 when the nick is not the one asked for), then
        the subject.
        """
        me = ircLower(self.connection.nickname)
        for key, nick in sorted(room.members.items()):
            if key != me:
                self._sendOccupant(room, nick)
        statuses = (110,) if self.connection.nickname == room.requestedNick else (110, 210)
        self._sendOccupant(room, self.connection.nickname, statuses=statuses)
        subject, room.pendingSubject = room.pendingSubject, None
        if subject is None:
            subject = makeStanza("message", to=self.user, from_=room.jid, type="groupchat")
            etree.SubElement(subject, NS.qname(NS.CLIENT, "subject"))
        self.service.send(subject)

    def _sendSelfUnavailable(self, room, text=None):
        nick = self.connection.nickname if self.connection is not None else room.requestedNick
        presence = makeStanza("presence", to=self.user, from_=self._occupant(room, nick),
                              type="unavailable")
        if text:
            etree.SubElement(presence, NS.qname(NS.CLIENT, "status")).text = text
        self.service.send(self._mucUser(presence, (110,)))

    def _sendJoinError(self, room, condition, text):
        """
        XEP-0045 §7.2: a refused join is the join presence bounced with an
        error, from the occupant JID asked for.
        """
        join = makeStanza("presence", to=self._occupant(room, room.requestedNick),
                          from_=self.user)
        etree.SubElement(join, NS.qname(MUC, "x"), nsmap={None: MUC})
        self.service.send(errorReply(join, StanzaError(condition, text=text)))

    def _quitIfIdle(self):
        if not self.rooms and not self.privateTalk and not self.pendingMessages:
            self.quit()


class IRCGatewayService(Service):
    """
    The gateway: reads the addresses, keeps a L{UserSession} per XMPP full
    JID and IRC server.
    """

    name = "irc"
    summary = "an IRC gateway: channels as MUC rooms (examples/irc_gateway.py)"
    xeps = ("XEP-0045",)
    identities = (("gateway", "irc", "IRC gateway"), ("conference", "irc", "IRC channels"))
    features = (MUC,)
    optionSchema = {
        "irc_port": ModuleOption("integer", 6667, help="the IRC servers' port"),
        "servers": ModuleOption("strings", [],
                                help="the IRC servers users may reach; empty means any"),
    }

    def __init__(self, domain, reactor, options=None):
        Service.__init__(self, domain, reactor, options)
        self.ircPort = int(self.options.get("irc_port") or 6667)
        self.allowedServers = {s.lower() for s in self.options.get("servers") or ()}
        self.sessions = {}                # (full JID, server) -> UserSession

    def nickJID(self, nick, server):
        return str(makeJID("%s%%%s" % (nick.lower(), server), self.domain))

    def sessionEnded(self, session):
        if self.sessions.get((session.user, session.server)) is session:
            del self.sessions[(session.user, session.server)]

    def stopped(self):
        for session in list(self.sessions.values()):
            session.quit("Gateway shutting down")
        self.sessions.clear()

    def _address(self, stanza):
        to = self.jids.parse(stanza.get("to"))
        if to.localpart is None:
            return None
        address = Address.parse(to)
        if self.allowedServers and address.server.lower() not in self.allowedServers:
            raise StanzaError("not-allowed", text="This gateway only reaches "
                              + ", ".join(sorted(self.allowedServers)))
        return address

    def _session(self, user, server, nick=None):
        key = (user, server)
        session = self.sessions.get(key)
        if session is None and nick is not None:
            session = self.sessions[key] = UserSession(self, user, server, nick)
            session.connect()
        return session

    def onPresence(self, presence):
        type = presence.get("type")
        if type not in (None, "unavailable"):
            return
        try:
            address = self._address(presence)
        except StanzaError as e:
            if type is None:
                self.replyError(presence, e)
            return
        except InvalidJID:
            return
        if address is None or not address.isChannel:
            return
        if type is None:
            if not address.nick:
                self.replyError(presence, StanzaError("jid-malformed",
                                                      text="Join with a nick: room/nick"))
                return
            roomJID = self.jids.parse(presence.get("to")).bare
            self._session(presence.get("from"), address.server, address.nick).join(
                address.name, str(roomJID), address.nick)
        else:
            session = self._session(presence.get("from"), address.server)
            if session is not None:
                session.part(address.name)

    def onMessage(self, message):
        type = message.get("type")
        body = message.findtext(_BODY)
        if type == "error" or body is None:
            return
        try:
            address = self._address(message)
            if address is None:
                raise StanzaError("service-unavailable", text="Talk to #channel%server@"
                                  + self.domain + " or nick%server@" + self.domain)
        except StanzaError as e:
            self.replyError(message, e)
            return
        sender = message.get("from")
        if address.isChannel and address.nick is None:
            session = self._session(sender, address.server)
            room = session.rooms.get(ircLower(address.name)) if session else None
            if type != "groupchat" or room is None or not room.joined:
                self.replyError(message, StanzaError(
                    "not-acceptable", text="Join the room before talking in it"))
                return
            session.say(address.name, body)
            # XEP-0045 §7.4: the room reflects the message to its sender.
            session._send("message", session._occupant(room, session.connection.nickname),
                          type="groupchat", body=body)
            return
        nick = address.nick if address.isChannel else address.name
        session = self._session(sender, address.server, None if address.isChannel else nick)
        if session is None:
            self.replyError(message, StanzaError("not-acceptable",
                                                 text="Join a room on that server first"))
            return
        session.privateTalk = True
        session.say(nick, body)


#: The in-process runner, named by the module plugin C{irc}.
IRCGatewayModule = serviceModule(IRCGatewayService)


def parseArguments(argv):
    parser = argparse.ArgumentParser(
        description="An IRC gateway (rooms #channel%server@DOMAIN), as an external "
                    "XEP-0114 component.")
    parser.add_argument("--domain", required=True, help="the component's XMPP domain")
    parser.add_argument("--secret", required=True, help="the component's shared secret")
    parser.add_argument("--server", default="127.0.0.1", help="the XMPP server's address")
    parser.add_argument("--port", type=int, default=5347,
                        help="the XMPP server's component port")
    parser.add_argument("--irc-port", type=int, default=6667,
                        help="the port of the IRC servers")
    parser.add_argument("--allow-server", action="append", default=[], metavar="HOST",
                        help="an IRC server users may reach (repeat; default: any)")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.irc_port < 65536:
        parser.error("--irc-port must be a TCP port number")
    return arguments


def connectGateway(reactor, domain, secret, server, port, ircPort=6667, allowedServers=()):
    """
    Connect an L{IRCGatewayService} to C{server}:C{port}.

    @return: its L{ComponentClientFactory} (C{whenReady} fires once in).
    """
    service = IRCGatewayService(domain, reactor, {
        "irc_port": ircPort, "servers": list(allowedServers)})
    factory = ComponentClientFactory(service, secret)
    reactor.connectTCP(server, port, factory)
    return factory


def main(reactor, *argv):
    from twisted.internet import defer
    from twisted.logger import globalLogBeginner, textFileLogObserver
    arguments = parseArguments(list(argv))
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])
    connectGateway(reactor, arguments.domain, arguments.secret, arguments.server,
                   arguments.port, arguments.irc_port, arguments.allow_server)
    return defer.Deferred()  # run until interrupted


if __name__ == "__main__":
    from twisted.internet.task import react
    react(main, sys.argv[1:])
