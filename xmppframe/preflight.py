"""
Everything that would stop a server with a valid-looking configuration
from starting, found before it starts.

L{xmppframe.config} checks what a configuration I{says}: types, ranges,
listener descriptions.  This module checks it against the machine: the
data directory, the database (one that has gone while the data directory
says it existed, L{xmppframe.installation}), the certificates and keys,
and the module plugins and their options.  It is the one list of such
checks, used by both

  - C{twistd xmppframe} (L{xmppframe.tap}), before the reactor runs, so
    that a server that cannot start exits at once, with one line; and
  - C{xmppframe config check}, so that the check finds everything the
    server would refuse;

and by L{xmppframe.server.ServerService} when it starts, so that an
application embedding a server gets the same messages.  The two cannot
drift apart because there is nothing else to drift.

Each problem is one message that begins with the key it is about, as the
configuration's own errors do::

    hosts.localhost.key: /etc/xmpp/host.key is not a PEM private key

Opening the listeners is the one check left to the start itself: a port
free now may be taken a second later, and only binding it tells.
"""

import os

from xmppframe.config import ConfigError, _keyPath, validateModuleOptions

__all__ = ["findProblems", "preflight", "moduleProblems"]


def preflight(config, factories=None):
    """
    Check that C{config} can be served here.

    @param factories: name -> L{xmppframe.interfaces.IModuleFactory}; the
        installed module plugins by default.
    @raise ConfigError: one line, every problem found, separated by C{; }.
    """
    problems = findProblems(config, factories)
    if problems:
        raise ConfigError("config error: " + "; ".join(problems))


def findProblems(config, factories=None):
    """
    @return: a list of messages, each naming its key; empty when C{config}
        can be served.
    """
    problems = []
    dataDirProblem = _directoryProblem(config.data_dir)
    if dataDirProblem is not None:
        problems.append("data_dir: " + dataDirProblem)
    problems.extend(_storageProblems(config, dataDirProblem is None))
    for host in config.hosts:
        problems.extend(_certificateProblems(config, host, dataDirProblem is None))
    problems.extend(moduleProblems(config, factories))
    return problems


# The data directory and the database.

def _directoryProblem(path):
    """
    Why the server cannot keep files in the directory C{path} (made if it
    does not exist), or C{None}.
    """
    if os.path.lexists(path):
        if not os.path.isdir(path):
            kind = "a file" if os.path.isfile(path) else "not a directory"
            return "%s is %s, not a directory" % (path, kind)
        if not os.access(path, os.W_OK | os.X_OK):
            return "%s is not writable by this user" % (path,)
        return None
    parent = os.path.dirname(path)
    while parent != os.path.dirname(parent) and not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return "%s cannot be created: %s is a file, not a directory" % (path, parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        return "%s cannot be created: %s is not writable by this user" % (path, parent)
    return None


def _storageProblems(config, dataDirUsable):
    from xmppframe.storage import DRIVERS
    driver = DRIVERS.get(config.storage.driver)
    path = config.storage.path
    if driver is None or not getattr(driver, "durable", False) or not path or path == ":memory:":
        return
    if os.path.isdir(path):
        yield "storage.path: %s is a directory, not a database file" % (path,)
        return
    directory = os.path.dirname(path)
    if directory == config.data_dir and not dataDirUsable:
        return  # already said, about data_dir
    problem = _directoryProblem(directory)
    if problem is not None:
        yield "storage.path: the database's directory " + problem
        return
    from xmppframe.installation import missingDatabaseProblem
    problem = missingDatabaseProblem(config)
    if problem is not None:
        yield problem


# Certificates and keys.

def _certificateProblems(config, host, dataDirUsable):
    """
    The problems with the certificate and key of C{host}: a configured
    pair must load and belong together; a generated pair (no
    C{certificate}) is checked when it exists, and made at start-up when
    it does not.
    """
    keys = ("hosts", host.name)
    if host.certificate is None:
        if not dataDirUsable:
            return
        directory = os.path.join(config.data_dir, "certs")
        if os.path.lexists(directory) and not os.path.isdir(directory):
            yield "%s: the generated certificate cannot be stored: %s is a file, not a " \
                "directory" % (_keyPath(keys + ("certificate",)), directory)
            return
        certPath = os.path.join(directory, host.name + ".crt")
        keyPath = os.path.join(directory, host.name + ".key")
        if not (os.path.exists(certPath) and os.path.exists(keyPath)):
            return
        problem = _pairProblem(certPath, keyPath, "certificate", "key")
        if problem is not None:
            yield "%s: the generated certificate cannot be used: %s (run 'xmppframe cert " \
                "generate %s' to make a new one)" % (
                    _keyPath(keys + ("certificate",)), problem[1], host.name)
        return
    keyPath = host.key or host.certificate
    problem = _pairProblem(host.certificate, keyPath, "certificate",
                           "key" if host.key else "certificate")
    if problem is not None:
        key, message = problem
        yield "%s: %s" % (_keyPath(keys + (key,)), message)


def _pairProblem(certPath, keyPath, certKey, keyKey):
    """
    Why the certificate chain at C{certPath} and the key at C{keyPath}
    cannot serve TLS, or C{None}.

    @return: C{(key, message)}: which of C{certKey} and C{keyKey} is at
        fault, and why.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.exceptions import UnsupportedAlgorithm

    data, problem = _readFile(certPath)
    if problem is not None:
        return certKey, problem
    if b"-----BEGIN" not in data:
        return certKey, "%s is not a PEM file (a PEM certificate begins with " \
            "'-----BEGIN CERTIFICATE-----')" % (certPath,)
    try:
        certificate = x509.load_pem_x509_certificates(data)[0]
    except ValueError:
        return certKey, "%s holds no PEM certificate that can be read" % (certPath,)
    if keyPath != certPath:
        data, problem = _readFile(keyPath)
        if problem is not None:
            return keyKey, problem
    if b"PRIVATE KEY-----" not in data:
        if keyPath == certPath:
            return keyKey, ("%s holds a certificate but not its private key: set key to the "
                            "file of the private key" % (certPath,))
        return keyKey, "%s is not a PEM private key" % (keyPath,)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        return keyKey, ("the private key in %s is protected by a passphrase; the server "
                        "needs it without one" % (keyPath,))
    except (ValueError, UnsupportedAlgorithm):
        return keyKey, "the private key in %s is damaged or of a kind that cannot be " \
            "read" % (keyPath,)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        matches = (key.public_key().public_bytes(*spki)
                   == certificate.public_key().public_bytes(*spki))
    except (ValueError, UnsupportedAlgorithm):
        matches = True  # left to OpenSSL, below
    if not matches:
        return keyKey, "the private key in %s does not belong to the certificate in %s" % (
            keyPath, certPath)
    from xmppframe.streams.tls import TLSConfigError, checkCertificate
    try:
        checkCertificate(certPath, keyPath)
    except TLSConfigError as e:
        return certKey, str(e)
    return None


def _readFile(path):
    """
    @return: C{(bytes, None)}, or C{(None, why it cannot be read)}.
    """
    if not os.path.lexists(path):
        return None, "no such file: %s" % (path,)
    if os.path.isdir(path):
        return None, "%s is a directory, not a file" % (path,)
    try:
        with open(path, "rb") as f:
            return f.read(), None
    except PermissionError:
        return None, "%s is not readable by this user" % (path,)
    except OSError as e:
        return None, "cannot read %s: %s" % (path, (e.strerror or str(e)).lower())


# Modules.

def moduleProblems(config, factories=None, hosts=None):
    """
    Each host's modules (of C{hosts}, by default every host) must be
    installed (or given in C{factories}), their dependencies met, and their
    options valid by their own schemas.
    """
    from xmppframe.moduleloader import ModuleLoadError, availableModules, loadOrder
    if factories is None:
        factories = availableModules()
    problems = []
    for host in (config.hosts if hosts is None else hosts):
        known = []
        for index, name in enumerate(host.modules):
            if name in factories:
                known.append(name)
            else:
                problems.append("%s: unknown module %r (installed: %s)" % (
                    _keyPath(("hosts", host.name, "modules", index)), name,
                    ", ".join(sorted(factories))))
        try:
            order = loadOrder(known, factories)
        except ModuleLoadError as e:
            problems.append("%s: %s" % (_keyPath(("hosts", host.name, "modules")), e))
            continue
        for name in order:
            try:
                validateModuleOptions(config, host.name, name,
                                      getattr(factories[name], "optionSchema", {}))
            except ConfigError as e:
                problems.append(str(e).removeprefix("config error: "))
    return problems
