"""
Whether the data directory belongs to an existing installation, so that a
database that has gone is an error instead of a new, empty one.

SQLite makes a new database wherever it is asked to open a file that is
missing or empty (0 bytes), so, left alone, a deleted or truncated
database comes back at the next start as an empty one: every account is
gone, and the log says only that the schema was migrated.  Nothing in the
database can say that it existed once; something next to it has to.

The record: the file L{RECORD_NAME} in C{data_dir}, written (mode 0600,
atomically, by L{xmppframe.privatefiles.writePrivateFile}) once the server
or C{xmppframe storage init} has opened a database of a driver that keeps
one in a file.  That is the first start, which creates the database and
logs C{Created the database PATH}, and also the first start of a server
that ran before there was a record.  It is JSON::

    {"database": "/srv/xmpp/data/xmppframe.sqlite",
     "created": "2024-05-01T10:00:00Z", "xmppframe": "0.1.0"}

C{database} is the absolute path of the database, C{created} when it was
created (or, for a database older than its record, first recorded), in
UTC.  The name is unlike the database's, so removing
C{data/xmppframe.sqlite*} leaves the record; nothing in xmppframe removes
it.

The rule, checked before every start by L{xmppframe.preflight} (so
C{xmppframe config check} reports it too):

  - no record: a first start; the database is created and the record
    written.
  - a record, and the configured database (C{storage.path}) is missing or
    0 bytes: the start is refused with one line that names the file and
    says what to do: restore it from a backup, or run C{xmppframe storage
    init} to start over with an empty one (which writes a new record).  If
    the record names another file, the line names it too: the database
    may have been moved, or C{storage.path} changed.
  - a record, and the database is there: the record is brought up to date
    if it names another file.

Only C{xmppframe storage init} creates a database where the record says
one existed.  What this cannot tell: a data directory removed whole,
record and all, looks like a new installation, as it is by every sign
left; and a C{storage.path} outside C{data_dir} is protected only while
that C{data_dir} keeps its record.
"""

import datetime
import json
import os

from xmppframe import __version__
from xmppframe.privatefiles import makePrivateDirectories, writePrivateFile

__all__ = ["RECORD_NAME", "recordPath", "readRecord", "writeRecord", "isMissing",
           "keepsDatabaseFile", "missingDatabaseProblem", "recordDatabase"]

#: The record's file name, in C{data_dir}.
RECORD_NAME = "installation.json"


def recordPath(dataDir):
    """
    @return: the path of the record in C{dataDir}.
    """
    return os.path.join(dataDir, RECORD_NAME)


def readRecord(dataDir):
    """
    @return: the record of C{dataDir} as a dict, C{{}} for a record that
        cannot be read or decoded (it still says that an installation was
        here), or C{None} when there is none.
    """
    path = recordPath(dataDir)
    if not os.path.lexists(path):
        return None
    try:
        with open(path, "rb") as f:
            record = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def writeRecord(dataDir, databasePath, created=None):
    """
    Write the record of C{dataDir}: its database is C{databasePath},
    created at C{created} (POSIX time; now if C{None}).
    """
    if created is None:
        created = datetime.datetime.now(datetime.timezone.utc)
    else:
        created = datetime.datetime.fromtimestamp(created, datetime.timezone.utc)
    record = {"database": os.path.abspath(databasePath),
              "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "xmppframe": __version__}
    makePrivateDirectories(dataDir)
    writePrivateFile(recordPath(dataDir), (json.dumps(record, indent=1) + "\n").encode("utf-8"))


def isMissing(path):
    """
    Whether the database file C{path} is missing or empty: SQLite would
    make a new database of both.
    """
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return not os.path.isdir(path)


def keepsDatabaseFile(config):
    """
    Whether C{config}'s storage driver keeps its data in the file
    C{storage.path}, so that the record applies.
    """
    from xmppframe.storage import DRIVERS
    driver = DRIVERS.get(config.storage.driver)
    path = config.storage.path
    return (driver is not None and driver.durable and driver.usesPath
            and bool(path) and path != ":memory:")


def missingDatabaseProblem(config):
    """
    @return: the one line (beginning with C{storage.path:}) that refuses a
        start because the data directory's record says a database existed
        and the configured one is missing or empty; C{None} otherwise.
    """
    if not keepsDatabaseFile(config):
        return None
    path = config.storage.path
    if not isMissing(path):
        return None
    record = readRecord(config.data_dir)
    if record is None:
        return None
    state = "is empty (0 bytes)" if os.path.exists(path) else "is missing"
    recorded = record.get("database")
    since = record.get("created")
    since = " (created %s)" % (since,) if isinstance(since, str) else ""
    if isinstance(recorded, str) and os.path.abspath(recorded) != os.path.abspath(path):
        had = "had the database %s%s (if it was moved, set storage.path to where it is)" % (
            recorded, since)
    else:
        had = "had it" + since
    return ("storage.path: the database %s %s, but %s says this data directory %s: "
            "restore it from a backup, or run 'xmppframe storage init' to start over with "
            "an empty one" % (path, state, recordPath(config.data_dir), had))


def recordDatabase(config, created=False):
    """
    Write the record after the configured database was opened, if there
    is none yet, if it names another file, or if the database was just
    C{created}.

    @return: whether it was written.
    """
    if not keepsDatabaseFile(config) or isMissing(config.storage.path):
        return False
    record = readRecord(config.data_dir)
    if not created and record and isinstance(record.get("database"), str) and (
            os.path.abspath(record["database"]) == os.path.abspath(config.storage.path)):
        return False
    writeRecord(config.data_dir, config.storage.path)
    return True
