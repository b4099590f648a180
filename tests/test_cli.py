"""
Tests for L{xmppframe.cli}, the C{xmppframe} admin command.

Commands run in-process through L{cli.run} on trial's reactor, with a
configuration in a temporary directory and SQLite storage, so that what one
invocation writes the next one reads.  C{main} itself owns the reactor, so
it is run as a child process (C{python -m xmppframe.cli}).
"""

import io
import os
import sys

from twisted.internet import reactor, utils
from twisted.trial import unittest

import xmppframe
from xmppframe import cli
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

    async def test_lifecycle(self):
        """
        add, list, passwd, delete, with SQLite keeping the accounts between
        invocations.
        """
        result = await self.xmppframe("user", "add", "alice@localhost", stdin="wonderland\n")
        self.assertEqual(result, (0, "created alice@localhost\n", ""))
        result = await self.xmppframe("user", "add", "bob@example.org", stdin="rabbit")
        self.assertEqual(result, (0, "created bob@example.org\n", ""))
        result = await self.xmppframe("user", "add", "carol@localhost", stdin="x\nignored\n")
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
        result = await self.xmppframe("user", "add", "alice@localhost", stdin="other\n")
        self.assertFails(result, "error: the account alice@localhost already exists")

    async def test_addExisting(self):
        await self.xmppframe("user", "add", "alice@localhost", stdin="wonderland\n")
        result = await self.xmppframe("user", "add", "alice@localhost", stdin="again\n")
        self.assertFails(result, "error: the account alice@localhost already exists")

    async def test_noSuchAccount(self):
        result = await self.xmppframe("user", "passwd", "nobody@localhost", stdin="pw\n")
        self.assertFails(result, "error: no such account: nobody@localhost")
        result = await self.xmppframe("user", "delete", "nobody@localhost")
        self.assertFails(result, "error: no such account: nobody@localhost")

    async def test_unknownHost(self):
        expected = ("error: unknown host 'elsewhere.example' (configured: localhost, "
                    "example.org, secure.example)")
        result = await self.xmppframe("user", "add", "alice@elsewhere.example", stdin="pw\n")
        self.assertFails(result, expected)
        self.assertFails(await self.xmppframe("user", "list", "elsewhere.example"), expected)

    async def test_invalidJID(self):
        """
        A JID that RFC 7622 refuses is an error naming it.
        """
        status, out, err = await self.xmppframe("user", "add", "a@b@localhost", stdin="pw\n")
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


class MemoryStorageTests(CommandTestCase):

    skip = ACCOUNTS_SKIP
    driver = "memory"

    async def test_warning(self):
        """
        With the memory driver a change works but is lost, and says so.
        """
        status, out, err = await self.xmppframe("user", "add", "alice@localhost", stdin="pw\n")
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
        root = os.path.dirname(os.path.dirname(os.path.abspath(xmppframe.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        return utils.getProcessOutputAndValue(
            sys.executable, ("-m", "xmppframe.cli", "--config", self.configPath) + argv,
            env=env, path=self.directory)

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
        self.assertTrue(err.startswith("error: example.org: unknown module 'nosuch' "
                                       "(installed: "), err)
        self.assertIn("; example.org: unknown module 'other'", err)
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
