"""
The C{xmppframe} admin command: accounts, certificates, configuration.

Every error is one line on standard error, never a traceback: the admin
running it needs to know what to fix, not where in the code it was found.
Exit status: 0 on success, 1 on error, 2 on a usage error.

L{main} is the console entry point; it runs a command with
L{twisted.internet.task.react}.  L{run} is the same without owning the
reactor, for tests and for programs that already run one.
"""

import argparse
import contextlib
import getpass
import os
import re
import sys
import textwrap

from twisted.internet import defer, task

from xmppframe import __version__
from xmppframe.config import ConfigError, loadConfig
from xmppframe.configpath import SEARCH_ORDER, findConfig

PROG = "xmppframe"

#: The module whose options set the password policy of a host, and the
#: option that gives the shortest password it accepts.
REGISTER_MODULE = "register"
MIN_PASSWORD_OPTION = "min_password_length"

#: Where C{cert generate} writes, under the data directory.
CERTS_DIRECTORY = "certs"

_DESCRIPTION = """\
Administer an xmppframe XMPP server: accounts, certificates, configuration.
Give it the server's configuration file, so that it works on the server's
data directory and storage."""

_EPILOG = """\
commands:
  user add JID          create the account JID (user@host)
  user passwd JID       set a new password for JID
  user delete JID       delete the account JID and all its data (see below)
  user list [HOST]      list the accounts of HOST, or of every host
  storage init          create the database if there is none (the server
                        creates it too, when it first starts); also where
                        this data directory had one that has gone, to start
                        over with an empty one
  cert generate HOST    (re)generate HOST's self-signed certificate into
                        <data_dir>/certs/ (restart the server to use it)
  config check          validate the configuration as the server does before it
                        starts: listeners, certificates and keys, the data
                        directory, every host's modules and their options;
                        say which file and hosts it has
  modules [HOST]        list the modules each host loads, with the XEPs they
                        implement; unknown modules and bad module options are
                        errors

HOST must be a host of the configuration.  Passwords are prompted for twice
when standard input is a terminal; otherwise the first line of standard
input is the password, e.g.:  echo 'wonderland' | xmppframe user add alice@localhost
A password shorter than the host's registration minimum (the register
module's min_password_length, 8 by default) is refused unless --force is
given.  Only SCRAM salted keys are stored, never the password.

user delete removes the credentials and what every module of the host keeps
for the account (roster, vCard, private XML, privacy and block lists, offline
messages, archive, subscription requests, last activity), and cancels its
subscriptions with local contacts, as removal in band does.  Remote contacts
are not told.  Run it with the server stopped: a running server is another
process, whose sessions of the account stay connected until they end; to
remove an account of a running server, remove it in band (XEP-0077).

The user commands work on the server's existing database: if there is none,
or it is empty (a wrong directory or configuration, a server never started,
a database lost), they say so and change nothing; 'storage init' creates it.

{SEARCH}

exit status: 0 success, 1 error (one line on standard error), 2 usage error."""


class CommandError(Exception):
    """
    The command cannot be done; C{str()} of it is the one line to show.
    """


class _Parser(argparse.ArgumentParser):
    """
    An argument parser whose usage errors are one line and exit with 2.
    """

    def error(self, message):
        self.exit(2, "%s: %s (see '%s --help')\n" % (self.prog, message, self.prog))


def buildParser():
    """
    @return: the L{argparse.ArgumentParser} of the whole command.
    """
    parser = _Parser(
        prog=PROG, description=_DESCRIPTION, epilog=_EPILOG.replace("{SEARCH}", textwrap.fill(
            "The configuration file is the one the server reads: %s." % (SEARCH_ORDER,), 76)),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config", "-c", metavar="FILE",
        help="the TOML configuration file (default: see below)")
    parser.add_argument(
        "--traceback", action="store_true",
        help="on an unexpected error, also print the Python traceback (for bug reports)")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    groups = parser.add_subparsers(title="command groups",
                                   metavar="{user,storage,cert,config,modules}",
                                   dest="group", required=True)

    user = groups.add_parser(
        "user", help="manage accounts", description="Manage the accounts of the "
        "configured hosts.  Only SCRAM salted keys are stored, never passwords.")
    userCommands = user.add_subparsers(title="commands", dest="action", required=True,
                                       metavar="{add,passwd,delete,list}")
    passwordNote = ("The password is prompted for twice on a terminal; otherwise it is "
                    "the first line of standard input.  It must be as long as the host's "
                    "registration minimum (hosts.HOST.options.register.min_password_length, "
                    "8 by default), unless --force is given.")
    forceHelp = "accept a password shorter than the host's registration minimum"
    add = userCommands.add_parser(
        "add", help="create an account",
        description="Create the account JID.  " + passwordNote)
    add.add_argument("jid", metavar="JID", help="the account, user@host")
    add.add_argument("--force", action="store_true", help=forceHelp)
    add.set_defaults(handler=userAdd)
    passwd = userCommands.add_parser(
        "passwd", help="change an account's password",
        description="Set a new password for the account JID.  " + passwordNote)
    passwd.add_argument("jid", metavar="JID", help="the account, user@host")
    passwd.add_argument("--force", action="store_true", help=forceHelp)
    passwd.set_defaults(handler=userPasswd)
    delete = userCommands.add_parser(
        "delete", help="delete an account",
        description="Delete the account JID, its credentials and everything the host's "
                    "modules keep for it (roster, vCard, private XML, privacy and block "
                    "lists, offline messages, archive, subscription requests, last "
                    "activity); its subscriptions with local contacts are cancelled.  "
                    "Remote contacts are not told.  Run it with the server stopped: a "
                    "running server is another process, and its sessions of the account "
                    "stay connected until they end.")
    delete.add_argument("jid", metavar="JID", help="the account, user@host")
    delete.set_defaults(handler=userDelete)
    listing = userCommands.add_parser(
        "list", help="list accounts",
        description="Print the accounts of HOST, or of every host, one JID a line.")
    listing.add_argument("host", metavar="HOST", nargs="?",
                         help="a configured host (default: every host)")
    listing.set_defaults(handler=userList)

    storage = groups.add_parser(
        "storage", help="create the database",
        description="Commands about the server's storage.")
    storageCommands = storage.add_subparsers(title="commands", dest="action", required=True,
                                             metavar="{init}")
    init = storageCommands.add_parser(
        "init", help="create the database if there is none",
        description="Create the configured database (storage.path, by default "
                    "<data_dir>/xmppframe.sqlite), readable by its owner only, "
                    "or bring an existing one's schema up to date, as the server "
                    "does when it starts.  The user commands need it to exist.  "
                    "Once a database was created, the data directory records it "
                    "(<data_dir>/installation.json) and the server refuses to start "
                    "when that database is missing or empty; this command then "
                    "creates a new, empty one, on purpose.")
    init.set_defaults(handler=storageInit)

    cert = groups.add_parser(
        "cert", help="manage TLS certificates",
        description="Manage the self-signed certificates of hosts that have no "
                    "certificate configured.")
    certCommands = cert.add_subparsers(title="commands", dest="action", required=True,
                                       metavar="{generate}")
    generate = certCommands.add_parser(
        "generate", help="(re)generate a host's self-signed certificate",
        description="Generate a new self-signed certificate and key for HOST into "
                    "<data_dir>/%s/, replacing any there.  Restart the server to use "
                    "it." % (CERTS_DIRECTORY,))
    generate.add_argument("host", metavar="HOST", help="a configured host")
    generate.set_defaults(handler=certGenerate)

    config = groups.add_parser(
        "config", help="check the configuration",
        description="Commands about the configuration file.")
    configCommands = config.add_subparsers(title="commands", dest="action", required=True,
                                           metavar="{check}")
    check = configCommands.add_parser(
        "check", help="validate the configuration",
        description="Load and validate the configuration; print 'config ok: FILE, "
                    "hosts: ...', or the error and exit with status 1.")
    check.set_defaults(handler=configCheck)

    modules = groups.add_parser(
        "modules", help="list each host's modules and the XEPs they implement",
        description="For each host (or HOST), print one line per module it loads, "
                    "dependencies included, in load order: host, module, and the "
                    "specifications it implements.  Reads the configuration and the "
                    "installed module plugins; starts nothing.  Unknown modules and "
                    "invalid module options are reported as errors (status 1).")
    modules.add_argument("host", metavar="HOST", nargs="?",
                         help="a configured host (default: every host)")
    modules.set_defaults(handler=modulesList)
    return parser


class Console:
    """
    The command's terminal: where output, errors and passwords go.

    @ivar getpass: reads a password without echo, as L{getpass.getpass}.
    """

    def __init__(self, stdin=None, stdout=None, stderr=None, getpass=getpass.getpass):
        self.stdin = sys.stdin if stdin is None else stdin
        self.stdout = sys.stdout if stdout is None else stdout
        self.stderr = sys.stderr if stderr is None else stderr
        self.getpass = getpass

    def out(self, line):
        self.stdout.write(line + "\n")
        self.stdout.flush()

    def error(self, message):
        """
        Write C{message} to standard error as exactly one line.
        """
        self.stderr.write(" ".join(str(message).split("\n")) + "\n")
        self.stderr.flush()

    def readPassword(self, account):
        """
        Read the new password of C{account}: typed twice on a terminal, else
        the first line of standard input (without its line ending).

        @raise CommandError: if there is none or the two differ.
        """
        isatty = getattr(self.stdin, "isatty", None)
        if isatty is not None and isatty():
            try:
                password = self.getpass("New password for %s: " % (account,))
                repeated = self.getpass("Repeat it: ")
            except EOFError:
                raise CommandError("no password given")
            if repeated != password:
                raise CommandError("the passwords do not match")
        else:
            line = self.stdin.readline()
            if not line:
                raise CommandError("no password on standard input")
            password = line.rstrip("\r\n")
        if not password:
            raise CommandError("empty password")
        return password


class Invocation:
    """
    One run of a command: its arguments, configuration, console and reactor.
    """

    def __init__(self, args, config, console, reactor):
        self.args = args
        self.config = config
        self.console = console
        self.reactor = reactor

    def hostConfig(self, name):
        """
        @return: the L{HostConfig} of C{name}.
        @raise CommandError: if it is not a configured host.
        """
        host = self.config.host(name)
        if host is None:
            raise CommandError("unknown host %r (configured: %s)" % (
                name, ", ".join(self.config.hostNames)))
        return host

    def parseAccount(self, text):
        """
        Parse an account JID (user@host) of a configured host.

        @return: C{(username, hostName)}, both prepared.
        @raise CommandError: if it is not such a JID.
        """
        from xmppframe.jid import InvalidJID, parseJID
        try:
            jid = parseJID(text)
        except InvalidJID as e:
            raise CommandError("invalid JID %r: %s" % (text, e))
        if not jid.localpart or jid.resource:
            raise CommandError("expected an account JID, user@host, got %r" % (text,))
        return jid.localpart, self.hostConfig(jid.domain).name

    def storageDriver(self):
        """
        @return: the configured L{xmppframe.storage.StorageDriver}.
        """
        # Imported here, not at the top, so that --help and config check
        # work even where a storage driver cannot be imported.
        from xmppframe.storage import DRIVERS
        return DRIVERS[self.config.storage.driver]

    def requireDatabase(self):
        """
        Check that the configured database exists, so that a command run
        with the wrong configuration (or none, in the wrong directory) never
        makes a new, empty one and reports success on it.

        @raise CommandError: if the driver keeps a file and there is none,
            or it is empty (0 bytes: SQLite would make a new database of it).
        """
        from xmppframe.installation import isMissing, missingDatabaseProblem
        path = self.config.storage.path
        if self.storageDriver().usesPath and isMissing(path):
            if self.config.path is None:
                source = "no configuration file found, so the built-in defaults"
            else:
                source = "configuration %s" % (self.config.path,)
            gone = missingDatabaseProblem(self.config)
            if gone is not None:
                raise CommandError("%s (%s)" % (gone.removeprefix("storage.path: "), source))
            if os.path.exists(path):
                state = "the database %s is empty (0 bytes)" % (path,)
            else:
                state = "there is no database %s" % (path,)
            raise CommandError(
                "%s (%s): start the server once to create it, or run '%s storage init'"
                % (state, source, PROG))

    @contextlib.asynccontextmanager
    async def openStorage(self, changing, create=False):
        """
        Open the configured storage for the duration of an C{async with}
        block.

        @param changing: whether the command changes data (the memory
            driver then gets a warning: it keeps nothing).
        @param create: whether to create the database if there is none;
            otherwise that is a L{CommandError} (see L{requireDatabase}).
        """
        settings = self.config.storage
        driver = self.storageDriver()
        if not create:
            self.requireDatabase()
        if changing and not driver.durable:
            self.console.error("warning: storage driver %r keeps nothing: "
                               "this change is lost when the command exits" % (driver.name,))
        storage = driver.build(settings.path, reactor=self.reactor)
        # What the driver logs as a warning when it opens (such as having
        # made the database private) is shown: no log is written here.
        from twisted.logger import LogLevel, formatEvent, globalLogPublisher

        def showWarning(event):
            if (event.get("log_level") in (LogLevel.warn, LogLevel.error, LogLevel.critical)
                    and event.get("log_namespace", "").startswith("xmppframe.storage")):
                self.console.error("warning: " + formatEvent(event))

        globalLogPublisher.addObserver(showWarning)
        try:
            await storage.open()
        finally:
            globalLogPublisher.removeObserver(showWarning)
        try:
            yield storage
        finally:
            await storage.close()

    def checkPasswordLength(self, hostName, password):
        """
        Refuse a password shorter than C{hostName}'s registration minimum,
        the C{min_password_length} option of the register module as the
        host's configuration sets it (validated from the module's schema),
        unless C{--force} was given.

        @raise CommandError: if it is too short.
        @raise ConfigError: if the host's register options are invalid.
        """
        from xmppframe.config import validateModuleOptions
        from xmppframe.moduleloader import availableModules
        factory = availableModules().get(REGISTER_MODULE)
        if factory is None or self.args.force:
            return
        options = validateModuleOptions(self.config, hostName, REGISTER_MODULE,
                                        factory.optionSchema)
        minimum = options[MIN_PASSWORD_OPTION]
        if len(password) < minimum:
            # The key spelt as in the file (and in config errors).
            quoted = hostName if re.match(r"^[A-Za-z0-9_-]+$", hostName) else '"%s"' % (
                hostName,)
            raise CommandError(
                "the password has %d characters; %s requires at least %d (hosts.%s.options."
                "%s.%s); choose a longer one, or give --force" % (
                    len(password), hostName, minimum, quoted, REGISTER_MODULE,
                    MIN_PASSWORD_OPTION))

    def authProvider(self, storage, hostName):
        from xmppframe.auth import StorageAuthProvider
        return StorageAuthProvider(storage, hostName,
                                   iterations=self.config.auth.scram_iterations,
                                   reactor=self.reactor)


@contextlib.contextmanager
def _accountErrors(account):
    """
    Turn the auth provider's exceptions about C{account} into one-line
    L{CommandError}s.
    """
    from xmppframe.auth import InvalidPassword, NoSuchUser, UserExists
    try:
        yield
    except UserExists:
        raise CommandError("the account %s already exists" % (account,))
    except NoSuchUser:
        raise CommandError("no such account: %s" % (account,))
    except InvalidPassword as e:
        raise CommandError("password refused" + (": %s" % (e,) if str(e) else ""))


async def userAdd(invocation):
    username, hostName = invocation.parseAccount(invocation.args.jid)
    account = "%s@%s" % (username, hostName)
    invocation.requireDatabase()
    password = invocation.console.readPassword(account)
    invocation.checkPasswordLength(hostName, password)
    async with invocation.openStorage(changing=True) as storage:
        with _accountErrors(account):
            await invocation.authProvider(storage, hostName).createUser(username, password)
    invocation.console.out("created %s" % (account,))


async def userPasswd(invocation):
    username, hostName = invocation.parseAccount(invocation.args.jid)
    account = "%s@%s" % (username, hostName)
    invocation.requireDatabase()
    password = invocation.console.readPassword(account)
    invocation.checkPasswordLength(hostName, password)
    async with invocation.openStorage(changing=True) as storage:
        with _accountErrors(account):
            await invocation.authProvider(storage, hostName).setPassword(username, password)
    invocation.console.out("changed the password of %s" % (account,))


async def userDelete(invocation):
    """
    The same removal as XEP-0077's in band (L{xmppframe.accounts}): the
    host's modules are loaded against storage, with no listener, and each
    drops what it keeps for the account.
    """
    from xmppframe.accounts import RemovalIncomplete, removeOffline
    username, hostName = invocation.parseAccount(invocation.args.jid)
    account = "%s@%s" % (username, hostName)
    async with invocation.openStorage(changing=True) as storage:
        with _accountErrors(account):
            try:
                remote = await removeOffline(invocation.config, storage, invocation.reactor,
                                             hostName, username)
            except RemovalIncomplete as e:
                raise CommandError(str(e))
    invocation.console.out("deleted %s" % (account,))
    if remote:
        invocation.console.out(
            "not told (this command does not federate): %s" % (", ".join(remote),))


async def userList(invocation):
    """
    One JID a line, hosts in configuration order, users sorted.
    """
    if invocation.args.host is None:
        names = invocation.config.hostNames
    else:
        names = (invocation.hostConfig(invocation.args.host).name,)
    async with invocation.openStorage(changing=False) as storage:
        for name in names:
            for username in await invocation.authProvider(storage, name).listUsers():
                invocation.console.out("%s@%s" % (username, name))


async def storageInit(invocation):
    """
    Create the database, or bring its schema up to date, as the server
    does when it starts.
    """
    driver = invocation.storageDriver()
    if not driver.usesPath:
        invocation.console.out("storage driver %r keeps no database: nothing to create"
                               % (driver.name,))
        return
    from xmppframe.installation import (
        isMissing, keepsDatabaseFile, missingDatabaseProblem, readRecord, recordDatabase)
    config = invocation.config
    path = config.storage.path
    existed = not isMissing(path)
    replacing = missingDatabaseProblem(config) is not None
    async with invocation.openStorage(changing=False, create=True):
        pass
    if keepsDatabaseFile(config):
        record = readRecord(config.data_dir) or {}
        recordDatabase(config, created=not existed)
    if existed:
        invocation.console.out("the database %s exists; its schema is up to date" % (path,))
    elif replacing:
        since = record.get("created")
        invocation.console.out(
            "created a new, empty database %s in place of the one this data directory "
            "had%s: the accounts and messages of that one are not in it"
            % (path, " (created %s)" % (since,) if isinstance(since, str) else ""))
    else:
        invocation.console.out("created the database %s" % (path,))


def generatedCertificatePaths(dataDir, hostName):
    """
    @return: C{(certificatePath, keyPath)} of the self-signed certificate
        of C{hostName} under C{dataDir}: where
        L{xmppframe.streams.tls.ensureHostCertificate} looks for it.
    """
    directory = os.path.join(dataDir, CERTS_DIRECTORY)
    return (os.path.join(directory, hostName + ".crt"),
            os.path.join(directory, hostName + ".key"))


async def certGenerate(invocation):
    from xmppframe.streams.tls import generateSelfSigned
    host = invocation.hostConfig(invocation.args.host)
    if host.certificate is not None:
        raise CommandError(
            "host %s has a configured certificate (%s); remove it from the "
            "configuration to use a self-signed one" % (host.name, host.certificate))
    certPath, keyPath = generatedCertificatePaths(invocation.config.data_dir, host.name)
    generateSelfSigned([host.name], certPath, keyPath)
    invocation.console.out(
        "generated a self-signed certificate for %s: %s (key: %s); restart the "
        "server to use it" % (host.name, certPath, keyPath))


async def configCheck(invocation):
    """
    The configuration, checked by the same code the server runs before it
    starts (L{xmppframe.preflight}): data directory, certificates and
    keys, every host's modules and their options.
    """
    from xmppframe.preflight import findProblems
    config = invocation.config
    problems = findProblems(config)
    if problems:
        raise ConfigError("config error: " + "; ".join(problems))
    invocation.console.out("config ok: %s, hosts: %s" % (
        config.path or "defaults", ", ".join(config.hostNames)))


def moduleListing(config, hosts):
    """
    The modules each of C{hosts} loads, dependencies included, in load
    order, and what is wrong with them, as the server's own start-up check
    (L{xmppframe.preflight.moduleProblems}) says it.

    @return: C{(rows, problems)}: rows of C{(host, module, xeps)}, and one
        message per unknown module, dependency cycle or bad option.
    """
    from xmppframe.moduleloader import ModuleLoadError, availableModules, loadOrder
    from xmppframe.preflight import moduleProblems
    factories = availableModules()
    rows = []
    for host in hosts:
        known = [name for name in host.modules if name in factories]
        try:
            order = loadOrder(known, factories)
        except ModuleLoadError:
            continue
        for name in order:
            xeps = ", ".join(factories[name].xeps) or "-"
            if name not in host.modules:
                xeps += " (dependency)"
            rows.append((host.name, name, xeps))
    return rows, moduleProblems(config, factories, hosts)


async def modulesList(invocation):
    """
    One line per loaded module: C{HOST  MODULE  XEP-0001, XEP-0002}, with
    C{-} for a module that names no XEP and C{(dependency)} after one that
    is loaded only because another needs it.  Problems are collected over
    every host and reported together, after the listing.
    """
    config = invocation.config
    if invocation.args.host is None:
        hosts = config.hosts
    else:
        hosts = (invocation.hostConfig(invocation.args.host),)
    rows, problems = moduleListing(config, hosts)
    hostWidth = max([len(row[0]) for row in rows], default=0)
    nameWidth = max([len(row[1]) for row in rows], default=0)
    for hostName, name, xeps in rows:
        invocation.console.out("%-*s  %-*s  %s" % (hostWidth, hostName, nameWidth, name, xeps))
    if problems:
        raise CommandError("; ".join(problems))


def parseArguments(argv):
    """
    @raise SystemExit: with status 0 after --help or --version, 2 on a
        usage error (the message already written).
    """
    return buildParser().parse_args(argv)


async def execute(args, console, reactor):
    """
    Run the parsed command C{args}.

    @return: the exit status; every error is reported on C{console}.
    """
    try:
        config = loadConfig(findConfig(args.config))
        await args.handler(Invocation(args, config, console, reactor))
    except ConfigError as e:
        console.error(str(e))
        return 1
    except CommandError as e:
        console.error("error: %s" % (e,))
        return 1
    except KeyboardInterrupt:
        console.error("error: interrupted")
        return 1
    except Exception as e:
        if args.traceback:
            import traceback
            console.stderr.write(traceback.format_exc())
        console.error("error: %s: %s" % (type(e).__name__, e))
        return 1
    return 0


def run(argv, reactor, console=None):
    """
    Run the command line C{argv} (without the program name) on a running
    C{reactor}.

    @param console: a L{Console}; the process's standard streams if C{None}.
    @return: a Deferred firing with the exit status; it never fails.
    """
    if console is None:
        console = Console()
    try:
        with contextlib.redirect_stdout(console.stdout), \
                contextlib.redirect_stderr(console.stderr):
            args = parseArguments(argv)
    except SystemExit as e:
        return defer.succeed(e.code)
    return defer.ensureDeferred(execute(args, console, reactor))


def main(argv=None):
    """
    The console entry point: run the command line and exit with its status.
    """
    args = parseArguments(sys.argv[1:] if argv is None else argv)
    console = Console()

    async def inReactor(reactor):
        status = await execute(args, console, reactor)
        raise SystemExit(status)

    task.react(inReactor)


if __name__ == "__main__":
    main()
