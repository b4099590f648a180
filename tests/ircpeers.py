"""
IRC for the gateway tests: Debian's ngircd started on a free loopback port
with a private configuration, and a raw IRC client (RFC 2812 lines over an
asyncio socket) that the tests drive.
"""

import asyncio
import os
import socket

from twisted.internet import defer, protocol, reactor

from tests.e2e import needProgram

NGIRCD_CONFIG = """\
[Global]
Name = irc.test
Info = xmppframe test IRC server
AdminInfo1 = test
AdminInfo2 = test
AdminEMail = test@localhost
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = test server
PidFile = {dir}/ngircd.pid

[Limits]
ConnectRetry = 60
MaxConnectionsIP = 0
MaxNickLength = 30

[Options]
PAM = no
Ident = no
DNS = no
"""


def freePort():
    """
    A TCP port free on 127.0.0.1 now (for programs that cannot report
    the port they got).
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Process(protocol.ProcessProtocol):

    def __init__(self):
        self.ended = defer.Deferred()
        self.output = []

    def outReceived(self, data):
        self.output.append(data)

    errReceived = outReceived

    def processEnded(self, reason):
        self.ended.callback(None)


def spawn(testCase, executable, args, directory, name):
    """
    Run C{executable} until the test ends (SIGTERM, then wait).

    @return: the L{_Process} (its C{output} is what it printed).
    """
    process = _Process()
    transport = reactor.spawnProcess(process, executable, [name] + list(args),
                                     env=dict(os.environ), path=directory)

    def stop():
        if not process.ended.called:
            transport.signalProcess("TERM")
        return process.ended
    testCase.addCleanup(stop)
    return process


async def waitForPort(port, process, what, timeout=10.0):
    loop = asyncio.get_event_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if process.ended.called or loop.time() > deadline:
                raise RuntimeError("%s did not listen on %d: %s" % (
                    what, port, b"".join(process.output).decode("utf-8", "replace")))
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


async def startNgircd(testCase):
    """
    Start ngircd on a free 127.0.0.1 port, with its configuration in a
    temporary directory (no PAM, ident or DNS); skip if not installed.

    @return: the port.
    """
    executable = needProgram("ngircd")
    directory = os.path.abspath(testCase.mktemp())
    os.makedirs(directory)
    os.chmod(directory, 0o755)
    port = freePort()
    config = os.path.join(directory, "ngircd.conf")
    with open(config, "w") as f:
        f.write(NGIRCD_CONFIG.format(port=port, dir=directory))
    os.chmod(config, 0o644)
    process = spawn(testCase, executable, ["-n", "-f", config], directory, "ngircd")
    await waitForPort(port, process, "ngircd")
    return port


class Line:
    """
    One IRC line: C{prefix}, C{nick} (of the prefix), C{command}, C{params}.
    """

    def __init__(self, raw):
        self.raw = raw
        self.prefix = ""
        if raw.startswith(":"):
            self.prefix, _, raw = raw[1:].partition(" ")
        head, _, trailing = raw.partition(" :")
        words = head.split()
        self.command = words[0].upper() if words else ""
        self.params = words[1:] + ([trailing] if " :" in raw else [])
        self.nick = self.prefix.partition("!")[0]

    def __repr__(self):
        return "<Line %r>" % (self.raw,)


class IRCPeer:
    """
    An IRC user in the test: registers, joins, sends raw lines, and waits
    for the lines it expects (answering PINGs meanwhile).
    """

    def __init__(self, reader, writer, nick):
        self.reader = reader
        self.writer = writer
        self.nick = nick

    @classmethod
    async def connect(cls, testCase, host, port, nick, timeout=10):
        reader, writer = await asyncio.open_connection(host, port)
        peer = cls(reader, writer, nick)
        testCase.addCleanup(lambda: writer.close())
        peer.send("NICK %s" % (nick,))
        peer.send("USER %s 0 * :Test user %s" % (nick, nick))
        await peer.expect(lambda m: m.command == "001", timeout)
        return peer

    def send(self, line):
        self.writer.write(line.encode("utf-8") + b"\r\n")

    async def join(self, channel):
        self.send("JOIN " + channel)
        await self.expect(lambda m: m.command == "366")

    async def expect(self, predicate, timeout=10):
        """
        The next line for which C{predicate(line)} holds, skipping others.
        """
        return await asyncio.wait_for(self._expect(predicate), timeout)

    async def _expect(self, predicate):
        while True:
            raw = await self.reader.readline()
            if not raw:
                raise ConnectionError("the IRC server closed the connection")
            line = Line(raw.decode("utf-8", "replace").rstrip("\r\n"))
            if line.command == "PING":
                self.send("PONG :" + (line.params[-1] if line.params else ""))
                continue
            if predicate(line):
                return line
