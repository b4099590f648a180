"""
The log observer C{twistd xmppframe} writes its log with: twistd's own
choice of destination and line format, with two differences that matter
to an operator.

  - A level: events below the configured C{log_level} (C{info} by
    default) are dropped before they are formatted.  twistd writes every
    event, so without this a production log would carry every debug line.
  - Cheaper lines, with the same text: twistd's text observer works out
    the local time zone's offset and formats the time for every line, and
    formats the message with a formatter written in Python; here the
    timestamp is formatted once per second and reused, and plain messages
    are formatted by C{str.format_map}, so a busy server's per-login lines
    stay cheap.  The level check is a set lookup (L{LevelFilter}), since
    every debug event a module emits reaches it.

Only the observer is built here; twistd still starts and stops logging.
L{LogControl} is what a configuration reload (SIGHUP, L{xmppframe.reload})
changes: the level, and the log file, reopened.
"""

import signal
import sys

from twisted.logger import (
    FileLogObserver, ILogObserver, LegacyLogObserverWrapper, LogLevel,
    formatEventAsClassicLogText, formatTime)
from twisted.python import logfile
from zope.interface import implementer

__all__ = ["LOG_LEVELS", "CachedTimeFormatter", "LevelFilter", "LogControl", "classicLogLine",
           "levelFiltered",
           "textObserver", "twistdObserverFactory"]

#: The names C{log_level} accepts, lowest first.
LOG_LEVELS = ("debug", "info", "warn", "error", "critical")

#: twistd's default log file name when it runs as a daemon.
TWISTD_LOG = "twistd.log"


class CachedTimeFormatter:
    """
    L{twisted.logger.formatTime} for log lines, formatted once per second of
    wall-clock time: lines within the same second share the same text,
    since the format has whole seconds only.
    """

    def __init__(self, format=formatTime):
        self._format = format
        self._second = None
        self._text = ""

    def __call__(self, when):
        if when is None:
            return self._format(when)
        second = int(when)
        if second != self._second:
            self._text = self._format(second)
            self._second = second
        return self._text


def classicLogLine(event, formatTime=formatTime):
    """
    L{formatEventAsClassicLogText}, the same text, with the common case (a
    plain C{log_format} of names, attributes and format specs) done by
    C{str.format_map}: Twisted's own formatter is written in Python and
    costs several times more.  Anything else (a failure to append, the
    C{{name()}} call syntax, a format that does not apply) is left to
    Twisted's.
    """
    text = event.get("log_format")
    if type(text) is not str or "()" in text or "log_failure" in event or "log_flattened" in event:
        return formatEventAsClassicLogText(event, formatTime=formatTime)
    try:
        text = text.format_map(event)
        system = event.get("log_system")
        if system is None:
            level = event.get("log_level")
            system = "%s#%s" % (event.get("log_namespace", "-"),
                                "-" if level is None else level.name)
        else:
            system = str(system)
    except Exception:
        return formatEventAsClassicLogText(event, formatTime=formatTime)
    if not text:
        return None
    return "%s [%s] %s\n" % (formatTime(event.get("log_time")), system,
                             text.replace("\n", "\n\t"))


def textObserver(outFile):
    """
    A L{FileLogObserver} writing twistd's classic line format
    (C{<time> [<system>] <text>}) to C{outFile}.
    """
    formatTime = CachedTimeFormatter()
    return FileLogObserver(outFile, lambda event: classicLogLine(event, formatTime))


@implementer(ILogObserver)
class LevelFilter:
    """
    Pass on to C{observer} the events at C{minimum} or above.

    What Twisted's C{FilteringLogObserver} with a C{LogLevelFilterPredicate}
    decides for a single level, decided by one set lookup: the predicate
    works out a level for each event's namespace, and comparing two
    C{LogLevel}s lists every level, which made the check cost about as
    much as writing the line.  As with that predicate, an event without a
    level or a namespace is dropped.
    """

    def __init__(self, observer, minimum):
        self._observer = observer
        self.setMinimum(minimum)

    def setMinimum(self, minimum):
        """
        Pass on the events at C{minimum} (a C{LogLevel}) or above from now.
        """
        self.minimum = minimum
        self._levels = frozenset(
            level for level in LogLevel.iterconstants() if level >= minimum)

    def __call__(self, event):
        if event.get("log_level") in self._levels and event.get("log_namespace"):
            self._observer(event)


def levelFiltered(observer, levelName):
    """
    C{observer}, given only events at C{levelName} (one of L{LOG_LEVELS})
    or above.
    """
    return LevelFilter(observer, LogLevel.levelWithName(levelName))


def _rotateOnSIGUSR1(logFile, reactor):
    """
    What twistd does for the log file it opens: SIGUSR1 rotates it (unless
    something else handles that signal), in C{reactor}'s thread.
    """
    if not signal.getsignal(signal.SIGUSR1):
        def rotate(signum, frame):
            reactor.callFromThread(logFile.rotate)
        signal.signal(signal.SIGUSR1, rotate)


class LogControl:
    """
    What a configuration reload (SIGHUP) changes in the log that
    L{twistdObserverFactory}'s observer writes: its level, and the file it
    writes to, reopened under its name (after the file was moved away by
    log rotation, say).  Both are C{None} until twistd made the observer;
    C{logFile} stays C{None} when the log goes to stdout or syslog.
    """

    def __init__(self):
        self.filter = None
        self.logFile = None

    def level(self):
        """
        The name of the level the log is written at, or C{None}.
        """
        if self.filter is None:
            return None
        return self.filter.minimum.name

    def setLevel(self, levelName):
        if self.filter is not None:
            self.filter.setMinimum(LogLevel.levelWithName(levelName))

    def reopen(self):
        """
        Reopen the log file under its name.

        @return: whether there is a log file to reopen.
        """
        if self.logFile is None:
            return False
        self.logFile.reopen()
        return True


def twistdObserverFactory(twistdOptions, levelName, reactor, control=None):
    """
    A factory for twistd's C{--logger}: the observer twistd would make from
    its own options (C{--logfile}, C{--nodaemon}, C{--syslog},
    C{--prefix}), level-filtered and with L{textObserver}'s line format.

    @param twistdOptions: twistd's parsed command line.
    @param levelName: the configured C{log_level}.
    @param reactor: the reactor that rotates the log file on SIGUSR1.
    @param control: a L{LogControl}, given the observer's level filter and
        log file once made.
    """
    if control is None:
        control = LogControl()

    def makeObserver():
        if twistdOptions.get("syslog"):
            from twisted.python import syslog
            observer = LegacyLogObserverWrapper(
                syslog.SyslogObserver(twistdOptions.get("prefix", "")).emit)
            control.filter = levelFiltered(observer, levelName)
            return control.filter
        path = twistdOptions.get("logfile") or ""
        if path == "-" or (not path and twistdOptions.get("nodaemon")):
            if path == "-" and not twistdOptions.get("nodaemon"):
                sys.exit("Daemons cannot log to stdout, exiting!")
            outFile = sys.stdout
        else:
            outFile = logfile.LogFile.fromFullPath(path or TWISTD_LOG)
            _rotateOnSIGUSR1(outFile, reactor)
            control.logFile = outFile
        control.filter = levelFiltered(textObserver(outFile), levelName)
        return control.filter
    makeObserver.control = control
    return makeObserver
