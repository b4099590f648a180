"""
Tests for L{xmppframe.config}: TOML into frozen, validated dataclasses, with
one-line errors that name the key.
"""

import dataclasses
import os
import tomllib

from twisted.trial import unittest

from xmppframe.config import (
    SASL_MECHANISMS, AuthConfig, C2SConfig, Config, ConfigError, HostConfig,
    RoutingConfig, StorageConfig, defaultConfig, loadConfig, parseConfig, ModuleOption, atLeast,
    validateModuleOptions, DEFAULT_MODULES)
from xmppframe.storage import DEFAULT_DRIVER, DRIVERS

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       os.pardir, "examples", "xmppframe.toml")


def settingPaths(cls, prefix=()):
    """
    Every key path of the schema below C{cls}, as tuples of keys; host
    settings are under the host "localhost".
    """
    paths = []
    for f in dataclasses.fields(cls):
        if "xmppframe.setting" not in f.metadata:
            continue
        kind = f.metadata["xmppframe.setting"].kind
        path = prefix + (f.name,)
        inner = getattr(kind, "cls", None) or getattr(getattr(kind, "section", None), "cls", None)
        if inner is HostConfig:
            paths.extend(settingPaths(HostConfig, path + ("localhost",)))
        elif inner is not None:
            paths.extend(settingPaths(inner, path))
        else:
            paths.append(path)
    return paths


class DefaultsTests(unittest.TestCase):

    def setUp(self):
        self.basedir = os.path.abspath(self.mktemp())
        self.config = defaultConfig(self.basedir)

    def test_paths(self):
        """
        Relative default paths are under the base directory and absolute;
        the database defaults to <data_dir>/xmppframe.sqlite.
        """
        self.assertIsNone(self.config.path)
        self.assertEqual(self.config.data_dir, os.path.join(self.basedir, "data"))
        self.assertEqual(self.config.storage,
                         StorageConfig(driver="sqlite", path=os.path.join(
                             self.basedir, "data", "xmppframe.sqlite")))

    def test_sections(self):
        self.assertEqual(self.config.auth, AuthConfig(
            scram_iterations=4096, failure_delay=1.0, failure_delay_max=30.0))
        self.assertEqual(self.config.c2s, C2SConfig(
            listen=("tcp6:5222:interface=\\:\\:",), listen_tls=("tcp6:5223:interface=\\:\\:",),
            require_encryption=True,
            max_stanza_size=262144, max_stanza_nodes=5000, max_attributes=64,
            max_attribute_size=16384, max_depth=64, auth_timeout=60.0, header_timeout=30.0,
            idle_timeout=0.0,
            close_grace=2.0, read_rate=32768, read_burst=262144, max_pending=8388608,
            mechanisms=SASL_MECHANISMS))

    def test_localhost(self):
        """
        With no hosts configured, "localhost" is served, with a generated
        certificate and the default modules.
        """
        self.assertEqual(self.config.hosts, (
            HostConfig(name="localhost", certificate=None, key=None, modules=DEFAULT_MODULES, options=()),))
        self.assertEqual(self.config.hostNames, ("localhost",))

    def test_noFile(self):
        """
        C{loadConfig(None)} is the defaults, relative to the current
        directory.
        """
        self.assertEqual(loadConfig(None), defaultConfig(os.getcwd()))

    def test_empty(self):
        self.assertEqual(parseConfig({}, self.basedir), self.config)

    def test_frozen(self):
        self.assertRaises(dataclasses.FrozenInstanceError,
                          setattr, self.config.c2s, "max_stanza_size", 1)
        self.assertIsInstance(self.config.c2s.listen, tuple)
        self.assertIsInstance(self.config.hosts[0].modules, tuple)


class ExampleTests(unittest.TestCase):
    """
    C{examples/xmppframe.toml} documents every key with its default.
    """

    def test_equalsDefaults(self):
        config = loadConfig(EXAMPLE)
        self.assertEqual(config.path, os.path.abspath(EXAMPLE))
        self.assertEqual(dataclasses.replace(config, path=None),
                         defaultConfig(os.path.dirname(EXAMPLE)))

    def test_everyKey(self):
        """
        Every setting is written out in the example, not left to default.
        """
        with open(EXAMPLE, "rb") as f:
            data = tomllib.load(f)
        paths = settingPaths(Config)
        self.assertIn(("c2s", "mechanisms"), paths)
        self.assertIn(("hosts", "localhost", "modules"), paths)
        for path in paths:
            table = data
            for key in path[:-1]:
                table = table[key]
            self.assertIn(path[-1], table, ".".join(path))

    def test_storageDrivers(self):
        """
        The example names every storage driver, as the driver list
        describes it.
        """
        with open(EXAMPLE, encoding="utf-8") as f:
            text = " ".join(line.lstrip("# ").rstrip() for line in f)
        for driver in DRIVERS.values():
            self.assertIn('"%s" (%s)' % (driver.name, driver.description), text)


class ValuesTests(unittest.TestCase):

    def setUp(self):
        self.basedir = os.path.abspath(self.mktemp())

    def parse(self, data):
        return parseConfig(data, self.basedir)

    def test_values(self):
        config = self.parse({
            "data_dir": "/var/lib/xmppframe",
            "storage": {"driver": "memory", "path": "db/x.sqlite"},
            "auth": {"scram_iterations": 10000, "failure_delay": 0, "failure_delay_max": 5},
            "c2s": {"listen": ["tcp:5222:interface=127.0.0.1"], "listen_tls": [],
                    "require_encryption": False, "max_stanza_size": 65536,
                    "auth_timeout": 10, "idle_timeout": 300.5, "close_grace": 0,
                    "read_rate": 0, "read_burst": 1000,
                    "mechanisms": ["PLAIN", "SCRAM-SHA-1"]},
            "hosts": {"example.org": {"modules": ["ping"]}},
        })
        self.assertEqual(config.data_dir, "/var/lib/xmppframe")
        self.assertEqual(config.storage, StorageConfig(
            driver="memory", path=os.path.join(self.basedir, "db", "x.sqlite")))
        self.assertEqual(config.auth, AuthConfig(10000, 0.0, 5.0))
        self.assertEqual(config.c2s, C2SConfig(
            listen=("tcp:5222:interface=127.0.0.1",), listen_tls=(),
            require_encryption=False, max_stanza_size=65536, max_stanza_nodes=5000,
            max_attributes=64, max_attribute_size=16384, max_depth=64, auth_timeout=10.0,
            header_timeout=30.0, idle_timeout=300.5, close_grace=0.0, read_rate=0, read_burst=1000,
            max_pending=8388608, mechanisms=("PLAIN", "SCRAM-SHA-1")))
        self.assertEqual(config.hosts, (HostConfig("example.org", None, None, ("ping",), ()),))

    def test_integersBecomeFloats(self):
        """
        A TOML integer is accepted where seconds are expected.
        """
        timeout = self.parse({"c2s": {"auth_timeout": 5}}).c2s.auth_timeout
        self.assertEqual(timeout, 5.0)
        self.assertIsInstance(timeout, float)

    def test_storagePathFollowsDataDir(self):
        config = self.parse({"data_dir": "state"})
        self.assertEqual(config.storage.path,
                         os.path.join(self.basedir, "state", "xmppframe.sqlite"))

    def test_certificatePaths(self):
        """
        Certificate and key paths are resolved against the base directory.
        """
        host = self.parse({"hosts": {"localhost": {
            "certificate": "tls/cert.pem", "key": "/etc/ssl/key.pem"}}}).hosts[0]
        self.assertEqual(host.certificate, os.path.join(self.basedir, "tls", "cert.pem"))
        self.assertEqual(host.key, "/etc/ssl/key.pem")

    def test_certificateWithoutKey(self):
        """
        A certificate without a key is allowed: the key is in the same file.
        """
        host = self.parse({"hosts": {"localhost": {"certificate": "both.pem"}}}).hosts[0]
        self.assertIsNone(host.key)

    def test_hostsInOrder(self):
        config = self.parse({"hosts": {"b.example": {}, "a.example": {}, "localhost": {}}})
        self.assertEqual(config.hostNames, ("b.example", "a.example", "localhost"))

    def test_hostNamesPrepared(self):
        """
        Host names are lowercased, and a final dot is stripped (RFC 7622
        §3.2).
        """
        config = self.parse({"hosts": {"Example.ORG.": {}}})
        self.assertEqual(config.hostNames, ("example.org",))

    def test_hostLookup(self):
        """
        L{Config.host} prepares the name it is given; unknown or invalid
        names give C{None}.
        """
        config = self.parse({"hosts": {"example.org": {}, "localhost": {}}})
        self.assertEqual(config.host("EXAMPLE.org").name, "example.org")
        self.assertEqual(config.host("localhost").name, "localhost")
        self.assertIsNone(config.host("example.com"))
        self.assertIsNone(config.host("not a domain"))
        self.assertIsNone(config.host(""))

    def test_emptyListeners(self):
        """
        A server may have no listener of one kind (Direct TLS only, say).
        """
        self.assertEqual(self.parse({"c2s": {"listen": []}}).c2s.listen, ())


class ErrorTests(unittest.TestCase):
    """
    Each problem is one line: "config error: KEY.PATH: what is wrong".
    """

    def assertError(self, data, message):
        e = self.assertRaises(ConfigError, parseConfig, data, "/srv")
        self.assertEqual(str(e), "config error: " + message)
        self.assertNotIn("\n", str(e))

    def test_wrongType(self):
        self.assertError({"c2s": {"max_stanza_size": "big"}},
                         "c2s.max_stanza_size: expected an integer, got 'big'")

    def test_unknownKey(self):
        self.assertError({"c2s": {"foo": 1}}, "c2s.foo: unknown key")
        self.assertError({"foo": 1}, "foo: unknown key")
        self.assertError({"hosts": {"localhost": {"module": []}}},
                         "hosts.localhost.module: unknown key (did you mean 'modules'?)")

    def test_suggestion(self):
        self.assertError({"c2s": {"max_stanza": 1}},
                         "c2s.max_stanza: unknown key (did you mean 'max_stanza_size'?)")

    def test_booleanIsNotInteger(self):
        self.assertError({"c2s": {"max_stanza_size": True}},
                         "c2s.max_stanza_size: expected an integer, got true")

    def test_floatIsNotInteger(self):
        self.assertError({"auth": {"scram_iterations": 4096.0}},
                         "auth.scram_iterations: expected an integer, got 4096.0")

    def test_integerIsNotBoolean(self):
        self.assertError({"c2s": {"require_encryption": 1}},
                         "c2s.require_encryption: expected true or false, got 1")

    def test_number(self):
        self.assertError({"c2s": {"auth_timeout": "soon"}},
                         "c2s.auth_timeout: expected a number, got 'soon'")
        self.assertError({"c2s": {"idle_timeout": float("inf")}},
                         "c2s.idle_timeout: must be a finite number, got inf")
        self.assertError({"auth": {"failure_delay": float("nan")}},
                         "auth.failure_delay: must be a finite number, got nan")

    def test_ranges(self):
        self.assertError({"c2s": {"max_stanza_size": 0}},
                         "c2s.max_stanza_size: must be greater than 0, got 0")
        self.assertError({"c2s": {"auth_timeout": 0}},
                         "c2s.auth_timeout: must be greater than 0, got 0.0")
        self.assertError({"c2s": {"idle_timeout": -1}},
                         "c2s.idle_timeout: must be at least 0, got -1.0")
        self.assertError({"c2s": {"close_grace": -0.5}},
                         "c2s.close_grace: must be at least 0, got -0.5")

    def test_scramIterations(self):
        """
        Fewer than 4096 iterations is refused (RFC 5802 §5.1, RFC 7677 §3).
        """
        self.assertError({"auth": {"scram_iterations": 4095}},
                         "auth.scram_iterations: must be at least 4096, got 4095")

    def test_failureDelays(self):
        self.assertError({"auth": {"failure_delay": 5, "failure_delay_max": 2}},
                         "auth.failure_delay_max: must not be less than failure_delay (5.0)")

    def test_driver(self):
        self.assertError({"storage": {"driver": "postgres"}},
                         "storage.driver: must be one of 'sqlite', 'memory', got 'postgres'")
        self.assertEqual(parseConfig({}, "/srv").storage.driver, DEFAULT_DRIVER)

    def test_section(self):
        self.assertError({"storage": "sqlite"}, "storage: expected a table, got 'sqlite'")
        self.assertError({"c2s": [1]}, "c2s: expected a table, got an array")

    def test_dataDir(self):
        self.assertError({"data_dir": ""}, "data_dir: must not be empty")
        self.assertError({"data_dir": 3}, "data_dir: expected a string, got 3")

    def test_listeners(self):
        self.assertError({"c2s": {"listen": "tcp:5222"}},
                         "c2s.listen: expected an array of strings, got 'tcp:5222'")
        self.assertError({"c2s": {"listen_tls": ["tcp:5223", 5224]}},
                         "c2s.listen_tls[1]: expected a string, got 5224")
        self.assertError({"c2s": {"listen": [" "]}}, "c2s.listen[0]: must not be empty")

    def test_mechanisms(self):
        self.assertError({"c2s": {"mechanisms": ["PLAIN", "DIGEST-MD5"]}},
                         "c2s.mechanisms: unknown SASL mechanism 'DIGEST-MD5' (known: "
                         + ", ".join(SASL_MECHANISMS) + ")")
        self.assertError({"c2s": {"mechanisms": []}},
                         "c2s.mechanisms: at least one SASL mechanism is required")
        self.assertError({"c2s": {"mechanisms": ["PLAIN", "PLAIN"]}},
                         "c2s.mechanisms: 'PLAIN' is listed twice")

    def test_hosts(self):
        self.assertError({"hosts": {}}, "hosts: at least one host is required")
        self.assertError({"hosts": ["localhost"]},
                         "hosts: expected a table of host tables, got an array")
        self.assertError({"hosts": {"localhost": True}},
                         "hosts.localhost: expected a table, got true")

    def test_hostName(self):
        e = self.assertRaises(ConfigError, parseConfig, {"hosts": {"no such.host": {}}}, "/srv")
        self.assertTrue(str(e).startswith(
            'config error: hosts."no such.host": not a valid domain name'), str(e))
        e = self.assertRaises(ConfigError, parseConfig, {"hosts": {"a@b": {}}}, "/srv")
        self.assertTrue(str(e).startswith('config error: hosts."a@b": '), str(e))
        e = self.assertRaises(ConfigError, parseConfig, {"hosts": {"a..b": {}}}, "/srv")
        self.assertTrue(str(e).startswith(
            'config error: hosts."a..b": not a valid domain name: '), str(e))
        self.assertEqual(str(e).count("not a valid domain name"), 1, str(e))
        e = self.assertRaises(ConfigError, parseConfig, {"hosts": {".": {}}}, "/srv")
        self.assertEqual(str(e), 'config error: hosts.".": not a valid domain name: '
                                 'domainpart is empty')

    def test_hostNamePrepared(self):
        """
        Host names are prepared as JID domainparts (RFC 7622 §3.2): case-
        and width-mapped, the final dot stripped, A-labels as U-labels,
        IPv6 literals in canonical form.
        """
        config = parseConfig({"hosts": {"B\u00dcCHER.Example.": {}, "xn--caf-dma.example": {},
                                        "[0:0::1]": {}}}, "/srv")
        self.assertEqual([host.name for host in config.hosts],
                         ["b\u00fccher.example", "caf\u00e9.example", "[::1]"])

    def test_duplicateHosts(self):
        """
        Two keys that prepare to the same domain are one host twice.
        """
        self.assertError({"hosts": {"example.org": {}, "EXAMPLE.org": {}}},
                         'hosts."EXAMPLE.org": the same host as "example.org"')

    def test_hostSettings(self):
        self.assertError({"hosts": {"example.org": {"modules": ["ping", 1]}}},
                         'hosts."example.org".modules[1]: expected a string, got 1')
        self.assertError({"hosts": {"localhost": {"modules": ["ping", "ping"]}}},
                         "hosts.localhost.modules: 'ping' is listed twice")
        self.assertError({"hosts": {"localhost": {"key": "key.pem"}}},
                         "hosts.localhost.key: is set but certificate is not")

    def test_notATable(self):
        self.assertError([], "expected a table, got an array")


class LoadTests(unittest.TestCase):

    def write(self, content):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "xmppframe.toml")
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_relativeToFile(self):
        """
        Relative paths are relative to the file's directory, not the
        current one.
        """
        path = self.write(b'data_dir = "state"\n[hosts."example.org"]\ncertificate = "c.pem"\n')
        config = loadConfig(path)
        directory = os.path.dirname(path)
        self.assertEqual(config.path, path)
        self.assertEqual(config.data_dir, os.path.join(directory, "state"))
        self.assertEqual(config.hosts[0].certificate, os.path.join(directory, "c.pem"))

    def test_missing(self):
        path = os.path.abspath("nonexistent.toml")
        e = self.assertRaises(ConfigError, loadConfig, path)
        self.assertEqual(str(e), "config error: %s: No such file or directory" % (path,))

    def test_syntaxError(self):
        """
        A TOML syntax error names the file and the line.
        """
        path = self.write(b'[c2s]\nmax_stanza_size = = 3\n')
        e = self.assertRaises(ConfigError, loadConfig, path)
        self.assertTrue(str(e).startswith("config error: %s: " % (path,)), str(e))
        self.assertIn("line 2", str(e))
        self.assertNotIn("\n", str(e))

    def test_notUTF8(self):
        path = self.write(b'data_dir = "\xff"\n')
        e = self.assertRaises(ConfigError, loadConfig, path)
        self.assertEqual(str(e), "config error: %s: not UTF-8 text (byte 12)" % (path,))

    def test_directory(self):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        e = self.assertRaises(ConfigError, loadConfig, directory)
        self.assertTrue(str(e).startswith("config error: %s: " % (directory,)), str(e))

    def test_invalidValue(self):
        path = self.write(b'[c2s]\nmax_stanza_size = "big"\n')
        e = self.assertRaises(ConfigError, loadConfig, path)
        self.assertEqual(
            str(e), "config error: c2s.max_stanza_size: expected an integer, got 'big'")


class ModuleOptionTests(unittest.TestCase):
    """
    Modules declare their options; C{[hosts.NAME.options.MODULE]} is
    checked against that schema with errors naming the key.
    """

    schema = {
        "open": ModuleOption("boolean", False),
        "limit": ModuleOption("integer", 10, atLeast(1)),
    }

    def parse(self, options, modules=("ping", "demo")):
        return parseConfig({"hosts": {"example.org": {
            "modules": list(modules), "options": options}}}, ".")

    def test_defaults(self):
        config = self.parse({})
        self.assertEqual(validateModuleOptions(config, "example.org", "demo", self.schema),
                         {"open": False, "limit": 10})

    def test_values(self):
        config = self.parse({"demo": {"open": True, "limit": 3}})
        self.assertEqual(validateModuleOptions(config, "example.org", "demo", self.schema),
                         {"open": True, "limit": 3})

    def test_wrongType(self):
        config = self.parse({"demo": {"limit": "many"}})
        e = self.assertRaises(ConfigError, validateModuleOptions, config, "example.org", "demo", self.schema)
        self.assertEqual(str(e), "config error: hosts.\"example.org\".options.demo.limit: "
                                 "expected an integer, got 'many'")

    def test_check(self):
        config = self.parse({"demo": {"limit": 0}})
        e = self.assertRaises(ConfigError, validateModuleOptions, config, "example.org", "demo", self.schema)
        self.assertIn("options.demo.limit", str(e))

    def test_unknownOption(self):
        config = self.parse({"demo": {"lmit": 3}})
        e = self.assertRaises(ConfigError, validateModuleOptions, config, "example.org", "demo", self.schema)
        self.assertIn("options.demo.lmit: unknown key (did you mean 'limit'?)", str(e))

    def test_optionsForModuleNotLoaded(self):
        e = self.assertRaises(ConfigError, self.parse, {"other": {}})
        self.assertIn("options", str(e))
        self.assertIn("'other'", str(e))


class RoutingTests(unittest.TestCase):
    """
    C{[routing] deliver_to_all_of_equal_priority}: the bare-JID delivery
    policy RFC 6121 §8.5.2.1.1 leaves to the server, and the router the
    server builds with it.
    """

    def setUp(self):
        self.basedir = os.path.abspath(self.mktemp())

    def test_default(self):
        """
        By default a message goes to every resource of the highest
        priority.
        """
        config = defaultConfig(self.basedir)
        self.assertEqual(config.routing, RoutingConfig(deliver_to_all_of_equal_priority=True))

    def test_value(self):
        config = parseConfig({"routing": {"deliver_to_all_of_equal_priority": False}},
                             self.basedir)
        self.assertFalse(config.routing.deliver_to_all_of_equal_priority)

    def test_wrongType(self):
        e = self.assertRaises(ConfigError, parseConfig,
                              {"routing": {"deliver_to_all_of_equal_priority": "yes"}},
                              self.basedir)
        self.assertEqual(str(e), "config error: routing.deliver_to_all_of_equal_priority: "
                                 "expected true or false, got 'yes'")

    def test_unknownKey(self):
        e = self.assertRaises(ConfigError, parseConfig,
                              {"routing": {"deliver_to_all": False}}, self.basedir)
        self.assertIn("routing.deliver_to_all: unknown key", str(e))

    def deliveries(self, allOfEqualPriority):
        """
        Build a server with the setting, bind two resources of bob of equal
        priority, send a chat message to his bare JID, and return how many
        of them got it.
        """
        from twisted.internet import task

        from xmppframe.server import Server
        from xmppframe.storage.memory import MemoryStorage
        from tests.fakes import FakeSession, parse

        config = parseConfig({
            "routing": {"deliver_to_all_of_equal_priority": allOfEqualPriority},
            "hosts": {"example.org": {"modules": ["ping"]}},
        }, self.basedir)
        server = Server(config, task.Clock(), storage=MemoryStorage())
        host = server.hosts["example.org"]
        bobs = []
        for resource in ("phone", "laptop"):
            bob = FakeSession("bob@example.org", host=host, available=True,
                              manager=server.sessions)
            server.sessions.bind(bob, resource)
            bobs.append(bob)
        alice = FakeSession("alice@example.org", host=host, available=True,
                            manager=server.sessions)
        server.sessions.bind(alice, "home")
        server.router.process(alice, parse(
            "<message to='bob@example.org' type='chat'><body>Hi</body></message>"))
        return [len(bob.sent) for bob in bobs]

    def test_serverDeliversToAll(self):
        self.assertEqual(self.deliveries(True), [1, 1])

    def test_serverDeliversToOne(self):
        """
        With the setting off, the most recently bound resource gets it.
        """
        self.assertEqual(self.deliveries(False), [0, 1])


class S2SConfigTests(unittest.TestCase):
    """
    C{[s2s]}: federation settings and static routes.
    """

    def setUp(self):
        self.basedir = os.path.abspath(self.mktemp())
        os.makedirs(self.basedir)

    def parse(self, s2s):
        return parseConfig({"s2s": s2s}, self.basedir)

    def assertProblem(self, s2s, message):
        with self.assertRaises(ConfigError) as caught:
            self.parse(s2s)
        self.assertEqual(str(caught.exception), "config error: " + message)

    def test_defaults(self):
        s2s = self.parse({}).s2s
        self.assertEqual(s2s.listen, ("tcp6:5269:interface=\\:\\:",))
        self.assertEqual(s2s.listen_tls, ())
        self.assertTrue(s2s.enabled)
        self.assertFalse(s2s.listen_optional)
        self.assertTrue(s2s.require_encryption)
        self.assertTrue(s2s.verify_certificates)
        self.assertIsNone(s2s.ca_file)
        self.assertTrue(s2s.dialback)
        self.assertEqual(s2s.dialback_secret, "")
        self.assertEqual((s2s.connect_timeout, s2s.idle_timeout, s2s.queue_size),
                         (30.0, 600.0, 1000))
        self.assertEqual(s2s.routes, ())

    def test_routes(self):
        """
        Route domains are prepared like host names; the lookup is exact.
        """
        s2s = self.parse({"routes": {"B.Test": "tcp:host=127.0.0.1:port=5270"}}).s2s
        self.assertEqual(s2s.routes, (("b.test", "tcp:host=127.0.0.1:port=5270"),))
        self.assertEqual(s2s.route("b.test"), "tcp:host=127.0.0.1:port=5270")
        self.assertIsNone(s2s.route("c.test"))

    def test_directTLSRoute(self):
        """
        A C{tls:} route (Direct TLS, XEP-0368) takes C{tcp:}'s arguments
        and is kept as written; Twisted's own C{tls:} options are refused.
        """
        s2s = self.parse({"routes": {"b.test": "tls:host=127.0.0.1:port=5270"}}).s2s
        self.assertEqual(s2s.route("b.test"), "tls:host=127.0.0.1:port=5270")
        with self.assertRaises(ConfigError) as caught:
            self.parse({"routes": {"b.test": "tls:host=h:port=1:trustRoots=/x"}})
        self.assertIn('s2s.routes."b.test": not a client endpoint description',
                      str(caught.exception))

    def test_caFile(self):
        path = os.path.join(self.basedir, "ca.pem")
        open(path, "w").close()
        self.assertEqual(self.parse({"ca_file": "ca.pem"}).s2s.ca_file, path)

    def test_errors(self):
        self.assertProblem({"routes": {"b.test": "bogus:x"}},
                           "s2s.routes.\"b.test\": not a client endpoint description "
                           "(Unknown endpoint type: 'bogus'): 'bogus:x'")
        self.assertProblem({"routes": {"b.test": 5}},
                           "s2s.routes.\"b.test\": expected an endpoint description such as "
                           "\"tcp:host=192.0.2.1:port=5269\", got 5")
        with self.assertRaises(ConfigError) as caught:
            self.parse({"routes": {"a..b": "tcp:host=h:port=1"}})
        self.assertTrue(str(caught.exception).startswith(
            'config error: s2s.routes."a..b": not a valid domain name'))
        self.assertProblem({"queue_size": 0}, "s2s.queue_size: must be greater than 0, got 0")
        self.assertProblem({"connect_timeout": -1},
                           "s2s.connect_timeout: must be greater than 0, got -1.0")
        self.assertProblem({"dialback": "yes"}, "s2s.dialback: expected true or false, got 'yes'")
        self.assertProblem({"ca_file": "missing.pem"},
                           "s2s.ca_file: no such file: %s"
                           % (os.path.join(self.basedir, "missing.pem"),))
        self.assertProblem({"listne": []}, "s2s.listne: unknown key (did you mean 'listen'?)")
