"""
Real XMPP servers as federation peers for end-to-end tests: Debian's
Prosody and ejabberd, each serving one domain from a private config and
data directory, on free loopback ports, with a certificate for its domain
from a test CA that every server trusts.

How the peers find each other (and xmppframe): a server looks a domain up
in DNS, C{_xmpp-server._tcp.DOMAIN} SRV then the target's address
(RFC 6120 §3.2), and neither Prosody 0.12 nor ejabberd 23.01 has a
static-route option.  What both do have is a configurable resolver:

  - Prosody with lua-unbound (C{net.unbound}) takes libunbound options
    from its config: C{unbound = { forward = "127.0.0.1@PORT" }}.
  - ejabberd runs on Erlang, whose resolver reads the file named by
    C{ERL_INETRC}; C{ejabberdctl} points it at C{CONFIG_DIR/inetrc},
    where C{{nameserver, {127,0,0,1}, PORT}} names our server.

So L{StaticDNS}, a small authoritative DNS responder on a loopback UDP
port, answers SRV and A queries for the test domains and NXDOMAIN for
everything else; every peer's private config points at it.  Nothing
system-wide (C{/etc/hosts}, C{resolv.conf}, real DNS) is touched.

Test domains end in C{.example}, not C{.test}: libunbound answers
NXDOMAIN for C{.test} (and C{.localhost}, C{.invalid}) by itself, from
its built-in local zones for the special-use names of RFC 6761, without
asking the forwarder.

The responder runs in a thread, outside the reactor, so that peers can
outlive one test (see L{SharedPeers}) without tripping trial's reactor
checks.

Accounts are made with each server's own tool (C{prosodyctl register},
C{ejabberdctl register}); servers run in their foreground modes in their
own process group, which cleanup terminates, then kills.
"""

import asyncio
import atexit
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import socketserver
import ssl
import stat
import subprocess
import threading
import time

from twisted.names import dns
from twisted.trial.unittest import SkipTest

from tests.testca import TestCA

LOOPBACK = "127.0.0.1"


def freePort():
    """
    A TCP port on the loopback interface that was free a moment ago.
    """
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _program(name):
    path = shutil.which(name)
    if path is None:
        for directory in ("/usr/sbin", "/sbin"):
            candidate = os.path.join(directory, name)
            if os.access(candidate, os.X_OK):
                return candidate
        raise SkipTest("%s is not installed (.ci/run installs it)" % (name,))
    return path


def _tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log at %s)" % (path,)


class PeerError(Exception):
    """
    A peer server did not start or a command of its admin tool failed;
    the message carries the end of its log.
    """


class _DNSHandler(socketserver.BaseRequestHandler):

    def handle(self):
        data, sock = self.request
        try:
            query = dns.Message()
            query.fromStr(data)
        except Exception:
            return
        sock.sendto(self.server.owner.answer(query).toStr(), self.client_address)


class StaticDNS:
    """
    An authoritative DNS server on a loopback UDP port for the test domains:
    C{_xmpp-server._tcp.DOMAIN} SRV records point at each domain's
    server-to-server port on target C{127.0.0.1}, and each domain has an
    A record for 127.0.0.1 (for resolvers that fall back to it).

    The SRV target is the address itself, not a name, because ejabberd
    resolves SRV targets with the system's C{getaddrinfo} (which reads
    the real C{/etc/hosts} and DNS, not C{inetrc}); an address needs no
    lookup, for ejabberd and Prosody alike.  Other names get NXDOMAIN.  Records have TTL 0, so a port
    that changes (a new xmppframe for each test) is seen at once.
    """

    def __init__(self):
        self._services = {}
        self._lock = threading.Lock()
        self._server = socketserver.UDPServer((LOOPBACK, 0), _DNSHandler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="StaticDNS", daemon=True)
        self._thread.start()

    def setService(self, domain, port):
        """
        Route C{domain}'s server-to-server traffic to C{127.0.0.1:port}.
        """
        with self._lock:
            self._services[domain.lower()] = port

    def stop(self):
        if self._thread is None:
            return
        self._thread, thread = None, self._thread
        self._server.shutdown()
        self._server.server_close()
        thread.join(5)

    def answer(self, query):
        """
        The response to the parsed C{query}.
        """
        response = dns.Message(id=query.id, answer=1, opCode=query.opCode,
                               recDes=query.recDes, recAv=1, auth=True)
        response.queries = query.queries
        if query.opCode != dns.OP_QUERY or len(query.queries) != 1:
            response.rCode = dns.ENOTIMP
            return response
        question = query.queries[0]
        name = question.name.name.decode("ascii", "replace").lower().rstrip(".")
        with self._lock:
            services = dict(self._services)
        labels = name.split(".")
        if name in services:
            if question.type in (dns.A, dns.ALL_RECORDS):
                response.answers.append(dns.RRHeader(
                    question.name.name, dns.A, dns.IN, 0, dns.Record_A(LOOPBACK, 0), auth=True))
            return response
        if labels[:2] == ["_xmpp-server", "_tcp"] and ".".join(labels[2:]) in services:
            domain = ".".join(labels[2:])
            if question.type in (dns.SRV, dns.ALL_RECORDS):
                response.answers.append(dns.RRHeader(
                    question.name.name, dns.SRV, dns.IN, 0,
                    dns.Record_SRV(0, 0, services[domain], LOOPBACK, 0), auth=True))
            return response
        response.rCode = dns.ENAME
        return response


class _ForeignProcess:
    """
    A process this test started indirectly (through C{su}), known by its
    id and a string its command line must contain, so that a reused id is
    never signalled.
    """

    def __init__(self, pid, marker):
        self.pid = pid
        self.marker = marker

    def alive(self):
        try:
            with open("/proc/%d/cmdline" % (self.pid,), "rb") as f:
                return self.marker.encode() in f.read()
        except OSError:
            return False

    def signal(self, signum):
        if self.alive():
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass


def _terminate(foreign, timeout):
    """
    SIGTERM, then SIGKILL after C{timeout} seconds, a L{_ForeignProcess}.
    """
    foreign.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while foreign.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    foreign.signal(signal.SIGKILL)


class _Peer:
    """
    What the two kinds of peer share: a domain, ports, a directory, a
    process in its own process group, and the surface
    L{tests.xmppclient.TestClient} uses (C{port}, C{tlsPort},
    C{clientContext}).
    """

    program = None
    tlsPort = None

    def __init__(self, network, domain):
        self.network = network
        self.domain = domain
        self.directory = os.path.join(network.directory, domain)
        os.makedirs(self.directory, exist_ok=True)
        self.port = freePort()
        self.s2sPort = freePort()
        self.certPath, self.keyPath = network.ca.issue([domain], xmppAddr=False)
        self.process = None
        network.dns.setService(domain, self.s2sPort)

    def clientContext(self, host=None):
        """
        A TLS context for a client of this peer: it trusts the test CA and
        checks the host name.
        """
        context = ssl.create_default_context(cafile=self.network.ca.caPath)
        context.check_hostname = True
        return context

    def _spawn(self, argv, env=None, cwd=None):
        self._output = open(os.path.join(self.directory, "output.log"), "ab")
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT,
            env=env, cwd=cwd or self.directory, start_new_session=True)

    def stop(self, timeout=15):
        """
        Terminate the server, then its process group, killing what
        lingers.
        """
        process, self.process = self.process, None
        if process is None:
            return
        server = self._serverProcess()
        if server is not None:
            # The server runs in a session of its own (C{su -c} calls
            # setsid), out of reach of the group signal below.
            _terminate(server, timeout)
        if process.poll() is None:
            self._signalGroup(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Children of the leader (su) may outlive it briefly.
        self._signalGroup(process, signal.SIGKILL)
        process.wait(5)
        self._output.close()

    def _serverProcess(self):
        """
        The server's own process when it is not the process started (see
        L{EjabberdPeer}), as a L{_ForeignProcess}, or C{None}.
        """
        return None

    @staticmethod
    def _signalGroup(process, signum):
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    async def _waitFor(self, isReady, what, timeout):
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process.poll() is not None:
                raise PeerError("%s exited with status %s before %s:\n%s" % (
                    self.program, self.process.returncode, what, self.logText()))
            if await isReady():
                return
            await asyncio.sleep(0.1)
        raise PeerError("%s: no %s after %ss:\n%s" % (self.program, what, timeout,
                                                         self.logText()))

    async def _portsOpen(self):
        for port in (self.port, self.s2sPort):
            try:
                _, writer = await asyncio.open_connection(LOOPBACK, port)
            except OSError:
                return False
            writer.close()
        return True

    async def _run(self, argv, **kwargs):
        """
        Run an admin command to completion without blocking the reactor.
        """
        result = await asyncio.to_thread(
            subprocess.run, argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=60, **kwargs)
        if result.returncode != 0:
            raise PeerError("%s failed (%s): %s%s" % (
                " ".join(argv), result.returncode, result.stdout, result.stderr))
        return result


#: Where Debian's lua-unbound puts the library Prosody's net.unbound loads.
_LUNBOUND = ("/usr/lib/*/lua/*/lunbound.so", "/usr/local/lib/lua/*/lunbound.so")


class ProsodyPeer(_Peer):
    """
    Prosody 0.12 serving C{domain}: C{prosody -F} (foreground) with a
    private config file.  Static DNS comes through lua-unbound's
    C{forward} option; without lua-unbound Prosody falls back to a DNS
    library that only reads C{/etc/resolv.conf}, so the peer cannot start.
    """

    program = "prosody"

    def __init__(self, network, domain):
        self.prosody = _program("prosody")
        self.prosodyctl = _program("prosodyctl")
        if not any(glob.glob(pattern) for pattern in _LUNBOUND):
            raise SkipTest("lua-unbound is not installed: Prosody needs it to ask the"
                           " test's DNS (.ci/run installs it)")
        _Peer.__init__(self, network, domain)
        self.dataDir = os.path.join(self.directory, "data")
        os.makedirs(self.dataDir, exist_ok=True)
        self.log = os.path.join(self.directory, "prosody.log")
        self.config = os.path.join(self.directory, "prosody.cfg.lua")
        with open(self.config, "w") as f:
            f.write(self._configText())

    def _configText(self):
        quote = lambda value: '"%s"' % (value.replace("\\", "\\\\").replace('"', '\\"'),)
        ca = quote(self.network.ca.caPath)
        return "\n".join([
            "-- A test peer: private paths, loopback only, DNS from the test.",
            "data_path = %s" % quote(self.dataDir),
            "pidfile = %s" % quote(os.path.join(self.directory, "prosody.pid")),
            "log = { debug = %s }" % quote(self.log),
            "certificates = %s" % quote(self.network.ca.directory),
            # Root in CI: stay root rather than switch to the prosody user,
            # who cannot read a test's files.
            "run_as_root = true",
            'interfaces = { "127.0.0.1" }',
            "local_interfaces = { \"127.0.0.1\" }",
            "c2s_ports = { %d }" % self.port,
            "s2s_ports = { %d }" % self.s2sPort,
            "c2s_direct_tls_ports = { }",
            "s2s_direct_tls_ports = { }",
            "legacy_ssl_ports = { }",
            "use_ipv6 = false",
            "unbound = { forward = %s; resolvconf = false; hoststxt = false }"
            % quote("%s@%d" % (LOOPBACK, self.network.dns.port)),
            'modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping" }',
            'authentication = "internal_hashed"',
            'storage = "internal"',
            "c2s_require_encryption = true",
            "s2s_require_encryption = true",
            # Certificates must verify against the test CA (RFC 6120 §13.7.2).
            "s2s_secure_auth = true",
            "ssl = { cafile = %s }" % ca,
            "VirtualHost %s" % quote(self.domain),
            "  ssl = { certificate = %s; key = %s; cafile = %s }"
            % (quote(self.certPath), quote(self.keyPath), ca),
            "",
        ])

    async def start(self, timeout=30):
        self._spawn([self.prosody, "--config", self.config, "-F"])
        await self._waitFor(self._listening, "c2s and s2s listeners", timeout)

    async def _listening(self):
        log = _tail(self.log, 10000)
        if "Failed to open server port" in log:
            raise PeerError("prosody could not listen:\n" + log)
        return all("Activated service '%s' on [127.0.0.1]:%d" % (service, port) in log
                   for service, port in (("c2s", self.port), ("s2s", self.s2sPort)))

    async def addUser(self, jid, password):
        localpart, _, domain = jid.partition("@")
        assert domain == self.domain, jid
        await self._run([self.prosodyctl, "--config", self.config,
                         "register", localpart, domain, password])

    def logText(self):
        return _tail(self.log) + _tail(os.path.join(self.directory, "output.log"))


class EjabberdPeer(_Peer):
    """
    ejabberd 23.01 serving C{domain}: C{ejabberdctl foreground} with a
    private config directory (C{--config-dir}, which also holds the
    Erlang resolver's C{inetrc}), logs and Mnesia spool.

    Erlang distribution (which C{ejabberdctl register} needs) uses a fixed
    free port (C{ERL_DIST_PORT}) instead of epmd, so no daemon outlives the
    test, and a random cookie and node name so that nothing else can talk
    to the node.

    Its certificate has no XmppAddr identifier, and a peer's must not
    either: ejabberd 23.01 (p1_xmpp 1.6.1) crashes the s2s stream while
    reading one (badarg in C{xmpp_stream_pkix:get_cert_domains}).

    Debian's C{ejabberdctl} runs only as root (then it runs
    the server as the C{ejabberd} user, so the peer's directory is given to
    that user) or as the C{ejabberd} user.
    """

    program = "ejabberd"

    def __init__(self, network, domain):
        self.ejabberdctl = _program("ejabberdctl")
        user = os.getuid()
        try:
            self.account = pwd.getpwnam("ejabberd")
        except KeyError:
            raise SkipTest("ejabberd is not installed properly: no ejabberd user")
        if user not in (0, self.account.pw_uid):
            raise SkipTest("Debian's ejabberdctl runs only as root or the ejabberd user")
        _Peer.__init__(self, network, domain)
        self.configDir = os.path.join(self.directory, "config")
        self.logsDir = os.path.join(self.directory, "logs")
        self.spoolDir = os.path.join(self.directory, "spool")
        for directory in (self.configDir, self.logsDir, self.spoolDir):
            os.makedirs(directory, exist_ok=True)
        self.distPort = freePort()
        self.node = "ejabberd-%s@localhost" % (secrets.token_hex(4),)
        self.log = os.path.join(self.logsDir, "ejabberd.log")
        self.pidPath = os.path.join(self.spoolDir, "ejabberd.pid")
        self._writeConfig()
        if user == 0:
            self._handOver()

    def _handOver(self):
        """
        Give the peer's directory to the ejabberd user, and let that user
        pass through (not list) the test's temporary directories above it,
        which trial creates private.
        """
        for root, directories, files in os.walk(self.directory):
            for name in [root] + [os.path.join(root, n) for n in directories + files]:
                os.chown(name, self.account.pw_uid, self.account.pw_gid)
        top = os.getcwd()
        parent = os.path.dirname(self.directory)
        while parent.startswith(top + os.sep):
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IXOTH)
            parent = os.path.dirname(parent)

    def _writeConfig(self):
        # Own copies of the certificate and key: the ejabberd user must be
        # able to read them.
        certfile = os.path.join(self.configDir, "server.pem")
        with open(certfile, "w") as out:
            for path in (self.certPath, self.keyPath):
                with open(path) as f:
                    out.write(f.read())
        os.chmod(certfile, 0o600)
        cafile = os.path.join(self.configDir, "ca.crt")
        shutil.copyfile(self.network.ca.caPath, cafile)
        with open(os.path.join(self.configDir, "ejabberd.yml"), "w") as f:
            f.write(_EJABBERD_YML % {
                "domain": self.domain, "certfile": certfile, "cafile": cafile,
                "c2s": self.port, "s2s": self.s2sPort})
        with open(os.path.join(self.configDir, "ejabberdctl.cfg"), "w") as f:
            f.write(
                "ERLANG_NODE=%s\n"
                "ERL_DIST_PORT=%d\n"
                'ERL_OPTIONS="-setcookie %s -kernel inet_dist_use_interface {127,0,0,1}'
                ' -env ERL_CRASH_DUMP_BYTES 0"\n'
                "EJABBERD_PID_PATH=%s\n"
                "CONTRIB_MODULES_PATH=%s\n"
                "CONTRIB_MODULES_CONF_DIR=%s\n"
                "EJABBERD_BYPASS_WARNINGS=true\n" % (
                    self.node, self.distPort, secrets.token_hex(16),
                    self.pidPath,
                    os.path.join(self.spoolDir, "modules"),
                    os.path.join(self.configDir, "modules.d")))
        with open(os.path.join(self.configDir, "inetrc"), "w") as f:
            f.write(
                "{lookup, [file, dns]}.\n"
                "{host, {127,0,0,1}, [\"localhost\", \"%s\"]}.\n"
                "{hosts_file, \"\"}.\n"
                "{resolv_conf, \"\"}.\n"
                "{nameserver, {127,0,0,1}, %d}.\n"
                "{cache_size, 0}.\n" % (socket.gethostname(), self.network.dns.port))

    def _ctl(self, *args):
        return [self.ejabberdctl, "--config-dir", self.configDir, "--logs", self.logsDir,
                "--spool", self.spoolDir] + list(args)

    async def start(self, timeout=60):
        self._spawn(self._ctl("foreground"))
        await self._waitFor(self._started, "c2s and s2s listeners", timeout)

    async def _started(self):
        return os.path.exists(self.pidPath) and await self._portsOpen()

    def _serverProcess(self):
        """
        The Erlang VM, from ejabberd's pid file, or (if it died before
        writing one) by its node name, which is random and unique.
        """
        try:
            with open(self.pidPath) as f:
                return _ForeignProcess(int(f.read().strip()), self.node)
        except (OSError, ValueError):
            pass
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                candidate = _ForeignProcess(int(entry), "-sname\0%s\0" % (self.node,))
                if candidate.alive():
                    return _ForeignProcess(candidate.pid, self.node)
        return None

    async def addUser(self, jid, password):
        localpart, _, domain = jid.partition("@")
        assert domain == self.domain, jid
        await self._run(self._ctl("register", localpart, domain, password))

    def logText(self):
        return (_tail(self.log) + _tail(os.path.join(self.logsDir, "error.log"))
                + _tail(os.path.join(self.directory, "output.log")))


_EJABBERD_YML = """\
# A test peer: private paths, loopback only, DNS from the test (inetrc).
hosts:
  - "%(domain)s"
loglevel: info
log_rotate_count: 0
certfiles:
  - "%(certfile)s"
ca_file: "%(cafile)s"
s2s_cafile: "%(cafile)s"
s2s_use_starttls: required
outgoing_s2s_families:
  - ipv4
s2s_dns_timeout: 5
s2s_dns_retries: 1
auth_method: internal
auth_password_format: scram
listen:
  -
    port: %(c2s)d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
  -
    port: %(s2s)d
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
shaper_rules:
  c2s_shaper: none
  s2s_shaper: none
modules:
  mod_admin_extra: {}
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_offline: {}
  mod_s2s_dialback: {}
  mod_stream_mgmt: {}
"""


class PeerNetwork:
    """
    The peers of one test (or one module, see L{SharedPeers}): a test CA
    for their certificates, a L{StaticDNS} for their addresses, and the
    servers themselves.

    @ivar ca: the L{TestCA}; xmppframe's C{[s2s] ca_file} is
        C{ca.caPath}, its certificate comes from C{ca.issue([domain])}
        (with C{xmppAddr=False} for ejabberd, see L{EjabberdPeer}).
    @ivar dns: the L{StaticDNS}; C{dns.setService(domain, port)} routes
        the peers to a domain served elsewhere (xmppframe's s2s port).
    """

    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.ca = TestCA(os.path.join(self.directory, "ca"))
        self.dns = StaticDNS()
        self.peers = []

    def prosody(self, domain="prosody.example"):
        """
        A L{ProsodyPeer} for C{domain}, not started yet.
        """
        return self._add(ProsodyPeer(self, domain))

    def ejabberd(self, domain="ejabberd.example"):
        """
        An L{EjabberdPeer} for C{domain}, not started yet.
        """
        return self._add(EjabberdPeer(self, domain))

    def _add(self, peer):
        self.peers.append(peer)
        return peer

    def route(self, domain, s2sPort):
        """
        Make the peers reach C{domain} at C{127.0.0.1:s2sPort}.
        """
        self.dns.setService(domain, s2sPort)

    async def start(self):
        """
        Start every peer not running yet, all at once.
        """
        await asyncio.gather(*[peer.start() for peer in self.peers if peer.process is None])

    def stop(self):
        for peer in self.peers:
            peer.stop()
        self.dns.stop()


def startPeers(testCase):
    """
    A new L{PeerNetwork} in C{testCase}'s temporary directory, stopped by
    its cleanup.
    """
    network = PeerNetwork(testCase.mktemp())
    testCase.addCleanup(network.stop)
    return network


class SharedPeers:
    """
    Peers started once and shared by the tests of a module, because
    ejabberd takes seconds to start: trial has no class- or module-level
    fixtures that can wait for asynchronous set-up, so the first test that
    asks starts them (in its own temporary directory) and they run until
    the test process exits (C{atexit}).  Tests sharing peers use distinct
    account names, since accounts and rosters persist.
    """

    def __init__(self, kinds=("prosody", "ejabberd")):
        self.kinds = kinds
        self.network = None
        self._starting = None
        self._failure = None

    async def get(self, testCase):
        """
        The running L{PeerNetwork}; a test skipped or failed for a missing
        program or a peer that did not start says so every time.
        """
        if self._failure is not None:
            raise self._failure
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start(testCase))
        try:
            return await asyncio.shield(self._starting)
        except BaseException as e:
            self._failure = e
            raise

    async def _start(self, testCase):
        directory = os.path.abspath(testCase.mktemp())
        network = PeerNetwork(directory)
        atexit.register(network.stop)
        try:
            for kind in self.kinds:
                getattr(network, kind)()
            self.network = network
            await network.start()
        except BaseException:
            network.stop()
            raise
        return network
