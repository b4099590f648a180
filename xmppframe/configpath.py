"""
Which configuration file the server and the admin command read: one rule
for both, so that C{xmppframe user add} works on the server's storage.

  1. the file given on the command line (C{--config FILE});
  2. else the file named by the environment variable C{XMPPFRAME_CONFIG};
  3. else C{./xmppframe.toml}, if it exists;
  4. else C{/etc/xmppframe/xmppframe.toml}, if it exists;
  5. else none: the built-in defaults (data in C{./data}, the host
     C{localhost}).

A file named explicitly (1 or 2) is used even if it does not exist, so that
reading it fails with its name rather than falling back to another file.
"""

import os

__all__ = ["CONFIG_ENVIRONMENT", "CONFIG_LOCATIONS", "SEARCH_ORDER", "findConfig"]

#: The environment variable that names the configuration file.
CONFIG_ENVIRONMENT = "XMPPFRAME_CONFIG"

#: The files read, the first that exists, when none is named.
CONFIG_LOCATIONS = ("xmppframe.toml", "/etc/xmppframe/xmppframe.toml")

#: The rule in a sentence, for help texts.
SEARCH_ORDER = (
    "--config FILE, else the file named by $%s, else ./%s or %s, the first "
    "that exists, else the built-in defaults (data in ./data, the host "
    "\"localhost\")" % ((CONFIG_ENVIRONMENT,) + CONFIG_LOCATIONS))


def findConfig(given=None, environ=None, exists=os.path.isfile):
    """
    @param given: the file named on the command line, or C{None}.
    @param environ: the environment (L{os.environ} by default).
    @param exists: tells whether a path is a file (for tests).
    @return: the path of the configuration file to read, or C{None} for the
        built-in defaults.
    """
    if given:
        return given
    if environ is None:
        environ = os.environ
    named = environ.get(CONFIG_ENVIRONMENT)
    if named:
        return named
    for candidate in CONFIG_LOCATIONS:
        if exists(candidate):
            return candidate
    return None
