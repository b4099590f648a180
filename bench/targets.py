"""
The servers under test: xmppframe (run by twistd, as an operator runs
it) and, for comparison, Debian's Prosody, each with a private
configuration and data directory in a temporary directory, listening on
loopback only, with plaintext client streams allowed and nothing
archived.

Accounts (and, for the presence scenario, rosters) are written straight
into each server's storage before it starts: creating thousands of
accounts through the admin commands would take longer than the
benchmarks.  Every account has the same password and the same SCRAM
credentials, salt included (PBKDF2 with 4096 iterations, the least
RFC 5802 §5.1 allows, computed once): a repeated salt would be wrong on a
real server, and costs nothing in a benchmark, where it lets the load
generator cache its own PBKDF2 result too.

Run as a program it provisions an xmppframe database (that step needs
the xmppframe package and a reactor, which the orchestrator keeps out of
its own process so that it can fork clean workers)::

    python targets.py provision DB DOMAIN COUNT PASSWORD CONTACTS
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import time

__all__ = ["XmppframeTarget", "ProsodyTarget", "ProcessSample", "sampleProcess",
           "userName", "rosterContacts", "freePort"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWISTD = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
TICKS = os.sysconf("SC_CLK_TCK")
ITERATIONS = 4096
#: The one salt of every benchmark account (see the module docstring).
SALT = b"xmppframe-bench-salt"


def userName(index):
    return "u%d" % (index,)


def rosterContacts(index, count, contacts):
    """
    The roster of user C{index}: users form cliques of C{contacts + 1},
    each member subscribed both ways to every other, so each has exactly
    C{contacts} contacts.  Users past the last whole clique have none.
    """
    if not contacts:
        return []
    size = contacts + 1
    first = index - index % size
    if first + size > count:
        return []
    return [other for other in range(first, first + size) if other != index]


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcessSample:
    """
    A process's CPU time (user + system, all threads) in seconds and its
    resident memory in KiB, read from C{/proc}.  The kernel's share
    (C{system}) is kept apart because much of it (accepting connections,
    socket writes) is the same work for every server.
    """

    def __init__(self, cpu, rssKiB, system=0.0):
        self.cpu = cpu
        self.rssKiB = rssKiB
        self.system = system


def sampleProcess(pid):
    with open("/proc/%d/stat" % (pid,)) as f:
        # The command name (field 2) may hold spaces: split after it.
        fields = f.read().rsplit(")", 1)[1].split()
    system = int(fields[12]) / TICKS  # stime (field 15)
    cpu = int(fields[11]) / TICKS + system  # plus utime (field 14)
    rss = 0
    with open("/proc/%d/status" % (pid,)) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
    return ProcessSample(cpu, rss, system)


def _waitListening(process, port, logText, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited:\n" + logText())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not listen on %d:\n%s" % (port, logText()))


def _raiseFileLimit():
    """
    Let the server under test hold as many connections as the system
    allows it (run in the child before exec).
    """
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _Target:
    name = None
    domain = "localhost"

    def __init__(self, directory, count, password, contacts=0):
        self.directory = directory
        self.count = count
        self.password = password
        self.contacts = contacts
        self.port = freePort()
        self.tlsPort = freePort()
        self.process = None
        os.makedirs(directory, exist_ok=True)

    @property
    def pid(self):
        return self.process.pid

    def sample(self):
        return sampleProcess(self.pid)

    def logText(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-5000:]
        except OSError:
            return ""

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def errorsInLog(self):
        return [line for line in self.logText().splitlines()
                if "Traceback" in line or "[error]" in line.lower() or "\terror\t" in line]


class XmppframeTarget(_Target):
    """
    C{twistd -n xmppframe --config FILE}: SQLite storage, every default
    module but MAM (no archiving), server pings off, plaintext SCRAM
    allowed (C{require_encryption = false}); PLAIN only on the Direct TLS
    listener, where the server offers it.
    """

    name = "xmppframe"

    def __init__(self, directory, count, password, contacts=0):
        _Target.__init__(self, directory, count, password, contacts)
        self.config = os.path.join(directory, "xmppframe.toml")
        self.log = os.path.join(directory, "twistd.log")
        self.database = os.path.join(directory, "data", "xmppframe.sqlite")
        #: What goes before the server's command line (valgrind, for
        #: instruction counts: see instructions.py).
        self.commandPrefix = []

    def writeConfig(self):
        sys.path.insert(0, ROOT)
        try:
            import dataclasses

            from xmppframe.config import DEFAULT_MODULES, C2SConfig, Config
        finally:
            sys.path.remove(ROOT)
        modules = [m for m in DEFAULT_MODULES if m != "mam"]
        sections = {f.name for f in dataclasses.fields(Config)}
        # The generator sends as fast as the server reads: measure the
        # server's cost, not its flood limit (Prosody limits nothing by
        # default either).  Older commits have no such setting.
        fields = {f.name for f in dataclasses.fields(C2SConfig)}
        unshaped = "read_rate = 0\n" if "read_rate" in fields else ""
        # As auth_timeout: a load run may hold connections a long time
        # before they log in.  Older commits have no such setting.
        if "header_timeout" in fields:
            unshaped += "header_timeout = 600.0\n"
        with open(self.config, "w") as f:
            f.write('data_dir = "data"\n')
            if "s2s" in sections:
                # No server-to-server listener: nothing here federates.
                f.write("[s2s]\nlisten = []\n")
            f.write(
                "[c2s]\n"
                'listen = ["tcp:%d:interface=127.0.0.1:backlog=1024"]\n'
                'listen_tls = ["tcp:%d:interface=127.0.0.1:backlog=1024"]\n'
                "require_encryption = false\n"
                "auth_timeout = 600.0\n"
                "%s"
                '[hosts."%s"]\n'
                "modules = %s\n"
                '[hosts."%s".options.ping]\n'
                "interval = 0.0\n"
                % (self.port, self.tlsPort, unshaped, self.domain, json.dumps(modules),
                   self.domain))

    def provision(self):
        env = dict(os.environ, PYTHONPATH=ROOT)
        subprocess.run(
            [sys.executable, os.path.abspath(__file__), "provision", self.database,
             self.domain, str(self.count), self.password, str(self.contacts)],
            check=True, env=env, timeout=600)

    def start(self):
        self.writeConfig()
        self.provision()
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.process = subprocess.Popen(
            self.commandPrefix + [
                sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile", self.log,
                "xmppframe", "--config", self.config],
            cwd=self.directory, env=env, stdin=subprocess.DEVNULL,
            preexec_fn=_raiseFileLimit)
        _waitListening(self.process, self.port, self.logText)


def _provisionXmppframe(database, domain, count, password, contacts):
    """
    Write C{count} accounts (and their cliques' rosters) into a new
    xmppframe SQLite database, through the driver's own transaction API
    and value encoding, in one transaction.
    """
    from twisted.internet import defer, task

    from xmppframe.auth import ACCOUNTS_STORE, HASHES, deriveScramCredentials, preparePassword
    from xmppframe.storage import encodeValue
    from xmppframe.storage.sqlite import SQLiteStorage

    prepared = preparePassword(password)
    scram = {}
    for hashName in HASHES:
        credentials = deriveScramCredentials(hashName, prepared, SALT, ITERATIONS)
        scram[hashName] = {
            "salt": base64.b64encode(credentials.salt).decode("ascii"),
            "storedKey": base64.b64encode(credentials.storedKey).decode("ascii"),
            "serverKey": base64.b64encode(credentials.serverKey).decode("ascii"),
            "iterations": credentials.iterations}
    account = encodeValue({"scram": scram, "created": time.time()})
    contact = encodeValue({"name": None, "groups": [], "subscription": "both",
                           "ask": False, "approved": False, "ver": 1})

    def write(cursor):
        cursor.executemany(
            "INSERT OR REPLACE INTO kv (host, store, user, value) VALUES (?, ?, ?, ?)",
            ((domain, ACCOUNTS_STORE, userName(i), account) for i in range(count)))
        cursor.executemany(
            "INSERT OR REPLACE INTO map (host, store, user, key, value) VALUES (?, ?, ?, ?, ?)",
            ((domain, "roster", userName(i), "%s@%s" % (userName(j), domain), contact)
             for i in range(count) for j in rosterContacts(i, count, contacts)))

    async def main(reactor):
        storage = SQLiteStorage(database, reactor=reactor)
        await storage.open()
        try:
            await storage.runInteraction(write)
        finally:
            await storage.close()

    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))


class ProsodyTarget(_Target):
    """
    Debian's Prosody with a private configuration: internal storage,
    SCRAM-SHA-1 credentials with 4096 iterations, plaintext c2s allowed,
    PLAIN only over TLS (Direct TLS port), modules close to xmppframe's
    defaults without MAM, and Lua's generational garbage collector, which
    Prosody's documentation (advanced_gc) recommends on Lua 5.4 for
    lower CPU use.
    """

    name = "prosody"

    def __init__(self, directory, count, password, contacts=0):
        _Target.__init__(self, directory, count, password, contacts)
        self.config = os.path.join(directory, "prosody.cfg.lua")
        self.log = os.path.join(directory, "prosody.log")
        self.data = os.path.join(directory, "data")

    @staticmethod
    def available():
        return shutil.which("prosody") is not None

    def writeConfig(self):
        certificate = os.path.join(self.directory, "localhost.crt")
        key = os.path.join(self.directory, "localhost.key")
        if not os.path.exists(certificate):
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=%s" % (self.domain,), "-keyout", key, "-out", certificate],
                check=True, capture_output=True, timeout=60)
        with open(self.config, "w") as f:
            f.write(_PROSODY_CONFIG % {
                "directory": self.directory, "data": self.data, "log": self.log,
                "port": self.port, "tlsPort": self.tlsPort, "domain": self.domain,
                "certificate": certificate, "key": key, "iterations": ITERATIONS})

    def provision(self):
        """
        Write Prosody's internal storage files (the format
        C{prosodyctl adduser} writes): one account file and one roster
        file per user.
        """
        salted = hashlib.pbkdf2_hmac("sha1", self.password.encode("utf-8"), SALT, ITERATIONS)
        clientKey = hmac.digest(salted, b"Client Key", "sha1")
        storedKey = hashlib.sha1(clientKey).hexdigest()
        serverKey = hmac.digest(salted, b"Server Key", "sha1").hex()
        account = ('return {\n\t["iteration_count"] = %d;\n\t["salt"] = "%s";\n'
                   '\t["server_key"] = "%s";\n\t["stored_key"] = "%s";\n};\n'
                   % (ITERATIONS, SALT.decode("ascii"), serverKey, storedKey))
        hostDirectory = os.path.join(self.data, _prosodyEncode(self.domain))
        accounts = os.path.join(hostDirectory, "accounts")
        rosters = os.path.join(hostDirectory, "roster")
        os.makedirs(accounts, exist_ok=True)
        os.makedirs(rosters, exist_ok=True)
        for i in range(self.count):
            with open(os.path.join(accounts, userName(i) + ".dat"), "w") as f:
                f.write(account)
            contacts = rosterContacts(i, self.count, self.contacts)
            if contacts:
                with open(os.path.join(rosters, userName(i) + ".dat"), "w") as f:
                    f.write('return {\n\t[false] = {\n\t\t["version"] = 1;\n\t};\n')
                    for j in contacts:
                        f.write('\t["%s@%s"] = {\n\t\t["groups"] = {};\n'
                                '\t\t["subscription"] = "both";\n\t};\n'
                                % (userName(j), self.domain))
                    f.write("};\n")

    def start(self):
        self.writeConfig()
        self.provision()
        self.process = subprocess.Popen(
            ["prosody", "--config", self.config, "-F"],
            cwd=self.directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=_raiseFileLimit)
        _waitListening(self.process, self.port, self.logText)


def _prosodyEncode(name):
    """
    How Prosody's datamanager spells a host or user name as a file name.
    """
    return "".join(c if c.isalnum() else "%%%02x" % (ord(c),) for c in name)


_PROSODY_CONFIG = """
-- Written by xmppframe's bench/targets.py for one benchmark run.
run_as_root = true
daemonize = false
pidfile = "%(directory)s/prosody.pid"
data_path = "%(data)s"
plugin_paths = {}
log = { info = "%(log)s" }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { %(port)d }
c2s_direct_tls_ports = { %(tlsPort)d }
s2s_ports = {}
http_ports = {}
https_ports = {}
c2s_require_encryption = false
allow_unencrypted_plain_auth = false
authentication = "internal_hashed"
default_iteration_count = %(iterations)d
storage = "internal"
gc = { mode = "generational" }
limits = {}
modules_enabled = {
    "roster"; "saslauth"; "tls"; "disco"; "carbons"; "ping"; "blocklist";
    "vcard_legacy"; "private"; "version"; "time"; "csi_simple";
}
modules_disabled = { "s2s" }
certificates = "%(directory)s"
ssl = { certificate = "%(certificate)s"; key = "%(key)s"; }
VirtualHost "%(domain)s"
    ssl = { certificate = "%(certificate)s"; key = "%(key)s"; }
"""


if __name__ == "__main__":
    if len(sys.argv) != 7 or sys.argv[1] != "provision":
        sys.exit("usage: targets.py provision DB DOMAIN COUNT PASSWORD CONTACTS")
    _provisionXmppframe(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5],
                        int(sys.argv[6]))
