"""
The server configuration: a TOML file read with L{tomllib} into frozen,
validated dataclasses.

The schema lives on the dataclasses themselves: every setting is a field
declared with L{setting}, which records its kind (how a TOML value becomes
a Python value), its default (written as it would be in TOML) and an
optional check.  One generic walker turns a TOML table into a dataclass, so
adding a setting is adding one field; there is no per-key parsing code.

Any problem stops the start with one line naming the key, e.g.::

    config error: c2s.max_stanza_size: expected an integer, got 'big'

Defaults go through the same conversion as values from a file, so relative
paths in both are resolved against the configuration file's directory (the
current directory when there is no file).  Every key with its default is in
C{examples/xmppframe.toml}.
"""

import dataclasses
import difflib
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field

from xmppframe.api.options import OPTION_KINDS, ModuleOption, atLeast  # noqa: F401 (re-exported for the config layer)
from xmppframe.jid import InvalidJID, prepareDomainpart
from xmppframe.logobserver import LOG_LEVELS
from xmppframe.storage import DEFAULT_DRIVER, DRIVERS

__all__ = [
    "ConfigError", "Config", "StorageConfig", "AuthConfig", "C2SConfig", "RoutingConfig",
    "S2SConfig",
    "HostConfig", "ComponentsConfig", "SASL_MECHANISMS", "loadConfig", "parseConfig",
    "defaultConfig", "ModuleOption", "validateModuleOptions", "atLeast",
]

#: The SASL mechanisms the server implements, strongest first.
SASL_MECHANISMS = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
                   "SCRAM-SHA-1", "PLAIN")

#: The modules a host loads when its table names none.
DEFAULT_MODULES = ("ping", "roster", "offline", "register", "privacy", "blocking",
                   "presence", "subscription", "carbons", "csi", "disco", "caps",
                   "vcard", "private", "version", "time", "mam", "lastactivity")

#: The name of the database file in the data directory when
#: C{storage.path} is empty.
DEFAULT_DATABASE = "xmppframe.sqlite"

#: The fewest SCRAM iterations accepted: a server SHOULD announce at least
#: 4096 (RFC 5802 §5.1 for SCRAM-SHA-1, RFC 7677 §3 and §4 for SHA-256).
MIN_SCRAM_ITERATIONS = 4096


class ConfigError(Exception):
    """
    The configuration cannot be used.  C{str()} of it is one line that says
    which key (or which file and line) and why.
    """


class _Problem(Exception):
    """
    A value is wrong.  Raised while converting, caught by the walker, which
    prefixes the path of the key it was converting.

    @ivar keys: the path below the key being converted (table keys as
        C{str}, array indexes as C{int}).
    """

    def __init__(self, message, keys=()):
        Exception.__init__(self, message)
        self.message = message
        self.keys = tuple(keys)

    def under(self, *keys):
        return _Problem(self.message, keys + self.keys)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _keyPath(keys):
    """
    Spell a key path as TOML would: C{hosts."example.org".modules[0]}.
    """
    text = ""
    for key in keys:
        if isinstance(key, int):
            text += "[%d]" % (key,)
            continue
        part = key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)
        text += ("." if text else "") + part
    return text


def _describe(value):
    """
    Show a value from a TOML file in an error message, spelt as TOML would.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, (int, float, str)):
        return repr(value)
    return "%s (%s)" % (type(value).__name__, value)


# Kinds: how a TOML value becomes the Python value a setting holds.

@dataclass(frozen=True)
class _Context:
    """
    What conversions need besides the value: the directory that relative
    paths are relative to.
    """
    basedir: str


class _Kind:
    """
    A type of setting.  C{expected} completes "expected ..." in errors.
    """

    expected = "a value"
    plural = "values"

    def accepts(self, value):
        raise NotImplementedError()

    def convert(self, value, context):
        if not self.accepts(value):
            raise _Problem("expected %s, got %s" % (self.expected, _describe(value)))
        return self.finish(value, context)

    def finish(self, value, context):
        return value


class _Text(_Kind):
    expected = "a string"
    plural = "strings"

    def accepts(self, value):
        return isinstance(value, str)


class _Integer(_Kind):
    expected = "an integer"

    def accepts(self, value):
        # TOML booleans are Python bools, which are ints: refuse them.
        return isinstance(value, int) and not isinstance(value, bool)


class _Number(_Kind):
    """
    A finite number; TOML integers are accepted and become floats.
    """
    expected = "a number"

    def accepts(self, value):
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    def finish(self, value, context):
        if not math.isfinite(value):
            raise _Problem("must be a finite number, got %s" % (_describe(value),))
        return float(value)


class _Boolean(_Kind):
    expected = "true or false"

    def accepts(self, value):
        return isinstance(value, bool)


class _Path(_Text):
    """
    A file or directory name, made absolute against the config file's
    directory.  An empty string means "not set" and becomes C{None}.
    """

    def finish(self, value, context):
        if value == "":
            return None
        return os.path.abspath(os.path.join(context.basedir, os.path.expanduser(value)))


class _ListOf(_Kind):
    """
    An array whose items are all of one kind; becomes a tuple.  An
    C{itemCheck} failure names the item's index.
    """

    def __init__(self, item, itemCheck=None):
        self.item = item
        self.itemCheck = itemCheck
        self.expected = "an array of %s" % (item.plural,)

    def accepts(self, value):
        return isinstance(value, list)

    def finish(self, value, context):
        items = []
        for index, raw in enumerate(value):
            try:
                item = self.item.convert(raw, context)
                _runCheck(self.itemCheck, item)
            except _Problem as problem:
                raise problem.under(index)
            items.append(item)
        return tuple(items)


class _Section(_Kind):
    """
    A TOML table read into the dataclass C{cls}: each field declared with
    L{setting} is a key; other keys are unknown keys and an error.
    """

    expected = "a table"

    def __init__(self, cls):
        self.cls = cls

    def accepts(self, value):
        return isinstance(value, dict)

    def finish(self, value, context, **given):
        settings = _settingsOf(self.cls)
        for key in value:
            if key not in settings:
                raise _Problem(_unknownKeyMessage(key, settings), (key,))
        values = dict(given)
        for name, spec in settings.items():
            try:
                values[name] = spec.read(value.get(name, spec.default), context)
            except _Problem as problem:
                raise problem.under(name)
        instance = self.cls(**values)
        for name, message in instance._relationProblems():
            raise _Problem(message, (name,))
        return instance


class _OptionTables(_Kind):
    """
    C{[hosts."NAME".options.MODULE]}: one table of options per module.
    The keys are checked by the module's own schema when it loads (see
    L{validateModuleOptions}); here only the shape is.
    """

    expected = "a table of module option tables"

    def accepts(self, value):
        return isinstance(value, dict)

    def finish(self, value, context):
        tables = {}
        for module, table in value.items():
            if not isinstance(table, dict):
                raise _Problem("expected a table, got %s" % (_describe(table),), (module,))
            tables[module] = dict(table)
        return tuple(sorted(tables.items()))


class _Hosts(_Kind):
    """
    The C{[hosts]} table: one sub-table per virtual host, keyed by domain.
    Names are prepared as RFC 7622 §3.2 domainparts; two keys naming the
    same domain are an error.  Becomes a tuple of L{HostConfig} in file
    order.
    """

    expected = "a table of host tables"

    def __init__(self, section):
        self.section = section

    def accepts(self, value):
        return isinstance(value, dict)

    def finish(self, value, context):
        if not value:
            raise _Problem("at least one host is required")
        hosts = []
        seen = {}
        for key, table in value.items():
            try:
                name = _prepareHostName(key)
            except _Problem as problem:
                raise problem.under(key)
            if name in seen:
                raise _Problem("the same host as %s" % (json.dumps(seen[name]),), (key,))
            seen[name] = key
            try:
                if not self.section.accepts(table):
                    raise _Problem("expected a table, got %s" % (_describe(table),))
                hosts.append(self.section.finish(table, context, name=name))
            except _Problem as problem:
                raise problem.under(key)
        return tuple(hosts)


def _unknownKeyMessage(key, settings):
    close = difflib.get_close_matches(key, list(settings), n=1)
    if close:
        return "unknown key (did you mean %r?)" % (close[0],)
    return "unknown key"


# Checks: a function of the converted value returning None when it is
# fine, or a message saying what is wrong.

def _runCheck(check, value):
    if check is not None:
        message = check(value)
        if message is not None:
            raise _Problem(message)


def _atLeast(minimum):
    def check(value):
        if value < minimum:
            return "must be at least %s, got %s" % (minimum, value)
    return check


def _positive(value):
    if value <= 0:
        return "must be greater than 0, got %s" % (value,)


def _oneOf(*choices):
    def check(value):
        if value not in choices:
            return "must be one of %s, got %r" % (
                ", ".join(repr(c) for c in choices), value)
    return check


def _required(value):
    if value is None:
        return "must not be empty"


def _notBlank(value):
    if not value.strip():
        return "must not be empty"


def _noDuplicates(values):
    for index, value in enumerate(values):
        if value in values[:index]:
            return "%r is listed twice" % (value,)


def _mechanisms(names):
    for name in names:
        if name not in SASL_MECHANISMS:
            return "unknown SASL mechanism %r (known: %s)" % (
                name, ", ".join(SASL_MECHANISMS))
    if not names:
        return "at least one SASL mechanism is required"
    return _noDuplicates(names)


# Settings.

_SETTING = "xmppframe.setting"


@dataclass(frozen=True)
class _Setting:
    kind: _Kind
    default: object
    check: object = None

    def read(self, value, context):
        converted = self.kind.convert(value, context)
        _runCheck(self.check, converted)
        return converted


def _setting(kind, default, check=None):
    """
    Declare a dataclass field as a configuration key.

    @param kind: how the TOML value is converted.
    @param default: the value when the key is absent, as written in TOML.
    @param check: C{check(value) -> None or message}, on the converted value.
    """
    return field(metadata={_SETTING: _Setting(kind, default, check)})


def _defaulted(kind, default):
    """
    L{_setting} with the same default for code that builds the dataclass
    by hand (tests, embedding): for keys added after such code was written.
    The default must be written the same in TOML and in Python.
    """
    return field(default=default, metadata={_SETTING: _Setting(kind, default)})


def _settingsOf(cls):
    return {f.name: f.metadata[_SETTING] for f in dataclasses.fields(cls)
            if _SETTING in f.metadata}


class _Validated:
    """
    Mixin for checks that involve more than one key of a section.
    """

    def _relationProblems(self):
        """
        @return: an iterable of C{(key, message)}, empty when consistent.
        """
        return ()


@dataclass(frozen=True)
class StorageConfig(_Validated):
    """
    C{[storage]}: where accounts and module data are kept.

    @ivar path: the absolute path of the database (for file-based drivers).
    """
    driver: str = _setting(_Text(), DEFAULT_DRIVER, _oneOf(*DRIVERS))
    path: str = _setting(_Path(), "")


@dataclass(frozen=True)
class AuthConfig(_Validated):
    """
    C{[auth]}: SASL credentials and the delay after failed attempts, which
    doubles per consecutive failure from one IP address (RFC 6120 §13.2
    counts dictionary attacks among the threats to guard against).
    """
    scram_iterations: int = _setting(_Integer(), MIN_SCRAM_ITERATIONS,
                                    _atLeast(MIN_SCRAM_ITERATIONS))
    failure_delay: float = _setting(_Number(), 1.0, _atLeast(0))
    failure_delay_max: float = _setting(_Number(), 30.0, _atLeast(0))

    def _relationProblems(self):
        if self.failure_delay_max < self.failure_delay:
            yield ("failure_delay_max", "must not be less than failure_delay (%s)"
                   % (self.failure_delay,))


def _serverEndpointProblem(description):
    """
    Why C{description} cannot be a listener (a Twisted strports server
    endpoint description), in words, or C{None}.  Parsing builds an
    endpoint object without touching the network, so no reactor is needed;
    Twisted's own exceptions (C{invalid literal for int()}, a keyword
    argument of a parser function) are turned into what to fix.
    """
    from twisted.internet.endpoints import serverFromString
    example = ("e.g. \"tcp:5222\", or \"tcp6:5222:interface=\\\\:\\\\:\" for every "
               "IPv6 and IPv4 address")
    parts = re.split(r"(?<!\\):", description)
    kind = parts[0]
    if kind in ("tcp", "tcp6", "ssl"):
        positional = [part for part in parts[1:] if "=" not in part]
        keywords = dict(part.split("=", 1) for part in parts[1:] if "=" in part)
        port = positional[0] if positional else keywords.get("port")
        if port is None:
            return "no port number (%s)" % (example,)
        if not port.isdigit() or int(port) > 65535:
            return "the port must be a number from 0 to 65535, got %r" % (port,)
        if len(positional) > 1:
            return ("too many parts separated by ':'; in a TOML string each ':' of an "
                    "IPv6 address is written \"\\\\:\" (%s)" % (example,))
    try:
        serverFromString(None, description)
    except ValueError as e:
        text = str(e)
        if text.startswith("Unknown endpoint type"):
            return "unknown endpoint type %r (%s)" % (kind, example)
        number = re.match(r"invalid literal for int\(\) with base 10: (.*)", text)
        if number:
            return "expected a number, got %s" % (number.group(1),)
        return "not a listener description: %s" % (text,)
    except TypeError as e:
        unknown = re.search(r"unexpected keyword argument '([^']*)'", str(e))
        if unknown:
            return "%s listeners take no argument %r" % (kind, unknown.group(1))
        return "not a listener description (%s)" % (example,)
    except OSError as e:
        return "cannot read %s: %s" % (e.filename, (e.strerror or str(e)).lower())
    except Exception as e:
        return "not a listener description: %s" % (str(e) or type(e).__name__,)
    return None


def _listener(description):
    message = _notBlank(description)
    if message is None:
        message = _serverEndpointProblem(description)
        if message is not None:
            message = "%s: %s" % (json.dumps(description), message)
    return message


_ENDPOINTS = _ListOf(_Text(), _listener)

#: The default listeners take every IPv6 and IPv4 address: on a dual-stack
#: system (Linux's default, C{net.ipv6.bindv6only = 0}) an IPv6 socket
#: bound to C{::} also accepts IPv4 clients, as IPv4-mapped addresses.
#: Where IPv6 is not available at all, the server falls back to IPv4 (see
#: L{xmppframe.server}).
ANY_ADDRESS = "tcp6:%d:interface=\\:\\:"


@dataclass(frozen=True)
class C2SConfig(_Validated):
    """
    C{[c2s]}: client connections (RFC 6120).  Listeners are Twisted
    strports server endpoint descriptions; C{listen} ones offer STARTTLS
    (RFC 6120 §5), C{listen_tls} ones start TLS at once (XEP-0368).
    C{read_rate} (bytes per second, 0: no limit) and C{read_burst} (bytes)
    bound how fast one client may send: a faster one is read more slowly
    (L{xmppframe.streams.shaper}).  C{max_pending} (bytes, 0: no limit) is
    the most that may wait for a client to read it: one that stops reading
    is cut off with C{policy-violation}.  C{max_stanza_nodes},
    C{max_attributes}, C{max_attribute_size} and C{max_depth} bound the
    parsed structure of one stanza before it completes
    (L{xmppframe.xml.parser.StanzaLimits}).  A listener that cannot be
    opened stops the start, unless C{listen_optional}: then it is logged
    and skipped (the same in C{[s2s]} and C{[components]}).
    """
    listen: tuple[str, ...] = _setting(_ENDPOINTS, [ANY_ADDRESS % 5222])
    listen_tls: tuple[str, ...] = _setting(_ENDPOINTS, [ANY_ADDRESS % 5223])
    require_encryption: bool = _setting(_Boolean(), True)
    max_stanza_size: int = _setting(_Integer(), 262144, _positive)
    max_stanza_nodes: int = _setting(_Integer(), 5000, _positive)
    max_attributes: int = _setting(_Integer(), 64, _positive)
    max_attribute_size: int = _setting(_Integer(), 16384, _positive)
    max_depth: int = _setting(_Integer(), 64, _positive)
    auth_timeout: float = _setting(_Number(), 60.0, _positive)
    header_timeout: float = _setting(_Number(), 30.0, _positive)
    idle_timeout: float = _setting(_Number(), 0.0, _atLeast(0))
    close_grace: float = _setting(_Number(), 2.0, _atLeast(0))
    read_rate: int = _setting(_Integer(), 32768, _atLeast(0))
    read_burst: int = _setting(_Integer(), 262144, _positive)
    max_pending: int = _setting(_Integer(), 8388608, _atLeast(0))
    mechanisms: tuple[str, ...] = _setting(_ListOf(_Text()), list(SASL_MECHANISMS),
                                          _mechanisms)
    listen_optional: bool = _defaulted(_Boolean(), False)


class _Routes(_Kind):
    """
    C{[s2s.routes]}: remote domain -> Twisted strports I{client} endpoint
    description (C{"tcp:host=127.0.0.1:port=5269"}), or C{"tls:..."} with
    C{tcp:}'s arguments for Direct TLS (XEP-0368).  Domains are prepared
    like host names; each description must parse.  Becomes a tuple of
    C{(domain, description)} pairs, sorted.
    """

    expected = "a table of domain = \"endpoint description\""

    def accepts(self, value):
        return isinstance(value, dict)

    def finish(self, value, context):
        routes = {}
        for key, description in value.items():
            try:
                name = _prepareHostName(key)
            except _Problem as problem:
                raise problem.under(key)
            if name in routes:
                raise _Problem("the same domain is routed twice", (key,))
            if not isinstance(description, str) or not description.strip():
                raise _Problem("expected an endpoint description such as "
                               "\"tcp:host=192.0.2.1:port=5269\", got %s"
                               % (_describe(description),), (key,))
            connection = _routeConnection(description)
            message = _clientEndpointProblem(connection)
            if message is not None:
                if connection != description:
                    message += " (a tls: route takes the arguments of tcp:)"
                raise _Problem(message, (key,))
            routes[name] = description
        return tuple(sorted(routes.items()))


def _routeConnection(description):
    """
    The endpoint description under an s2s route: a C{tls:} route is Direct
    TLS (XEP-0368) over the C{tcp:} description with the same arguments.
    """
    from xmppframe.streams.resolve import splitRoute
    return splitRoute(description)[0]


def _clientEndpointProblem(description):
    """
    Why C{description} is not a usable client endpoint description, or
    C{None}.  Parsing builds an endpoint object without touching the
    network, so no reactor is needed.
    """
    from twisted.internet.endpoints import clientFromString
    try:
        clientFromString(None, description)
    except Exception as e:
        return "not a client endpoint description (%s): %r" % (
            str(e) or type(e).__name__, description)
    return None


@dataclass(frozen=True)
class S2SConfig(_Validated):
    """
    C{[s2s]}: server-to-server streams (RFC 6120, C{jabber:server}).
    C{listen} listeners offer STARTTLS, C{listen_tls} ones are Direct TLS
    (XEP-0368).  C{ca_file} adds trust anchors to the system store for
    verifying peers (RFC 6120 §13.7.2); C{dialback} enables XEP-0220 for
    peers whose certificate cannot be verified.  C{dialback_secret} empty
    means one generated once into C{<data_dir>/dialback.secret}.
    C{routes} are static routes that skip DNS.  With C{enabled} false
    there is no federation at all: no listener, and stanzas to other
    domains bounce at once with C{remote-server-not-found}, without a DNS
    lookup or a connection attempt.  C{read_rate},
    C{read_burst} and C{max_pending} bound how fast a peer server may send
    and how much may wait for it to read, as for clients, and
    C{header_timeout} how long it has to complete its stream header.
    """
    listen: tuple[str, ...] = _setting(_ENDPOINTS, [ANY_ADDRESS % 5269])
    listen_tls: tuple[str, ...] = _setting(_ENDPOINTS, [])
    require_encryption: bool = _setting(_Boolean(), True)
    verify_certificates: bool = _setting(_Boolean(), True)
    ca_file: str | None = _setting(_Path(), "")
    dialback: bool = _setting(_Boolean(), True)
    dialback_secret: str = _setting(_Text(), "")
    connect_timeout: float = _setting(_Number(), 30.0, _positive)
    header_timeout: float = _setting(_Number(), 30.0, _positive)
    idle_timeout: float = _setting(_Number(), 600.0, _atLeast(0))
    queue_size: int = _setting(_Integer(), 1000, _positive)
    max_stanza_size: int = _setting(_Integer(), 262144, _positive)
    max_stanza_nodes: int = _setting(_Integer(), 5000, _positive)
    max_attributes: int = _setting(_Integer(), 64, _positive)
    max_attribute_size: int = _setting(_Integer(), 16384, _positive)
    max_depth: int = _setting(_Integer(), 64, _positive)
    read_rate: int = _setting(_Integer(), 262144, _atLeast(0))
    read_burst: int = _setting(_Integer(), 1048576, _positive)
    max_pending: int = _setting(_Integer(), 16777216, _atLeast(0))
    routes: tuple = field(default=(), metadata={_SETTING: _Setting(_Routes(), {})})
    listen_optional: bool = _defaulted(_Boolean(), False)
    enabled: bool = _defaulted(_Boolean(), True)

    def _relationProblems(self):
        if self.ca_file is not None and not os.path.isfile(self.ca_file):
            yield "ca_file", "no such file: %s" % (self.ca_file,)

    def route(self, domain):
        """
        The static route of C{domain}, or C{None}.
        """
        for name, description in self.routes:
            if name == domain:
                return description
        return None


@dataclass(frozen=True)
class RoutingConfig(_Validated):
    """
    C{[routing]}: how the router delivers stanzas.  A chat or normal
    message to a bare JID goes to the available resource(s) of highest
    non-negative priority (RFC 6121 §8.5.2.1.1 leaves "most available" to
    the server): to every one of them when
    C{deliver_to_all_of_equal_priority}, else to the most recently bound.
    """
    deliver_to_all_of_equal_priority: bool = _setting(_Boolean(), True)


@dataclass(frozen=True)
class HostConfig(_Validated):
    """
    C{[hosts."NAME"]}: one virtual host.

    @ivar name: the prepared domain (the table's key).
    @ivar certificate: absolute path of its PEM certificate (chain), or
        C{None} to use a self-signed one generated into the data directory.
    @ivar key: absolute path of the PEM private key, or C{None} (then the
        key is read from the certificate file, or generated with it).
    @ivar modules: names of the module plugins loaded on this host.
    """
    name: str
    certificate: str | None = _setting(_Path(), "")
    key: str | None = _setting(_Path(), "")
    modules: tuple[str, ...] = _setting(_ListOf(_Text(), _notBlank), list(DEFAULT_MODULES),
                                        _noDuplicates)
    # A dataclass default too, so code that builds a HostConfig by hand
    # (tests, embedding) need not spell out an empty options table.
    options: tuple = field(default=(), metadata={_SETTING: _Setting(_OptionTables(), {})})

    def _relationProblems(self):
        if self.key is not None and self.certificate is None:
            yield "key", "is set but certificate is not"
        for module, _ in self.options:
            if module not in self.modules:
                yield "options", "has a table for %r, which is not in modules" % (module,)

    def moduleOptions(self, module):
        """
        The raw option table of C{module} (a dict, empty when none).
        """
        for name, table in self.options:
            if name == module:
                return dict(table)
        return {}


class _Secrets(_Kind):
    """
    C{[components.secrets]}: component domain -> shared secret (XEP-0114
    §3).  Domains are prepared like host names; secrets must not be empty.
    Becomes a tuple of C{(domain, secret)} pairs in file order.
    """

    expected = "a table of component domains and their secrets"

    def accepts(self, value):
        return isinstance(value, dict)

    def finish(self, value, context):
        pairs = []
        seen = set()
        for key, secret in value.items():
            try:
                domain = _prepareHostName(key)
                if domain in seen:
                    raise _Problem("the same domain is listed twice")
                if not isinstance(secret, str):
                    raise _Problem("expected a string, got %s" % (_describe(secret),))
                if not secret:
                    raise _Problem("the secret must not be empty")
            except _Problem as problem:
                raise problem.under(key)
            seen.add(domain)
            pairs.append((domain, secret))
        return tuple(pairs)


@dataclass(frozen=True)
class ComponentsConfig(_Validated):
    """
    C{[components]}: external components (XEP-0114, C{jabber:component:accept}).
    The listeners are opened only when at least one component has a secret:
    a component may then connect for its domain with that secret, and the
    server routes that exact domain (not its subdomains) to it.

    @ivar secrets: C{(domain, secret)} pairs.
    """
    listen: tuple[str, ...] = _setting(_ENDPOINTS, ["tcp:5347:interface=127.0.0.1"])
    handshake_timeout: float = _setting(_Number(), 30.0, _positive)
    secrets: tuple = field(default=(), metadata={_SETTING: _Setting(_Secrets(), {})})
    listen_optional: bool = _defaulted(_Boolean(), False)

    def secretFor(self, domain):
        """
        @return: the shared secret of component C{domain}, or C{None}.
        """
        for name, secret in self.secrets:
            if name == domain:
                return secret
        return None


@dataclass(frozen=True)
class Config(_Validated):
    """
    The whole configuration.

    @ivar path: the absolute path of the file it was read from, or C{None}
        for the built-in defaults.
    @ivar data_dir: the absolute path of the data directory.
    @ivar log_level: the lowest level C{twistd xmppframe} writes to its log.
    @ivar hosts: the L{HostConfig}s, in file order; the first is the default
        host.
    """
    path: str | None
    data_dir: str = _setting(_Path(), "data", _required)
    log_level: str = _setting(_Text(), "info", _oneOf(*LOG_LEVELS))
    storage: StorageConfig = _setting(_Section(StorageConfig), {})
    auth: AuthConfig = _setting(_Section(AuthConfig), {})
    c2s: C2SConfig = _setting(_Section(C2SConfig), {})
    routing: RoutingConfig = _setting(_Section(RoutingConfig), {})
    s2s: S2SConfig = _setting(_Section(S2SConfig), {})
    components: ComponentsConfig = _setting(_Section(ComponentsConfig), {})
    hosts: tuple[HostConfig, ...] = _setting(_Hosts(_Section(HostConfig)), {"localhost": {}})

    def _relationProblems(self):
        hostNames = {host.name for host in self.hosts}
        for domain, _ in self.components.secrets:
            if domain in hostNames:
                yield "components", "%r is a host; a component needs a domain of its own" % (
                    domain,)

    def host(self, name):
        """
        @return: the L{HostConfig} of domain C{name} (prepared first, so any
            spelling of it matches), or C{None}.
        """
        try:
            name = _prepareHostName(name)
        except _Problem:
            return None
        for host in self.hosts:
            if host.name == name:
                return host
        return None

    @property
    def hostNames(self):
        return tuple(host.name for host in self.hosts)


# Module options: modules declare their options with the same kinds as the
# server's own settings, and are validated when they load.

_OPTION_KINDS = {
    "string": _Text(), "integer": _Integer(), "number": _Number(),
    "boolean": _Boolean(), "path": _Path(), "strings": _ListOf(_Text()),
}
assert set(_OPTION_KINDS) == OPTION_KINDS


def validateModuleOptions(config, host, module, schema):
    """
    Read the options of C{module} on C{host} against its C{schema}
    (name -> L{ModuleOption}).

    @return: a dict of every option, defaults filled in.
    @raise ConfigError: naming the key, as for the server's own settings.
    """
    hostConfig = config.host(host)
    raw = hostConfig.moduleOptions(module) if hostConfig is not None else {}
    basedir = os.path.dirname(config.path) if config.path else os.getcwd()
    context = _Context(basedir)
    keys = ("hosts", host, "options", module)
    for key in raw:
        if key not in schema:
            raise ConfigError("config error: %s: %s" % (
                _keyPath(keys + (key,)), _unknownKeyMessage(key, schema)))
    values = {}
    for name, option in schema.items():
        try:
            values[name] = _Setting(_OPTION_KINDS[option.kind], option.default,
                                    option.check).read(raw.get(name, option.default), context)
        except _Problem as problem:
            raise ConfigError("config error: %s: %s" % (
                _keyPath(keys + (name,) + problem.keys), problem.message))
    return values


# Host names.

def _prepareHostName(text):
    """
    Prepare a configured host name as an RFC 7622 §3.2 domainpart, as
    L{xmppframe.jid.prepareDomainpart} does for JIDs, so that the names in
    the config are the ones stanzas are routed by.

    @raise _Problem: if it is not a valid domain name, saying why.
    """
    if not isinstance(text, str):
        raise _Problem("expected a domain name, got %s" % (_describe(text),))
    try:
        return prepareDomainpart(text.lower())
    except InvalidJID as e:
        # The key path already names the host: keep only the reason.
        reason = str(e).partition(" is not a valid domain name: ")[2] or str(e)
        raise _Problem("not a valid domain name: %s" % (reason,))


# Entry points.

def parseConfig(data, basedir, path=None):
    """
    Validate a configuration given as parsed TOML.

    @param data: a C{dict} as L{tomllib.loads} returns it.
    @param basedir: the directory relative paths are relative to.
    @param path: the file it came from, for L{Config.path}.
    @raise ConfigError: naming the first bad key.
    """
    context = _Context(os.path.abspath(os.fspath(basedir)))
    try:
        if not isinstance(data, dict):
            raise _Problem("expected a table, got %s" % (_describe(data),))
        config = _Section(Config).finish(
            data, context, path=None if path is None else os.path.abspath(path))
    except _Problem as problem:
        where = _keyPath(problem.keys)
        raise ConfigError("config error: %s%s" % (
            where + ": " if where else "", problem.message)) from None
    if config.storage.path is None:
        storage = dataclasses.replace(
            config.storage, path=os.path.join(config.data_dir, DEFAULT_DATABASE))
        config = dataclasses.replace(config, storage=storage)
    return config


def defaultConfig(basedir="."):
    """
    The configuration used when there is no file: every default, the data
    directory under C{basedir}, one host "localhost".
    """
    return parseConfig({}, basedir)


def loadConfig(path):
    """
    Read and validate a TOML configuration file.

    @param path: the file, or C{None} for L{defaultConfig} in the current
        directory.
    @raise ConfigError: if the file cannot be read, is not TOML, or is not a
        valid configuration; the message names the file or the key.
    """
    if path is None:
        return defaultConfig(".")
    path = os.path.abspath(os.fspath(path))
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError("config error: %s: %s" % (path, e.strerror or e)) from None
    except UnicodeDecodeError as e:
        raise ConfigError("config error: %s: not UTF-8 text (byte %d)" % (
            path, e.start)) from None
    except tomllib.TOMLDecodeError as e:
        # The message ends with "(at line L, column C)".
        raise ConfigError("config error: %s: %s" % (path, e)) from None
    return parseConfig(data, os.path.dirname(path), path=path)
