"""
The log observer C{twistd xmppframe} writes its log with: twistd's own
choice of destination and line format, with two differences that matter
to an operator.

  - A level: events below the configured C{log_level} (C{info} by
    default) are dropped before they are formatted.  twistd writes every
    event, so without this a production log would carry every debug line.
  - A cheaper timestamp: twistd's text observer works out the local time
    zone's offset and formats the time for every line, which costs more
    than the rest of the line; here the prefix is formatted once per
    second and reused, so a busy server's per-login lines stay cheap.

Only the observer is built here; twistd still opens the log file, rotates
it, and starts and stops logging.
"""

import signal
import sys

from twisted.logger import (
    FileLogObserver, FilteringLogObserver, LegacyLogObserverWrapper, LogLevel,
    LogLevelFilterPredicate, formatEventAsClassicLogText, formatTime)
from twisted.python import logfile

__all__ = ["LOG_LEVELS", "CachedTimeFormatter", "levelFiltered", "textObserver",
           "twistdObserverFactory"]

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


def textObserver(outFile):
    """
    A L{FileLogObserver} writing twistd's classic line format
    (C{<time> [<system>] <text>}) to C{outFile}.
    """
    formatTime = CachedTimeFormatter()
    return FileLogObserver(
        outFile, lambda event: formatEventAsClassicLogText(event, formatTime=formatTime))


def levelFiltered(observer, levelName):
    """
    C{observer}, given only events at C{levelName} (one of L{LOG_LEVELS})
    or above.
    """
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(levelName))
    return FilteringLogObserver(observer, [predicate])


def _rotateOnSIGUSR1(logFile):
    """
    What twistd does for the log file it opens: SIGUSR1 rotates it (unless
    something else handles that signal).
    """
    if not signal.getsignal(signal.SIGUSR1):
        def rotate(signum, frame):
            from twisted.internet import reactor
            reactor.callFromThread(logFile.rotate)
        signal.signal(signal.SIGUSR1, rotate)


def twistdObserverFactory(twistdOptions, levelName):
    """
    A factory for twistd's C{--logger}: the observer twistd would make from
    its own options (C{--logfile}, C{--nodaemon}, C{--syslog},
    C{--prefix}), level-filtered and with L{textObserver}'s line format.

    @param twistdOptions: twistd's parsed command line.
    @param levelName: the configured C{log_level}.
    """
    def makeObserver():
        if twistdOptions.get("syslog"):
            from twisted.python import syslog
            observer = LegacyLogObserverWrapper(
                syslog.SyslogObserver(twistdOptions.get("prefix", "")).emit)
            return levelFiltered(observer, levelName)
        path = twistdOptions.get("logfile") or ""
        if path == "-" or (not path and twistdOptions.get("nodaemon")):
            if path == "-" and not twistdOptions.get("nodaemon"):
                sys.exit("Daemons cannot log to stdout, exiting!")
            outFile = sys.stdout
        else:
            outFile = logfile.LogFile.fromFullPath(path or TWISTD_LOG)
            _rotateOnSIGUSR1(outFile)
        return levelFiltered(textObserver(outFile), levelName)
    return makeObserver
