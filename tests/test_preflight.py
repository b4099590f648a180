"""
Tests for what stops a server from starting (L{xmppframe.preflight}, the
listener checks of L{xmppframe.config}, L{xmppframe.server}'s listeners),
found the same by C{xmppframe config check} and by C{twistd xmppframe}
(L{xmppframe.tap}), and for federation switched off.
"""

import io
import os
import socket

from lxml import etree
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from xmppframe import tap
from xmppframe.cli import Console, run
from xmppframe.config import ConfigError, parseConfig
from xmppframe.preflight import findProblems, preflight
from xmppframe.server import Server, ServerService, StartError
from xmppframe.streams.tls import generateSelfSigned
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeStanza


def writeFile(directory, name, data):
    path = os.path.join(directory, name)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def certificatePair(directory, name="host"):
    """
    A self-signed certificate and its key in two files, and both in a
    third; returns the three paths.
    """
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    generateSelfSigned(["localhost"], cert, key)
    with open(cert, "rb") as c, open(key, "rb") as k:
        both = writeFile(directory, name + ".pem", c.read() + k.read())
    return cert, key, both


GARBAGE_PEM_KEY = "-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n"


class ProblemCases:
    """
    The broken configurations of issue 14: each a TOML text (with
    C{%(dir)s} for the test's directory) and the one line both config
    check and serve must give.
    """

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.cert, self.key, self.both = certificatePair(self.directory)
        writeFile(self.directory, "garbage.key", "this is not a key\n")
        writeFile(self.directory, "pemgarbage.key", GARBAGE_PEM_KEY)
        writeFile(self.directory, "afile", "x\n")
        _, self.otherKey, _ = certificatePair(self.directory, "other")

    def cases(self):
        d = self.directory
        return {
            "endpoint": ('[c2s]\nlisten = ["tcp:52x22"]\n',
                         "config error: c2s.listen[0]: \"tcp:52x22\": the port must be a "
                         "number from 0 to 65535, got '52x22'"),
            "missingCertificate": ('[hosts.localhost]\ncertificate = "nope.crt"\n',
                                   "config error: hosts.localhost.certificate: no such file: "
                                   "%s/nope.crt" % (d,)),
            "garbageKey": ('[hosts.localhost]\ncertificate = "host.crt"\nkey = "garbage.key"\n',
                           "config error: hosts.localhost.key: %s/garbage.key is not a PEM "
                           "private key" % (d,)),
            "damagedKey": ('[hosts.localhost]\ncertificate = "host.crt"\n'
                           'key = "pemgarbage.key"\n',
                           "config error: hosts.localhost.key: the private key in "
                           "%s/pemgarbage.key is damaged or of a kind that cannot be read"
                           % (d,)),
            "certificateWithoutKey": ('[hosts.localhost]\ncertificate = "host.crt"\n',
                                      "config error: hosts.localhost.certificate: %s/host.crt "
                                      "holds a certificate but not its private key: set key to "
                                      "the file of the private key" % (d,)),
            "wrongKey": ('[hosts.localhost]\ncertificate = "host.crt"\nkey = "other.key"\n',
                         "config error: hosts.localhost.key: the private key in %s/other.key "
                         "does not belong to the certificate in %s/host.crt" % (d, d)),
            "dataDirIsAFile": ('data_dir = "afile"\n',
                               "config error: data_dir: %s/afile is a file, not a directory"
                               % (d,)),
            "unknownModule": ('[hosts.localhost]\nmodules = ["ping", "nosuch"]\n',
                              "config error: hosts.localhost.modules[1]: unknown module "
                              "'nosuch' (installed: "),
            "badOption": ('[hosts.localhost]\nmodules = ["ping"]\n'
                          '[hosts.localhost.options.ping]\ninterval = "often"\n',
                          "config error: hosts.localhost.options.ping.interval: expected a "
                          "number, got 'often'"),
        }


class PreflightTests(ProblemCases, unittest.TestCase):
    """
    L{preflight} names the key and says what is wrong in words.
    """

    def load(self, text):
        import tomllib
        return parseConfig(tomllib.loads(text), self.directory)

    def check(self, name):
        text, expected = self.cases()[name]
        try:
            preflight(self.load(text))
        except ConfigError as e:
            message = str(e)
        self.assertTrue(message.startswith(expected), message)
        self.assertNotIn("\n", message)
        for jargon in ("Errno", "PEM lib", "invalid literal"):
            self.assertNotIn(jargon, message)

    def test_endpoint(self):
        text, expected = self.cases()["endpoint"]
        with self.assertRaises(ConfigError) as caught:
            self.load(text)
        self.assertEqual(str(caught.exception), expected)

    def test_missingCertificate(self):
        self.check("missingCertificate")

    def test_garbageKey(self):
        self.check("garbageKey")

    def test_damagedKey(self):
        self.check("damagedKey")

    def test_certificateWithoutKey(self):
        self.check("certificateWithoutKey")

    def test_wrongKey(self):
        self.check("wrongKey")

    def test_dataDirIsAFile(self):
        self.check("dataDirIsAFile")

    def test_unknownModule(self):
        self.check("unknownModule")

    def test_badOption(self):
        self.check("badOption")

    def test_ok(self):
        """
        A certificate with its key in the same file, or in two, is fine;
        so are the defaults (the certificate is generated at start-up).
        """
        self.assertEqual(findProblems(self.load('[hosts.localhost]\ncertificate = "host.pem"\n')),
                         [])
        self.assertEqual(findProblems(self.load(
            '[hosts.localhost]\ncertificate = "host.crt"\nkey = "host.key"\n')), [])
        self.assertEqual(findProblems(self.load("")), [])

    def test_everyProblem(self):
        """
        Every problem is in the one line, not only the first.
        """
        with self.assertRaises(ConfigError) as caught:
            preflight(self.load('data_dir = "afile"\n[hosts.localhost]\nmodules = ["nosuch"]\n'))
        message = str(caught.exception)
        self.assertIn("data_dir: ", message)
        self.assertIn("; hosts.localhost.modules[0]: unknown module 'nosuch'", message)


class ListenerDescriptionTests(unittest.TestCase):
    """
    Listener descriptions are checked when the configuration is read, and
    what is wrong is said in words.
    """

    def error(self, description, section="c2s", key="listen"):
        with self.assertRaises(ConfigError) as caught:
            parseConfig({section: {key: [description]}}, ".")
        return str(caught.exception)

    def test_messages(self):
        self.assertEqual(self.error("tcp:99999"),
                         "config error: c2s.listen[0]: \"tcp:99999\": the port must be a number "
                         "from 0 to 65535, got '99999'")
        self.assertIn("unknown endpoint type 'foo'", self.error("foo:1", "s2s"))
        self.assertIn("config error: s2s.listen[0]:", self.error("foo:1", "s2s"))
        self.assertIn("tcp listeners take no argument 'bogus'", self.error("tcp:5222:bogus=1"))
        self.assertIn("expected a number, got 'x'",
                      self.error("tcp:port=5222:backlog=x", "components"))
        self.assertIn("each ':' of an IPv6 address", self.error("tcp6:5222:interface=::1",
                                                                  "c2s", "listen_tls"))

    def test_good(self):
        config = parseConfig({"c2s": {"listen": ["tcp6:0:interface=\\:\\:1", "tcp:0",
                                                 "unix:/tmp/x.sock"]}}, ".")
        self.assertEqual(len(config.c2s.listen), 3)


class IPv6DefaultTests(unittest.TestCase):
    """
    The default listeners take every IPv6 and IPv4 address.
    """

    def test_defaults(self):
        config = parseConfig({}, ".")
        self.assertEqual(config.c2s.listen, ("tcp6:5222:interface=\\:\\:",))
        self.assertEqual(config.c2s.listen_tls, ("tcp6:5223:interface=\\:\\:",))
        self.assertEqual(config.s2s.listen, ("tcp6:5269:interface=\\:\\:",))

    @defer.inlineCallbacks
    def test_bothFamilies(self):
        """
        A listener like the default one accepts 127.0.0.1 and ::1.
        """
        if not socket.has_ipv6:
            raise unittest.SkipTest("no IPv6 here")
        directory = os.path.abspath(self.mktemp())
        config = parseConfig({"data_dir": directory, "storage": {"driver": "memory"},
                              "c2s": {"listen": ["tcp6:0:interface=\\:\\:"], "listen_tls": []},
                              "s2s": {"enabled": False}}, directory)
        service = ServerService(Server(config, reactor))
        service.startService()
        self.addCleanup(service.stopService)
        yield service.ready
        port = service.port("c2s")
        for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            banner = yield _streamHeader(family, address, port)
            self.assertIn(b"<stream:stream", banner, address)


def _streamHeader(family, address, port):
    """
    Connect to C{address}, send a stream header, return what the server
    answers first (in a thread: a plain blocking client).
    """
    from twisted.internet import threads

    def talk():
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect((address, port))
            sock.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
                         b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
            data = b""
            while b"<stream:stream" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data
    return threads.deferToThread(talk)


class ConfigCheckTests(ProblemCases, unittest.TestCase):
    """
    C{xmppframe config check} finds everything C{serve} refuses, with the
    same line.
    """

    @defer.inlineCallbacks
    def test_everyCase(self):
        for name, (text, expected) in sorted(self.cases().items()):
            path = writeFile(self.directory, name + ".toml", text)
            console = Console(io.StringIO(), io.StringIO(), io.StringIO())
            status = yield run(["--config", path, "config", "check"], reactor, console)
            self.assertEqual((status, console.stdout.getvalue()), (1, ""), name)
            error = console.stderr.getvalue()
            self.assertTrue(error.startswith(expected), (name, error))
            self.assertEqual(error.count("\n"), 1, name)


class TapTests(ProblemCases, unittest.TestCase):
    """
    C{twistd xmppframe}: a configuration that cannot be served is one line
    (no twistd usage text) and exit status 1, before anything starts.
    """

    def options(self, text):
        path = writeFile(self.directory, "xmppframe.toml", text)
        options = tap.Options()
        options.parseOptions(["--config", path])
        return options

    def test_everyCase(self):
        for name, (text, expected) in sorted(self.cases().items()):
            with self.assertRaises(SystemExit) as caught:
                tap.makeService(self.options(text), reactor)
            self.assertTrue(str(caught.exception.code).startswith(expected), name)

    def test_notAUsageError(self):
        """
        Options themselves accept a broken file: the error is
        makeService's, so that twistd prints no usage text.
        """
        options = self.options("[c2s]\nfoo = 1\n")
        with self.assertRaises(SystemExit) as caught:
            tap.makeService(options, reactor)
        self.assertEqual(caught.exception.code, "config error: c2s.foo: unknown key")


class FakeReactor(task.Clock):
    """
    A clock that records L{callWhenRunning} and L{stop}.
    """

    def __init__(self):
        task.Clock.__init__(self)
        self.whenRunning = []

    def callWhenRunning(self, f, *args):
        self.whenRunning.append((f, args))

    def stop(self):
        pass


class StartFailureTests(unittest.TestCase):
    """
    A start that fails once the reactor runs stops it and exits with 1.
    """

    def test_exitStatus(self):
        directory = os.path.abspath(self.mktemp())
        clock = FakeReactor()
        config = parseConfig({"data_dir": directory, "storage": {"driver": "memory"},
                              "c2s": {"listen": [], "listen_tls": []},
                              "s2s": {"enabled": False}}, directory)
        service = tap.TwistdServerService(Server(config, clock))
        statuses = []
        service.exitAfterCleanUp = statuses.append
        service.failureStream = io.StringIO()
        caught = []
        service.ready.addErrback(caught.append)
        service._startFailed(_failure(StartError("c2s.listen[0]: cannot listen on \"tcp:5222\": "
                                                 "port 5222 is already in use")))
        self.assertEqual(statuses, [1])
        self.assertEqual(clock.whenRunning, [(clock.stop, ())])
        self.assertEqual(service.failureStream.getvalue(),
                         "xmppframe could not start: c2s.listen[0]: cannot listen on "
                         "\"tcp:5222\": port 5222 is already in use\n")
        self.assertEqual(len(caught), 1)


def _failure(error):
    from twisted.python.failure import Failure
    try:
        raise error
    except Exception:
        return Failure()


class ListenTests(unittest.TestCase):
    """
    A listener that cannot be opened stops the start, whichever it is,
    unless its section says C{listen_optional}.
    """

    def setUp(self):
        self.taken = socket.socket()
        self.taken.bind(("127.0.0.1", 0))
        self.taken.listen()
        self.addCleanup(self.taken.close)
        self.takenPort = self.taken.getsockname()[1]

    def start(self, **s2s):
        directory = os.path.abspath(self.mktemp())
        s2sTable = {"listen": ["tcp:%d:interface=127.0.0.1" % (self.takenPort,)]}
        s2sTable.update(s2s)
        config = parseConfig({"data_dir": directory, "storage": {"driver": "memory"},
                              "c2s": {"listen": ["tcp:0:interface=127.0.0.1"],
                                      "listen_tls": []},
                              "s2s": s2sTable}, directory)
        service = ServerService(Server(config, reactor))
        service.startService()
        self.addCleanup(service.stopService)
        return service

    @defer.inlineCallbacks
    def test_secondListenerFatal(self):
        service = self.start()
        with self.assertRaises(StartError) as caught:
            yield service.ready
        self.assertEqual(str(caught.exception),
                         "s2s.listen[0]: cannot listen on \"tcp:%d:interface=127.0.0.1\": port "
                         "%d is already in use (by another program, or another server)"
                         % (self.takenPort, self.takenPort))

    @defer.inlineCallbacks
    def test_optional(self):
        service = self.start(listen_optional=True)
        yield service.ready
        self.assertIn("c2s", service.ports)
        self.assertNotIn("s2s", service.ports)

    @defer.inlineCallbacks
    def test_disabled(self):
        """
        With federation off no federation listener is opened (the taken
        port does not matter).
        """
        service = self.start(enabled=False)
        yield service.ready
        self.assertNotIn("s2s", service.ports)


class FederationOffTests(unittest.TestCase):
    """
    C{[s2s] enabled = false}: stanzas for other domains bounce at once,
    without DNS or a connection attempt.
    """

    def makeServer(self, **s2s):
        directory = os.path.abspath(self.mktemp())
        config = parseConfig({"data_dir": directory, "storage": {"driver": "memory"},
                              "s2s": dict({"listen": []}, **s2s),
                              "hosts": {"a.test": {}}}, directory)
        server = Server(config, task.Clock())
        self.bounced = []
        server.router.route = self.bounced.append
        return server

    def send(self, server):
        stanza = makeStanza("message", to="bob@b.test", from_="alice@a.test/r", type="chat")
        etree.SubElement(stanza, NS.qname(NS.CLIENT, "body")).text = "hi"
        server.s2s.route(stanza, server.router.jids.parse("bob@b.test"))

    def errorOf(self, bounce):
        error = bounce.find("{jabber:client}error")
        condition = error[0].tag.partition("}")[2]
        text = error.find("{urn:ietf:params:xml:ns:xmpp-stanzas}text")
        return condition, None if text is None else text.text

    def test_bounce(self):
        server = self.makeServer(enabled=False)
        attempts = []

        async def refuse(*args, **kwargs):
            attempts.append(args)
        server.s2s._open = refuse
        import xmppframe.streams.s2smanager as s2smanager
        self.patch(s2smanager, "resolveServer", lambda *a, **k: attempts.append(a))
        self.send(server)
        self.assertEqual(attempts, [])
        self.assertEqual(len(self.bounced), 1)
        condition, text = self.errorOf(self.bounced[0])
        self.assertEqual(condition, "remote-server-not-found")
        self.assertIn("b.test", text)
        self.assertEqual(server.s2s._routes, {})

    def test_textsInWords(self):
        """
        A connection that fails with an errno bounces with words; the
        errno goes to the log only.
        """
        server = self.makeServer()
        attempts = []

        async def fakeOpen(remote, build, local=None):
            d = defer.Deferred()
            attempts.append(d)
            return await d
        server.s2s._open = fakeOpen
        self.send(server)
        attempts[0].errback(ConnectionRefusedError(111, "Connection refused"))
        condition, text = self.errorOf(self.bounced[0])
        self.assertEqual((condition, text), ("remote-server-not-found",
                                             "could not connect to b.test"))

    @defer.inlineCallbacks
    def test_noServiceText(self):
        """
        DNS saying there is no XMPP service, or nothing answering at its
        targets: the reason is words, not an errno.
        """
        from xmppframe.streams import s2smanager
        server = self.makeServer()
        self.patch(s2smanager, "resolveServer", lambda domain, resolver: defer.succeed([]))
        with self.assertRaises(ConnectionError) as caught:
            yield defer.ensureDeferred(server.s2s._open("b.test", None))
        self.assertEqual(str(caught.exception), "b.test has no XMPP service")
