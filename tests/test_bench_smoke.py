"""
The benchmark suite (C{bench/}) in its smoke mode: every scenario with a
few clients for about a second, so that the suite cannot rot unnoticed.
The figures themselves are not checked here (benchmarks are not unit
tests); only that each one is printed as a C{name=value} line.
"""

import os
import re
import subprocess
import sys

from twisted.internet import threads
from twisted.trial import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Every figure C{bench/run --smoke} must print, as the issue lists them.
FIGURES = ("cpu_ms_per_login", "login_rate", "cpu_ms_per_login_plain", "login_rate_plain",
           "kib_per_conn", "cpu_us_per_msg", "msgs_per_s", "p50_ms", "p99_ms",
           "cpu_us_per_presence_deliv", "presence_deliv_per_s", "loadgen_cpu_pct",
           "server_cpu_pct")

_LINE = re.compile(r"^([a-z0-9_]+)=(\S+)$")


class BenchSmokeTests(unittest.TestCase):

    timeout = 180

    def test_everyFigurePrinted(self):
        """
        C{bench/run --smoke} exits 0 and prints every figure as
        C{name=value}, with a number for a value.
        """
        def run():
            return subprocess.run(
                [sys.executable, os.path.join(ROOT, "bench", "run"), "--smoke"],
                capture_output=True, text=True, cwd=ROOT, timeout=150,
                stdin=subprocess.DEVNULL)

        def check(result):
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            figures = {}
            for line in result.stdout.splitlines():
                match = _LINE.match(line)
                if match:
                    figures.setdefault(match.group(1), match.group(2))
            for name in FIGURES:
                self.assertIn(name, figures, result.stdout)
                float(figures[name])
            self.assertIn("# date=", result.stdout)
            self.assertNotIn("server_log_errors", figures, result.stdout)

        return threads.deferToThread(run).addCallback(check)

    def test_badArgument(self):
        """
        A wrong argument is a usage error, not a traceback.
        """
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, "bench", "run"), "--clients", "0"],
            capture_output=True, text=True, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--clients must be greater than 0", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_pipeline(self):
        """
        C{bench/pipeline} (in-process, no sockets) runs with small numbers
        and prints its figures.
        """
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, "bench", "pipeline"), "--users", "12",
             "--contacts", "5", "--messages", "200", "--updates", "20"],
            capture_output=True, text=True, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        figures = dict(_LINE.match(line).groups() for line in result.stdout.splitlines()
                       if _LINE.match(line))
        for name in ("pipeline_us_per_msg", "pipeline_us_per_presence_deliv"):
            float(figures[name])
        # Every update reaches the 5 contacts and the sender's own session.
        self.assertEqual(float(figures["pipeline_deliveries_per_update"]), 6.0)

    def test_profileNeedsPySpy(self):
        """
        C{--profile} without py-spy on the PATH is a usage error.
        """
        env = dict(os.environ, PATH="/nonexistent")
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, "bench", "run"), "--smoke", "--profile",
             self.mktemp()],
            capture_output=True, text=True, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL,
            env=env)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("needs py-spy", result.stderr)

    def test_instructions(self):
        """
        C{--instructions} runs the server under callgrind and prints the
        instruction figures of the measured phases.
        """
        import shutil
        if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
            raise unittest.SkipTest("valgrind is not installed")
        # Absolute: bench/run runs in the checkout, not in the test's directory.
        directory = os.path.abspath(self.mktemp())

        def run():
            return subprocess.run(
                [sys.executable, os.path.join(ROOT, "bench", "run"), "--smoke", "--scenario",
                 "login", "--instructions", directory],
                capture_output=True, text=True, cwd=ROOT, timeout=170,
                stdin=subprocess.DEVNULL)

        def check(result):
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            figures = dict(_LINE.match(line).groups() for line in result.stdout.splitlines()
                           if _LINE.match(line))
            for name in ("kinstr_per_login", "kinstr_per_login_plain"):
                self.assertGreater(float(figures[name]), 0, result.stdout)

        return threads.deferToThread(run).addCallback(check)


class ReadTotalTests(unittest.TestCase):

    def test_summaryOrTotals(self):
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        self.addCleanup(sys.path.remove, os.path.join(ROOT, "bench"))
        from instructions import readTotal
        for line in ("summary: 12345\n", "totals: 12345\n"):
            path = self.mktemp()
            with open(path, "w") as f:
                f.write("version: 1\ncreator: callgrind\nevents: Ir\n" + line)
            self.assertEqual(readTotal(path), 12345)
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("events: Ir\n")
        self.assertIsNone(readTotal(path))
