"""
Tests for L{xmppframe.cli}, the C{xmppframe} admin command.

Commands run in-process through L{cli.run} on trial's reactor, with a
configuration in a temporary directory and SQLite storage, so that what one
invocation writes the next one reads.  C{main} itself owns the reactor, so
it is run as a child process (C{python -m xmppframe.cli}).
"""

import io
import os
import stat
import sys

from twisted.internet import defer, reactor, utils
from twisted.trial import unittest

import xmppframe
from xmppframe import cli, configpath
from xmppframe.cli import Console, main, run


def _missing(*modules):
    """
    A skip reason if one of C{modules} cannot be imported yet.
    """
    for name in modules:
        try:
            __import__(name)
        except ImportError as e:
            return "%s is not available: %s" % (name, e)
    return None


ACCOUNTS_SKIP = _missing("xmppframe.jid", "xmppframe.auth", "xmppframe.storage")
CERT_SKIP = _missing("xmppframe.streams.tls")

CONFIG = """\
data_dir = "state"
[storage]
driver = "%(driver)s"
[hosts."localhost"]
[hosts."example.org"]
[hosts."secure.example"]
certificate = "secure.pem"
"""


#: The real search list, before tests patch it.
CONFIG_LOCATIONS = configpath.CONFIG_LOCATIONS


def isolateConfigSearch(case):
    """
    Keep the machine's configuration out of C{case}: no C{XMPPFRAME_CONFIG}
    in the environment, and a system-wide file under the test's own
    directory (C{case.systemConfig}, absent until a test writes it).
    """
    saved = os.environ.pop(configpath.CONFIG_ENVIRONMENT, None)
    if saved is not None:
        case.addCleanup(os.environ.__setitem__, configpath.CONFIG_ENVIRONMENT, saved)
    case.systemConfig = os.path.join(os.path.abspath(case.mktemp()), "xmppframe.toml")
    case.patch(configpath, "CONFIG_LOCATIONS",
               (configpath.CONFIG_LOCATIONS[0], case.systemConfig))


class FakeTerminal(io.StringIO):
    """
    Standard input that claims to be a terminal.
    """

    def isatty(self):
        return True


class CommandTestCase(unittest.TestCase):
    """
    Runs commands against a configuration file in a fresh directory.
    """

    driver = "sqlite"

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.configPath = self.writeConfig(CONFIG % {"driver": self.driver})
        isolateConfigSearch(self)

    def writeConfig(self, text, name="xmppframe.toml"):
        path = os.path.join(self.directory, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    async def xmppframe(self, *argv, stdin="", console=None, config=True):
        """
        Run the command line C{argv}.

        @return: C{(status, stdout, stderr)}.
        """
        if console is None:
            console = Console(io.StringIO(stdin), io.StringIO(), io.StringIO())
        if config:
            argv = ("--config", self.configPath) + argv
        status = await run(list(argv), reactor, console)
        return status, console.stdout.getvalue(), console.stderr.getvalue()

    def assertFails(self, result, error, status=1):
        """
        C{result} is a failure with exactly the one line C{error}.
        """
        self.assertEqual(result, (status, "", error + "\n"))


class UserTests(CommandTestCase):

    skip = ACCOUNTS_SKIP

    def setUp(self):
        CommandTestCase.setUp(self)
        return self.xmppframe("storage", "init").addCallback(
            lambda result: self.assertEqual(result[0], 0, result))

    def xmppframe(self, *argv, **kwargs):
        return defer.ensureDeferred(CommandTestCase.xmppframe(self, *argv, **kwargs))

    async def test_lifecycle(self):
        """
        add, list, passwd, delete, with SQLite keeping the accounts between
        invocations.
        """
        result = await self.xmppframe("user", "add", "alice@localhost", stdin="wonderland\n")
        self.assertEqual(result, (0, "created alice@localhost\n", ""))
        result = await self.xmppframe("user", "add", "bob@example.org", stdin="rabbithole")
        self.assertEqual(result, (0, "created bob@example.org\n", ""))
        result = await self.xmppframe("user", "add", "carol@localhost",
                                      stdin="queen-of-hearts\nignored\n")
        self.assertEqual(result[0], 0)

        self.assertEqual(await self.xmppframe("user", "list"),
                         (0, "alice@localhost\ncarol@localhost\nbob@example.org\n", ""))
        self.assertEqual(await self.xmppframe("user", "list", "example.org"),
                         (0, "bob@example.org\n", ""))
        self.assertEqual(await self.xmppframe("user", "list", "secure.example"), (0, "", ""))

        result = await self.xmppframe("user", "passwd", "alice@localhost", stdin="looking-glass\n")
        self.assertEqual(result, (0, "changed the password of alice@localhost\n", ""))
        self.assertTrue(await self.checkPassword("localhost", "alice", "looking-glass"))
        self.assertFalse(await self.checkPassword("localhost", "alice", "wonderland"))

        result = await self.xmppframe("user", "delete", "alice@localhost")
        self.assertEqual(result, (0, "deleted alice@localhost\n", ""))
        self.assertEqual(await self.xmppframe("user", "list", "localhost"),
                         (0, "carol@localhost\n", ""))

    async def checkPassword(self, host, username, password):
        from xmppframe.auth import StorageAuthProvider
        from xmppframe.config import loadConfig
        from xmppframe.storage import storageFromConfig
        config = loadConfig(self.configPath)
        storage = storageFromConfig(config.storage.driver, config.storage.path, reactor=reactor)
        await storage.open()
        try:
            auth = StorageAuthProvider(storage, host, reactor=reactor)
            return await auth.checkPassword(username, password)
        finally:
            await storage.close()

    async def test_databaseInDataDir(self):
        await self.xmppframe("user", "add", "alice@localhost", stdin="wonderland\n")
        self.assertTrue(os.path.exists(
            os.path.join(self.directory, "state", "xmppframe.sqlite")))

    async def test_jidPrepared(self):
        """
        The account JID is prepared (RFC 7622): case does not make another
        account.
        """
        result = await self.xmppframe("user", "add", "Alice@LocalHost", stdin="wonderland\n")
        self.assertEqual(result, (0, "created alice@localhost\n", ""))
        result = await self.xmppframe("user", "add", "alice@localhost", stdin="other-password\n")
        self.assertFails(result, "error: the account alice@localhost already exists")

    async def test_addExisting(self):
        await self.xmppframe("user", "add", "alice@localhost", stdin="wonderland\n")
        result = await self.xmppframe("user", "add", "alice@localhost", stdin="again-password\n")
        self.assertFails(result, "error: the account alice@localhost already exists")

    async def test_noSuchAccount(self):
        result = await self.xmppframe("user", "passwd", "nobody@localhost", stdin="password\n")
        self.assertFails(result, "error: no such account: nobody@localhost")
        result = await self.xmppframe("user", "delete", "nobody@localhost")
        self.assertFails(result, "error: no such account: nobody@localhost")

    async def test_unknownHost(self):
        expected = ("error: unknown host 'elsewhere.example' (configured: localhost, "
                    "example.org, secure.example)")
        result = await self.xmppframe("user", "add", "alice@elsewhere.example", stdin="password\n")
        self.assertFails(result, expected)
        self.assertFails(await self.xmppframe("user", "list", "elsewhere.example"), expected)

    async def test_invalidJID(self):
        """
        A JID that RFC 7622 refuses is an error naming it.
        """
        status, out, err = await self.xmppframe("user", "add", "a@b@localhost", stdin="password\n")
        self.assertEqual((status, out), (1, ""))
        self.assertTrue(err.startswith("error: invalid JID 'a@b@localhost': "), err)
        self.assertEqual(err.count("\n"), 1)

    async def test_notAnAccount(self):
        """
        A domain alone, or a full JID, is not an account.
        """
        for text in ("localhost", "alice@localhost/phone"):
            result = await self.xmppframe("user", "delete", text)
            self.assertFails(result, "error: expected an account JID, user@host, got %r" % (text,))

    async def test_noPassword(self):
        result = await self.xmppframe("user", "add", "alice@localhost", stdin="")
        self.assertFails(result, "error: no password on standard input")
        result = await self.xmppframe("user", "add", "alice@localhost", stdin="\n")
        self.assertFails(result, "error: empty password")
        self.assertEqual(await self.xmppframe("user", "list"), (0, "", ""))

    async def test_terminalPassword(self):
        """
        On a terminal the password is typed twice, without echo.
        """
        prompts = []

        def getpass(prompt):
            prompts.append(prompt)
            return "wonderland"

        console = Console(FakeTerminal(), io.StringIO(), io.StringIO(), getpass=getpass)
        result = await self.xmppframe("user", "add", "alice@localhost", console=console)
        self.assertEqual(result, (0, "created alice@localhost\n", ""))
        self.assertEqual(len(prompts), 2)
        self.assertIn("alice@localhost", prompts[0])
        self.assertTrue(await self.checkPassword("localhost", "alice", "wonderland"))

    async def test_terminalPasswordMismatch(self):
        answers = iter(["wonderland", "wonderlnad"])
        console = Console(FakeTerminal(), io.StringIO(), io.StringIO(),
                          getpass=lambda prompt: next(answers))
        result = await self.xmppframe("user", "add", "alice@localhost", console=console)
        self.assertFails(result, "error: the passwords do not match")


class PasswordPolicyTests(CommandTestCase):
    """
    The admin command refuses passwords shorter than the host's
    registration minimum, the register module's C{min_password_length},
    unless C{--force}.
    """

    skip = ACCOUNTS_SKIP

    def setUp(self):
        CommandTestCase.setUp(self)
        self.writeConfig(CONFIG % {"driver": self.driver}
                         + '[hosts."example.org".options.register]\nmin_password_length = 12\n')
        return defer.ensureDeferred(self.xmppframe("storage", "init"))

    async def test_defaultMinimum(self):
        """
        With no option set, the register module's default, 8, applies, to
        user add and user passwd alike; nothing is changed.
        """
        error = ("error: the password has 7 characters; localhost requires at least 8 "
                 "(hosts.localhost.options.register.min_password_length); choose a "
                 "longer one, or give --force")
        self.assertFails(await self.xmppframe("user", "add", "alice@localhost",
                                              stdin="seven77\n"), error)
        self.assertEqual(await self.xmppframe("user", "list"), (0, "", ""))
        self.assertEqual((await self.xmppframe("user", "add", "alice@localhost",
                                               stdin="eight888\n"))[0], 0)
        self.assertFails(await self.xmppframe("user", "passwd", "alice@localhost",
                                              stdin="seven77\n"), error)
        self.assertTrue(await UserTests.checkPassword(self, "localhost", "alice", "eight888"))

    async def test_hostOption(self):
        """
        The minimum is the host's own, as its configuration sets it.
        """
        status, out, err = await self.xmppframe("user", "add", "bob@example.org",
                                                stdin="elevenchars\n")
        self.assertEqual((status, out), (1, ""))
        self.assertIn('requires at least 12 (hosts."example.org".options.register.'
                      'min_password_length)', err)
        result = await self.xmppframe("user", "add", "bob@example.org", stdin="twelve-chars\n")
        self.assertEqual(result, (0, "created bob@example.org\n", ""))

    async def test_force(self):
        result = await self.xmppframe("user", "add", "--force", "alice@localhost", stdin="pw\n")
        self.assertEqual(result, (0, "created alice@localhost\n", ""))
        result = await self.xmppframe("user", "passwd", "alice@localhost", "--force",
                                      stdin="p\n")
        self.assertEqual(result, (0, "changed the password of alice@localhost\n", ""))
        self.assertTrue(await UserTests.checkPassword(self, "localhost", "alice", "p"))

    async def test_invalidOption(self):
        """
        An invalid register option is the configuration error the server
        would report.
        """
        self.writeConfig(CONFIG % {"driver": self.driver}
                         + '[hosts."localhost".options.register]\nmin_password_length = 0\n')
        self.assertFails(
            await self.xmppframe("user", "add", "alice@localhost", stdin="password\n"),
            'config error: hosts.localhost.options.register.min_password_length: must be at '
            'least 1, got 0')

    async def test_help(self):
        status, out, err = await self.xmppframe("user", "add", "--help", config=False)
        self.assertIn("--force", out)
        self.assertIn("min_password_length", out)


class DatabaseTests(CommandTestCase):
    """
    The user commands work on an existing database only; C{storage init}
    creates it.
    """

    skip = ACCOUNTS_SKIP

    def databasePath(self):
        return os.path.join(self.directory, "state", "xmppframe.sqlite")

    async def test_noDatabase(self):
        """
        Without a database every user command fails with one line naming
        it and what to do, and creates nothing.
        """
        error = ("error: there is no database %s (configuration %s): start the server "
                 "once to create it, or run 'xmppframe storage init'"
                 % (self.databasePath(), self.configPath))
        for argv, stdin in ((("user", "add", "alice@localhost"), "wonderland\n"),
                            (("user", "passwd", "alice@localhost"), "wonderland\n"),
                            (("user", "delete", "alice@localhost"), ""),
                            (("user", "list"), "")):
            self.assertFails(await self.xmppframe(*argv, stdin=stdin), error)
        self.assertFalse(os.path.exists(os.path.join(self.directory, "state")))

    async def test_emptyDatabase(self):
        """
        A database file of 0 bytes is refused as a missing one: SQLite
        would make a new, empty database of it.
        """
        os.makedirs(os.path.dirname(self.databasePath()))
        open(self.databasePath(), "wb").close()
        self.assertFails(
            await self.xmppframe("user", "list"),
            "error: the database %s is empty (0 bytes) (configuration %s): start the server "
            "once to create it, or run 'xmppframe storage init'"
            % (self.databasePath(), self.configPath))
        self.assertEqual(os.path.getsize(self.databasePath()), 0)

    async def test_initAfterLoss(self):
        """
        Where the data directory's record says a database existed,
        C{storage init} makes a new one on purpose and says so; the user
        commands refuse until then, naming the record.
        """
        await self.xmppframe("storage", "init")
        record = os.path.join(os.path.dirname(self.databasePath()), "installation.json")
        self.assertTrue(os.path.exists(record))
        os.remove(self.databasePath())
        status, out, err = await self.xmppframe("user", "list")
        self.assertEqual((status, out), (1, ""))
        self.assertIn("error: the database %s is missing, but %s says this data directory "
                      "had it" % (self.databasePath(), record), err)
        status, out, err = await self.xmppframe("storage", "init")
        self.assertEqual((status, err), (0, ""))
        self.assertTrue(out.startswith(
            "created a new, empty database %s in place of the one this data directory "
            "had (created " % (self.databasePath(),)), out)
        self.assertEqual(await self.xmppframe("user", "list"), (0, "", ""))

    async def test_init(self):
        result = await self.xmppframe("storage", "init")
        self.assertEqual(result, (0, "created the database %s\n" % (self.databasePath(),), ""))
        result = await self.xmppframe("user", "add", "alice@localhost", stdin="wonderland\n")
        self.assertEqual(result, (0, "created alice@localhost\n", ""))
        result = await self.xmppframe("storage", "init")
        self.assertEqual(result, (0, "the database %s exists; its schema is up to date\n"
                                  % (self.databasePath(),), ""))
        self.assertEqual(await self.xmppframe("user", "list", "localhost"),
                         (0, "alice@localhost\n", ""))

    async def test_initModes(self):
        """
        The database it creates, and its data directory, are readable by
        their owner only, whatever the umask.
        """
        self.addCleanup(os.umask, os.umask(0o022))
        self.assertEqual((await self.xmppframe("storage", "init"))[0], 0)
        self.assertEqual(stat.S_IMODE(os.stat(self.databasePath()).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.databasePath())).st_mode),
                         0o700)

    async def test_tightened(self):
        """
        A database that others may read is made private when a command
        opens it, and the command says so.
        """
        self.assertEqual((await self.xmppframe("storage", "init"))[0], 0)
        os.chmod(self.databasePath(), 0o644)
        status, out, err = await self.xmppframe("user", "list")
        self.assertEqual((status, out), (0, ""))
        self.assertEqual(err, "warning: Made %s readable by their owner only (they were "
                         "0644): the database holds credentials and message archives\n"
                         % (self.databasePath(),))
        self.assertEqual(stat.S_IMODE(os.stat(self.databasePath()).st_mode), 0o600)

    async def test_initMemory(self):
        self.writeConfig(CONFIG % {"driver": "memory"})
        self.assertEqual(await self.xmppframe("storage", "init"), (
            0, "storage driver 'memory' keeps no database: nothing to create\n", ""))

    async def test_help(self):
        status, out, err = await self.xmppframe("--help", config=False)
        self.assertIn("storage init", out)
        self.assertIn("'storage init' creates it", out)

    async def test_emptyDirectory(self):
        """
        C{xmppframe user add} in an empty directory, without a
        configuration, runs on the built-in defaults, finds no database in
        ./data, says so, exits with status 1 and leaves the directory empty.
        """
        empty = os.path.abspath(self.mktemp())
        os.makedirs(empty)
        out, err, status = await ProcessTests.runIn(
            self, empty, "user", "add", "alice@localhost", stdin=b"wonderland\n")
        self.assertEqual((status, out), (1, b""))
        self.assertEqual(err.decode(), (
            "error: there is no database %s (no configuration file found, so the built-in "
            "defaults): start the server once to create it, or run 'xmppframe storage "
            "init'\n" % (os.path.join(empty, "data", "xmppframe.sqlite"),)))
        self.assertEqual(os.listdir(empty), [])


class ConfigDiscoveryTests(CommandTestCase):
    """
    The admin command and the server find the configuration with the one
    L{configpath.findConfig}: --config, C{XMPPFRAME_CONFIG},
    ./xmppframe.toml, /etc/xmppframe/xmppframe.toml, the defaults.
    """

    def test_order(self):
        self.assertEqual(CONFIG_LOCATIONS, ("xmppframe.toml", "/etc/xmppframe/xmppframe.toml"))
        self.patch(configpath, "CONFIG_LOCATIONS", CONFIG_LOCATIONS)
        files = set()
        exists = files.__contains__
        environ = {}
        self.assertIsNone(configpath.findConfig(None, environ, exists))
        files.add("/etc/xmppframe/xmppframe.toml")
        self.assertEqual(configpath.findConfig(None, environ, exists),
                         "/etc/xmppframe/xmppframe.toml")
        files.add("xmppframe.toml")
        self.assertEqual(configpath.findConfig(None, environ, exists), "xmppframe.toml")
        environ["XMPPFRAME_CONFIG"] = "/srv/missing.toml"
        self.assertEqual(configpath.findConfig(None, environ, exists), "/srv/missing.toml")
        self.assertEqual(configpath.findConfig("given.toml", environ, exists), "given.toml")

    def chdir(self, directory):
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(directory)

    def otherConfig(self, host):
        path = os.path.join(os.path.abspath(self.mktemp()), "other.toml")
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as f:
            f.write('[hosts."%s"]\n' % (host,))
        return path

    async def assertChecks(self, path, hosts):
        self.assertEqual(await self.xmppframe("config", "check", config=False),
                         (0, "config ok: %s, hosts: %s\n" % (path, hosts), ""))

    def serverConfigPath(self):
        from xmppframe import tap
        options = tap.Options()
        options.parseOptions([])
        return options["loadedConfig"].path

    async def test_environment(self):
        """
        C{XMPPFRAME_CONFIG} wins over ./xmppframe.toml, for the admin
        command and the server alike.
        """
        other = self.otherConfig("env.example")
        self.chdir(self.directory)
        self.patch(os, "environ", dict(os.environ, XMPPFRAME_CONFIG=other))
        await self.assertChecks(other, "env.example")
        self.assertEqual(self.serverConfigPath(), other)

    async def test_environmentMissing(self):
        """
        A file that C{XMPPFRAME_CONFIG} names but that does not exist is an
        error naming it, not a fall-back to another file.
        """
        missing = os.path.join(self.directory, "missing.toml")
        self.chdir(self.directory)
        self.patch(os, "environ", dict(os.environ, XMPPFRAME_CONFIG=missing))
        self.assertFails(await self.xmppframe("config", "check", config=False),
                         "config error: %s: No such file or directory" % (missing,))

    async def test_systemFile(self):
        """
        Without --config, C{XMPPFRAME_CONFIG} or ./xmppframe.toml, the
        system-wide file is read when it exists.
        """
        empty = os.path.abspath(self.mktemp())
        os.makedirs(empty)
        self.chdir(empty)
        os.makedirs(os.path.dirname(self.systemConfig))
        with open(self.systemConfig, "w") as f:
            f.write('[hosts."system.example"]\n')
        await self.assertChecks(self.systemConfig, "system.example")
        self.assertEqual(self.serverConfigPath(), self.systemConfig)

    async def test_commandLineFirst(self):
        other = self.otherConfig("given.example")
        self.patch(os, "environ", dict(os.environ, XMPPFRAME_CONFIG=self.configPath))
        self.assertEqual(await self.xmppframe("--config", other, "config", "check",
                                              config=False),
                         (0, "config ok: %s, hosts: given.example\n" % (other,), ""))

    async def test_help(self):
        status, out, err = await self.xmppframe("--help", config=False)
        text = " ".join(out.split())
        self.assertIn("--config FILE, else the file named by $XMPPFRAME_CONFIG, else "
                      "./xmppframe.toml or /etc/xmppframe/xmppframe.toml, the first that "
                      "exists, else the built-in defaults", text)


class MemoryStorageTests(CommandTestCase):

    skip = ACCOUNTS_SKIP
    driver = "memory"

    async def test_warning(self):
        """
        With the memory driver a change works but is lost, and says so.
        """
        status, out, err = await self.xmppframe("user", "add", "alice@localhost", stdin="password\n")
        self.assertEqual((status, out), (0, "created alice@localhost\n"))
        self.assertIn("warning: storage driver 'memory' keeps nothing", err)
        self.assertEqual(await self.xmppframe("user", "list"), (0, "", ""))


class CertTests(CommandTestCase):

    skip = CERT_SKIP

    async def test_generate(self):
        status, out, err = await self.xmppframe("cert", "generate", "LocalHost")
        self.assertEqual((status, err), (0, ""))
        certPath, keyPath = cli.generatedCertificatePaths(
            os.path.join(self.directory, "state"), "localhost")
        self.assertEqual(os.path.dirname(certPath), os.path.join(self.directory, "state", "certs"))
        self.assertTrue(os.path.exists(certPath))
        self.assertTrue(os.path.exists(keyPath))
        self.assertIn(certPath, out)
        with open(certPath, "rb") as f:
            first = f.read()
        status, out, err = await self.xmppframe("cert", "generate", "localhost")
        self.assertEqual(status, 0)
        with open(certPath, "rb") as f:
            self.assertNotEqual(f.read(), first)

    async def test_privateModes(self):
        """
        The generated key is 0600 and the directories made for it, the data
        directory too, 0700, whatever the umask.
        """
        self.addCleanup(os.umask, os.umask(0o022))
        status, out, err = await self.xmppframe("cert", "generate", "localhost")
        self.assertEqual((status, err), (0, ""))
        dataDir = os.path.join(self.directory, "state")
        certPath, keyPath = cli.generatedCertificatePaths(dataDir, "localhost")
        self.assertEqual(stat.S_IMODE(os.stat(keyPath).st_mode), 0o600)
        for directory in (dataDir, os.path.dirname(keyPath)):
            self.assertEqual(stat.S_IMODE(os.stat(directory).st_mode), 0o700, directory)

    async def test_serverCertificateModes(self):
        """
        The certificate the server generates for a host without one has the
        same modes.
        """
        from xmppframe.streams.tls import ensureHostCertificate
        self.addCleanup(os.umask, os.umask(0o022))
        dataDir = os.path.join(self.directory, "fresh", "data")
        certPath, keyPath, generated = ensureHostCertificate("localhost", None, None, dataDir)
        self.assertTrue(generated)
        self.assertEqual(stat.S_IMODE(os.stat(keyPath).st_mode), 0o600)
        for directory in (os.path.dirname(dataDir), dataDir, os.path.dirname(keyPath)):
            self.assertEqual(stat.S_IMODE(os.stat(directory).st_mode), 0o700, directory)

    async def test_serverUsesIt(self):
        """
        The certificate is written where the server looks for a host's
        generated certificate, so it is used, not replaced.
        """
        from xmppframe.streams.tls import ensureHostCertificate
        status, out, err = await self.xmppframe("cert", "generate", "example.org")
        self.assertEqual(status, 0, err)
        dataDir = os.path.join(self.directory, "state")
        certPath, keyPath, generated = ensureHostCertificate("example.org", None, None, dataDir)
        self.assertEqual((certPath, keyPath, generated),
                         cli.generatedCertificatePaths(dataDir, "example.org") + (False,))

    async def test_unknownHost(self):
        self.assertFails(await self.xmppframe("cert", "generate", "elsewhere.example"),
                         "error: unknown host 'elsewhere.example' (configured: localhost, "
                         "example.org, secure.example)")

    async def test_configuredCertificate(self):
        """
        A host with its own certificate does not use a generated one.
        """
        status, out, err = await self.xmppframe("cert", "generate", "secure.example")
        self.assertEqual((status, out), (1, ""))
        self.assertTrue(err.startswith("error: host secure.example has a configured certificate"))
        self.assertFalse(os.path.exists(os.path.join(self.directory, "state", "certs")))


def writeCertificate(directory, name="secure.pem", domain="secure.example"):
    """
    Write a self-signed certificate with its key in one PEM file, as
    C{certificate = "secure.pem"} in L{CONFIG} names it.
    """
    from xmppframe.streams.tls import generateSelfSigned
    path = os.path.join(directory, name)
    generateSelfSigned([domain], path + ".crt", path + ".key")
    with open(path, "wb") as f:
        for part in (".crt", ".key"):
            with open(path + part, "rb") as g:
                f.write(g.read())
    return path


class ConfigCheckTests(CommandTestCase):

    def setUp(self):
        CommandTestCase.setUp(self)
        writeCertificate(self.directory)

    async def test_ok(self):
        self.assertEqual(await self.xmppframe("config", "check"), (
            0, "config ok: %s, hosts: localhost, example.org, secure.example\n"
            % (self.configPath,), ""))

    async def test_error(self):
        self.writeConfig("[c2s]\nfoo = 1\n")
        self.assertFails(await self.xmppframe("config", "check"),
                         "config error: c2s.foo: unknown key")

    async def test_moduleOptions(self):
        """
        Module options are checked from each module's own schema, as
        C{serve} checks them: the privacy module's documented options are
        accepted, and a bad value or an unknown option is refused with the
        key's path.
        """
        self.writeConfig('[hosts."example.org"]\n'
                         '[hosts."example.org".options.privacy]\nmax_lists = 10\n')
        self.assertEqual((await self.xmppframe("config", "check"))[0], 0)
        self.writeConfig('[hosts."example.org"]\n'
                         '[hosts."example.org".options.privacy]\nmax_lists = "many"\n')
        status, out, err = await self.xmppframe("config", "check")
        self.assertEqual(status, 1)
        self.assertIn('hosts."example.org".options.privacy.max_lists', err)
        self.writeConfig('[hosts."example.org"]\n'
                         '[hosts."example.org".options.privacy]\nlists = 3\n')
        status, out, err = await self.xmppframe("config", "check")
        self.assertEqual(status, 1)
        self.assertIn('hosts."example.org".options.privacy.lists', err)

    async def test_unknownModule(self):
        self.writeConfig('[hosts."example.org"]\nmodules = ["ping", "nonesuch"]\n')
        status, out, err = await self.xmppframe("config", "check")
        self.assertEqual(status, 1)
        self.assertIn("unknown module 'nonesuch'", err)

    async def test_syntaxError(self):
        self.writeConfig("[c2s\n")
        status, out, err = await self.xmppframe("config", "check")
        self.assertEqual((status, out), (1, ""))
        self.assertTrue(err.startswith("config error: %s: " % (self.configPath,)), err)
        self.assertIn("line 1", err)
        self.assertEqual(err.count("\n"), 1)

    async def test_missingFile(self):
        missing = os.path.join(self.directory, "missing.toml")
        self.assertFails(await self.xmppframe("--config", missing, "config", "check", config=False),
                         "config error: %s: No such file or directory" % (missing,))

    def chdir(self, directory):
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(directory)

    async def test_defaults(self):
        """
        Without --config and without ./xmppframe.toml, the defaults serve
        "localhost".
        """
        empty = os.path.abspath(self.mktemp())
        os.makedirs(empty)
        self.chdir(empty)
        self.assertEqual(await self.xmppframe("config", "check", config=False),
                         (0, "config ok: defaults, hosts: localhost\n", ""))

    async def test_fileInCurrentDirectory(self):
        """
        Without --config, ./xmppframe.toml is read when it exists.
        """
        self.chdir(self.directory)
        self.assertEqual(await self.xmppframe("config", "check", config=False), (
            0, "config ok: %s, hosts: localhost, example.org, secure.example\n"
            % (self.configPath,), ""))

    async def test_unexpectedError(self):
        """
        An unexpected exception is still one line, with its traceback only
        when asked for.
        """
        def broken(invocation):
            raise RuntimeError("boom")

        self.patch(cli, "configCheck", broken)
        self.assertFails(await self.xmppframe("config", "check"),
                         "error: RuntimeError: boom")
        status, out, err = await self.xmppframe("--traceback", "config", "check")
        self.assertEqual(status, 1)
        self.assertIn("Traceback", err)
        self.assertTrue(err.endswith("\nerror: RuntimeError: boom\n"))


class UsageTests(CommandTestCase):

    async def test_usageErrors(self):
        """
        A bad command line exits with 2 and one line saying what is wrong.
        """
        for argv in ([], ["user"], ["user", "add"], ["user", "frob"], ["cert", "generate"],
                     ["config", "check", "extra"], ["--nonsense", "config", "check"]):
            status, out, err = await self.xmppframe(*argv, config=False)
            self.assertEqual((status, out), (2, ""), argv)
            self.assertEqual(err.count("\n"), 1, err)
            self.assertIn("--help", err)

    async def test_help(self):
        status, out, err = await self.xmppframe("--help", config=False)
        self.assertEqual((status, err), (0, ""))
        for text in ("user add JID", "user passwd JID", "user delete JID",
                     "user list [HOST]", "cert generate HOST", "config check",
                     "--config FILE", "exit status"):
            self.assertIn(text, out)

    async def test_subcommandHelp(self):
        status, out, err = await self.xmppframe("user", "add", "--help", config=False)
        self.assertEqual(status, 0)
        self.assertIn("first line of standard input", out)

    def test_mainHelp(self):
        """
        C{main(["--help"])} prints the help and exits with status 0.
        """
        output = io.StringIO()
        self.patch(sys, "stdout", output)
        e = self.assertRaises(SystemExit, main, ["--help"])
        self.assertEqual(e.code, 0)
        self.assertIn("cert generate HOST", output.getvalue())

    def test_mainUsageError(self):
        errors = io.StringIO()
        self.patch(sys, "stderr", errors)
        e = self.assertRaises(SystemExit, main, ["user", "add"])
        self.assertEqual(e.code, 2)
        self.assertEqual(errors.getvalue().count("\n"), 1)

    async def test_version(self):
        status, out, err = await self.xmppframe("--version", config=False)
        self.assertEqual((status, out), (0, "xmppframe %s\n" % (xmppframe.__version__,)))


class ProcessTests(CommandTestCase):
    """
    C{python -m xmppframe.cli} runs L{main} with its own reactor and exits
    with the command's status.
    """

    def runModule(self, *argv):
        return self.runIn(self.directory, "--config", self.configPath, *argv)

    def runIn(self, directory, *argv, stdin=b""):
        """
        Run C{python -m xmppframe.cli ARGV} in C{directory}, without
        C{XMPPFRAME_CONFIG}.

        @return: a Deferred firing with C{(out, err, status)}.
        """
        import subprocess
        root = os.path.dirname(os.path.dirname(os.path.abspath(xmppframe.__file__)))
        env = dict(os.environ)
        env.pop(configpath.CONFIG_ENVIRONMENT, None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))

        def call():
            done = subprocess.run(
                (sys.executable, "-m", "xmppframe.cli") + argv, input=stdin,
                capture_output=True, env=env, cwd=directory, timeout=60)
            return done.stdout, done.stderr, done.returncode

        from twisted.internet import threads
        return threads.deferToThread(call)

    async def test_ok(self):
        writeCertificate(self.directory)
        out, err, status = await self.runModule("config", "check")
        self.assertEqual((status, err), (0, b""))
        self.assertTrue(out.startswith(b"config ok: "), out)

    async def test_error(self):
        self.writeConfig("[auth]\nscram_iterations = 1\n")
        out, err, status = await self.runModule("config", "check")
        self.assertEqual((status, out), (1, b""))
        self.assertEqual(
            err, b"config error: auth.scram_iterations: must be at least 4096, got 1\n")


MODULES_CONFIG = """\
data_dir = "state"
[hosts."localhost"]
modules = ["ping", "caps"]
[hosts."example.org"]
modules = ["ping", "disco"]
[hosts."example.org".options.disco]
abuse = ["mailto:abuse@example.org"]
"""


class ModulesTests(CommandTestCase):
    """
    C{xmppframe modules [HOST]}: each host's modules in load order, with
    the XEPs they implement, from the configuration and the installed
    plugins, without starting a server.
    """

    def setUp(self):
        CommandTestCase.setUp(self)
        self.writeConfig(MODULES_CONFIG)

    async def test_list(self):
        """
        Dependencies come first and are marked as such.
        """
        self.assertEqual(await self.xmppframe("modules"), (0, (
            "localhost    ping   XEP-0199\n"
            "localhost    disco  XEP-0030, XEP-0128, XEP-0157 (dependency)\n"
            "localhost    caps   XEP-0115\n"
            "example.org  ping   XEP-0199\n"
            "example.org  disco  XEP-0030, XEP-0128, XEP-0157\n"), ""))

    async def test_oneHost(self):
        self.assertEqual(await self.xmppframe("modules", "Example.org"), (0, (
            "example.org  ping   XEP-0199\n"
            "example.org  disco  XEP-0030, XEP-0128, XEP-0157\n"), ""))

    async def test_unknownHost(self):
        self.assertFails(await self.xmppframe("modules", "elsewhere.example"),
                         "error: unknown host 'elsewhere.example' (configured: localhost, "
                         "example.org)")

    async def test_unknownModule(self):
        """
        Unknown modules of every host are errors, after the modules that
        are known have been listed.
        """
        self.writeConfig(MODULES_CONFIG.replace('["ping", "disco"]',
                                                '["ping", "nosuch", "disco", "other"]'))
        status, out, err = await self.xmppframe("modules")
        self.assertEqual(status, 1)
        self.assertIn("example.org  ping   XEP-0199\n", out)
        self.assertEqual(err.count("\n"), 1)
        self.assertTrue(err.startswith('error: hosts."example.org".modules[1]: unknown module '
                                       "'nosuch' (installed: "), err)
        self.assertIn('; hosts."example.org".modules[3]: unknown module \'other\'', err)
        self.assertIn("disco", err)
        self.assertIn("example.org  disco  ", out)

    async def test_badOption(self):
        """
        Module options are checked against each module's schema.
        """
        self.writeConfig(MODULES_CONFIG.replace("mailto:abuse@example.org", "abuse@example.org"))
        status, out, err = await self.xmppframe("modules")
        self.assertEqual(status, 1)
        self.assertTrue(err.startswith('error: hosts."example.org".options.disco.abuse[0]: ')
                        or err.startswith('error: hosts."example.org".options.disco.abuse: '), err)

    async def test_optionsForUnconfiguredModule(self):
        """
        Options for a module the host does not load are a configuration
        error.
        """
        self.writeConfig(MODULES_CONFIG.replace('["ping", "disco"]', '["ping"]'))
        status, out, err = await self.xmppframe("modules")
        self.assertEqual((status, out), (1, ""))
        self.assertIn("'disco', which is not in modules", err)

    async def test_help(self):
        status, out, err = await self.xmppframe("--help", config=False)
        self.assertIn("modules [HOST]", out)


#: Words in pip's output when it cannot reach a package index.
_OFFLINE = ("No matching distribution found", "Could not find a version",
            "Failed to establish a new connection", "Network is unreachable",
            "Temporary failure in name resolution")

#: twistd, as its console script runs it.
_TWISTD = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"


def _checkoutCopy(source, destination):
    """
    Copy the checkout C{source} to C{destination} as a fresh clone would
    have it: without virtualenvs, build output, caches or local state.
    """
    import shutil
    topLevel = {".git", ".venv", "build", "dist", "data", "xmppframe.toml"}

    def ignore(directory, names):
        ignored = {name for name in names
                   if name in ("__pycache__", "dropin.cache") or name.endswith(".egg-info")
                   or name.startswith("_trial_temp")}
        if os.path.samefile(directory, source):
            ignored.update(topLevel.intersection(names))
        return ignored

    shutil.copytree(source, destination, ignore=ignore, symlinks=True)


class EditableInstallTests(unittest.TestCase):
    """
    C{pip install -e .} in a fresh virtualenv makes C{twistd xmppframe}
    available, from the checkout itself: a change to the plugin file is seen
    without reinstalling.

    The dependencies come from the virtualenv running the tests (a C{.pth}
    file names its site-packages), so that only the project itself is
    installed; pip fetches its build requirements from its index or cache.
    """

    timeout = 300

    def setUp(self):
        self.root = os.path.dirname(os.path.dirname(os.path.abspath(xmppframe.__file__)))
        if not os.path.exists(os.path.join(self.root, "setup.cfg")):
            raise unittest.SkipTest("not run from a source checkout (no setup.cfg in %s)"
                                    % (self.root,))
        try:
            import ensurepip  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("this Python cannot create virtualenvs with pip "
                                    "(no ensurepip)")
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)

    async def command(self, executable, *argv, path=None):
        out, err, status = await utils.getProcessOutputAndValue(
            executable, argv, env=dict(os.environ), path=path or self.directory)
        return status, (out + err).decode("utf-8", "replace")

    async def test_twistdFindsPlugin(self):
        import sysconfig
        checkout = os.path.join(self.directory, "checkout")
        _checkoutCopy(self.root, checkout)
        venv = os.path.join(self.directory, "venv")
        status, output = await self.command(sys.executable, "-m", "venv", venv)
        self.assertEqual(status, 0, output)
        python = os.path.join(venv, "bin", "python")
        status, purelib = await self.command(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        self.assertEqual(status, 0, purelib)
        parents = sorted({sysconfig.get_paths()[key] for key in ("purelib", "platlib")})
        with open(os.path.join(purelib.strip(), "_test_dependencies.pth"), "w") as f:
            f.write("".join(path + "\n" for path in parents))

        status, output = await self.command(
            python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", ".",
            path=checkout)
        if status != 0 and any(words in output for words in _OFFLINE):
            raise unittest.SkipTest("pip cannot fetch the build requirements: %s"
                                    % (output.strip().splitlines()[-1],))
        self.assertEqual(status, 0, output)

        # Run from a directory that is not the checkout: the current
        # directory is on sys.path and would hide the problem.
        status, output = await self.command(python, "-c", _TWISTD, "--help")
        self.assertEqual(status, 0, output)
        self.assertRegex(output, r"\n +xmppframe +An XMPP server")
        status, output = await self.command(python, "-c", _TWISTD, "xmppframe", "--help")
        self.assertEqual(status, 0, output)
        self.assertIn("Run the xmppframe XMPP server", output)
        status, output = await self.command(os.path.join(venv, "bin", "xmppframe"), "--version")
        self.assertEqual((status, output), (0, "xmppframe %s\n" % (xmppframe.__version__,)))

        # The checkout's plugin file is the one twistd reads.
        plugin = os.path.join(checkout, "twisted", "plugins", "xmppframe_plugin.py")
        with open(plugin) as f:
            text = f.read()
        self.assertIn('"An XMPP server (RFC 6120/6121)"', text)
        with open(plugin, "w") as f:
            f.write(text.replace('"An XMPP server (RFC 6120/6121)"', '"Edited in the checkout"'))
        status, output = await self.command(python, "-c", _TWISTD, "--help")
        self.assertEqual(status, 0, output)
        self.assertRegex(output, r"\n +xmppframe +Edited in the checkout")
