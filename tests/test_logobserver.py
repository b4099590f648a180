"""
The log observer twistd runs xmppframe with: C{log_level}, twistd's line
format, and twistd's choice of destination.
"""

import gc
import io
import os
import sys

from twisted.application.service import Application
from twisted.internet import reactor
from twisted.logger import (
    FilteringLogObserver, ILogObserver, LogLevel, LogLevelFilterPredicate,
    formatEventAsClassicLogText, formatTime)
from twisted.python.failure import Failure
from twisted.trial import unittest

from xmppframe import tap
from xmppframe.config import ConfigError, loadConfig
from xmppframe.logobserver import (
    CachedTimeFormatter, LevelFilter, LogControl, classicLogLine, levelFiltered, textObserver,
    twistdObserverFactory)


def event(level=LogLevel.info, when=1700000000.25, text="hello {who}", **fields):
    return dict(log_level=level, log_time=when, log_format=text, log_namespace="test",
                log_system="test#" + level.name, who="world", **fields)


def assertFiltered(testCase, observer, path, below, at):
    """
    C{observer} writes an event of level C{at} to the file C{path} and
    drops one of level C{below}.
    """
    observer(event(below, text="dropped"))
    observer(event(at, text="written"))
    with open(path) as f:
        text = f.read()
    testCase.assertNotIn("dropped", text)
    testCase.assertIn("written", text)


class CachedTimeFormatterTests(unittest.TestCase):

    def test_sameAsFormatTime(self):
        """
        The text is twistd's for every time, across second boundaries and
        back again (a clock stepped back).
        """
        formatter = CachedTimeFormatter()
        for when in (1700000000.0, 1700000000.9, 1700000001.0, 1700000059.5,
                     1700000000.1, 1800000000.0, None):
            self.assertEqual(formatter(when), formatTime(when))

    def test_formattedOncePerSecond(self):
        calls = []

        def counting(when):
            calls.append(when)
            return formatTime(when)

        formatter = CachedTimeFormatter(counting)
        for fraction in range(10):
            formatter(1700000000 + fraction / 10)
        formatter(1700000001.5)
        self.assertEqual(calls, [1700000000, 1700000001])


class Point:
    x = 3


class ClassicLogLineTests(unittest.TestCase):
    """
    L{classicLogLine} writes exactly what Twisted's classic formatter does.
    """

    def assertSameLine(self, event):
        self.assertEqual(classicLogLine(event), formatEventAsClassicLogText(event))

    def test_plain(self):
        self.assertSameLine(event())

    def test_specsAttributesIndexes(self):
        self.assertSameLine(event(text="{n:>5} {p.x} {l[1]} {who!r}", n=7, p=Point(), l=[1, 2]))

    def test_multiline(self):
        self.assertSameLine(event(text="one\ntwo"))

    def test_systemFromNamespace(self):
        e = event()
        del e["log_system"]
        self.assertSameLine(e)
        del e["log_level"], e["log_namespace"]
        self.assertSameLine(e)

    def test_callSyntax(self):
        self.assertSameLine(event(text="{f()}", f=lambda: "called"))

    def test_unformattable(self):
        self.assertSameLine(event(text="{missing}"))
        self.assertSameLine(event(text="{}"))

    def test_noText(self):
        self.assertSameLine(event(text=""))
        e = event()
        del e["log_format"]
        self.assertSameLine(e)

    def test_failure(self):
        try:
            1 / 0
        except ZeroDivisionError:
            failure = Failure()
        self.assertSameLine(event(text="it broke", log_failure=failure))


class ObserverTests(unittest.TestCase):

    def test_classicFormat(self):
        """
        Lines look exactly as twistd's own observer writes them.
        """
        out = io.StringIO()
        observer = textObserver(out)
        observer(event())
        self.assertEqual(out.getvalue(), formatEventAsClassicLogText(event()))

    def test_levelFiltered(self):
        out = io.StringIO()
        observer = levelFiltered(textObserver(out), "info")
        observer(event(LogLevel.debug, text="quiet"))
        observer(event(LogLevel.info, text="said"))
        observer(event(LogLevel.error, text="shouted"))
        lines = out.getvalue().splitlines()
        self.assertEqual([line.split("] ")[1] for line in lines], ["said", "shouted"])

    def test_levelFilterAgreesWithTwisted(self):
        """
        L{LevelFilter} passes exactly what Twisted's filtering observer
        with a level predicate passes, for every level and for events
        without a level or a namespace.
        """
        events = [event(level) for level in LogLevel.iterconstants()]
        events.append({"log_namespace": "x", "log_format": "no level"})
        events.append({"log_level": LogLevel.error, "log_format": "no namespace"})
        events.append({"log_level": LogLevel.error, "log_namespace": "", "log_format": "empty"})
        for minimum in LogLevel.iterconstants():
            ours, theirs = [], []
            mine = LevelFilter(ours.append, minimum)
            twisted = FilteringLogObserver(
                theirs.append, [LogLevelFilterPredicate(defaultLogLevel=minimum)])
            for each in events:
                mine(each)
                twisted(each)
            self.assertEqual(ours, theirs, minimum)

    def test_debugLevelKeepsDebug(self):
        out = io.StringIO()
        observer = levelFiltered(textObserver(out), "debug")
        observer(event(LogLevel.debug, text="detail"))
        self.assertIn("detail", out.getvalue())


class TwistdObserverFactoryTests(unittest.TestCase):
    """
    The destination is the one twistd would choose from its own options.
    """

    def test_logfile(self):
        path = os.path.abspath(self.mktemp())
        observer = twistdObserverFactory({"logfile": path, "nodaemon": True}, "info", reactor)()
        assertFiltered(self, observer, path, LogLevel.debug, LogLevel.warn)

    def test_nodaemonWithoutLogfileIsStdout(self):
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        observer = twistdObserverFactory({"logfile": None, "nodaemon": True}, "info", reactor)()
        observer(event())
        self.assertIn("hello world", out.getvalue())

    def test_daemonWithoutLogfileIsTwistdLog(self):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(directory)
        observer = twistdObserverFactory({"logfile": None, "nodaemon": False}, "info", reactor)()
        observer(event())
        with open(os.path.join(directory, "twistd.log")) as f:
            self.assertIn("hello world", f.read())


class LogControlTests(unittest.TestCase):
    """
    What a reload changes in the log: the level, and the file, reopened.
    """

    def test_reopenMovedFile(self):
        """
        After the file was moved away (log rotation), reopening writes to
        a new file under the same name; the moved one keeps what it had.
        """
        path = os.path.abspath(self.mktemp())
        control = LogControl()
        observer = twistdObserverFactory({"logfile": path, "nodaemon": True}, "info",
                                         reactor, control)()
        self.addCleanup(control.logFile.close)
        observer(event(text="before"))
        os.rename(path, path + ".1")
        self.assertTrue(control.reopen())
        observer(event(text="after"))
        with open(path) as f:
            self.assertEqual([line.split(" ", 1)[1] for line in f], ["[test#info] after\n"])
        with open(path + ".1") as f:
            self.assertIn("before", f.read())

    def test_setLevel(self):
        path = os.path.abspath(self.mktemp())
        control = LogControl()
        observer = twistdObserverFactory({"logfile": path, "nodaemon": True}, "info",
                                         reactor, control)()
        self.addCleanup(control.logFile.close)
        self.assertEqual(control.level(), "info")
        control.setLevel("warn")
        self.assertEqual(control.level(), "warn")
        assertFiltered(self, observer, path, LogLevel.info, LogLevel.warn)

    def test_noFile(self):
        """
        Logging to stdout: there is nothing to reopen.
        """
        self.patch(sys, "stdout", io.StringIO())
        control = LogControl()
        twistdObserverFactory({"logfile": None, "nodaemon": True}, "info", reactor, control)()
        self.assertFalse(control.reopen())
        self.assertIsNone(LogControl().level())


class TapTests(unittest.TestCase):
    """
    C{twistd xmppframe} hands twistd the observer through the application.
    """

    def options(self, configText, twistdOptions):
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(configText)
        options = tap.Options()
        options.parent = twistdOptions
        options.parseOptions(["--config", path])
        return options

    def test_applicationObserver(self):
        logPath = os.path.abspath(self.mktemp())
        options = self.options('log_level = "warn"\n', {"logfile": logPath, "nodaemon": True})
        application = Application("xmppframe")
        tap.makeService(options).setServiceParent(application)
        observer = application.getComponent(ILogObserver)
        self.assertIsNotNone(observer)
        assertFiltered(self, observer, logPath, LogLevel.info, LogLevel.warn)

    def test_existingObserverKept(self):
        options = self.options("", {"logfile": self.mktemp(), "nodaemon": True})
        application = Application("xmppframe")
        def mine(event):
            pass
        application.setComponent(ILogObserver, mine)
        tap.makeService(options).setServiceParent(application)
        self.assertIs(application.getComponent(ILogObserver), mine)

    def test_collectorTuned(self):
        """
        Once twistd's server is up, what start-up made is left out of the
        cyclic collector's full collections, and the young generation is
        collected less often.
        """
        options = self.options("", {"logfile": self.mktemp(), "nodaemon": True})
        service = tap.makeService(options)
        self.addCleanup(gc.unfreeze)
        self.addCleanup(gc.set_threshold, *gc.get_threshold())
        marker = object()
        self.assertIs(service._tuneCollector(marker), marker)
        self.assertGreater(gc.get_freeze_count(), 0)
        self.assertEqual(gc.get_threshold()[0], tap.GC_THRESHOLD0)

    def test_noTwistd(self):
        """
        Outside twistd (no parent command line) logging is left alone.
        """
        options = self.options("", None)
        del options.parent
        self.assertIsNone(tap.makeService(options).logObserverFactory)


class LogLevelConfigTests(unittest.TestCase):

    def load(self, text):
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(text)
        return loadConfig(path)

    def test_default(self):
        self.assertEqual(self.load("").log_level, "info")

    def test_unknown(self):
        error = self.assertRaises(ConfigError, self.load, 'log_level = "verbose"\n')
        self.assertIn("log_level", str(error))
