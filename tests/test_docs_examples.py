"""
The documentation runs as written: the program in C{docs/embedding.md} and
the command in the docstring of C{examples/embedded_server.py}, each run in
a subprocess by a Python that has only xmppframe's dependencies (not
xmppframe itself) on its path, as a user with a checkout has; a client
then opens a stream to it.
"""

import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import sysconfig
import time

from twisted.trial import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: How long a program may take to listen, and then to stop.
TIMEOUT = 30


def pythonBlock(markdown):
    """
    The first C{```python} block of C{markdown}.
    """
    match = re.search(r"^```python\n(.*?)^```", markdown, re.M | re.S)
    if match is None:
        raise AssertionError("no python block")
    return match.group(1)


def docstringCommand(path):
    """
    The indented command line after "Run it" in the module docstring of
    the file C{path}.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    docstring = text.split('"""')[1]
    match = re.search(r"Run it.*?::\n\n((?:    [^\n]*\n)+)", docstring, re.S)
    if match is None:
        raise AssertionError("no command in the docstring of %s" % (path,))
    return shlex.split(match.group(1).strip())


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dependenciesOnlyEnvironment(*extra):
    """
    The environment of a Python that finds the installed dependencies but
    not this checkout through them: run with C{-S}, site-packages on
    C{PYTHONPATH} without its C{.pth} files (the editable install's among
    them), and C{extra} before it.
    """
    environment = dict(os.environ)
    paths = list(extra)
    for name in ("purelib", "platlib"):
        path = sysconfig.get_paths()[name]
        if path not in paths:
            paths.append(path)
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


class Program:
    """
    A program run in a subprocess whose output is read line by line.
    """

    def __init__(self, testCase, argv, cwd, env):
        self.testCase = testCase
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.output = []
        testCase.addCleanup(self.kill)

    def waitFor(self, pattern, timeout=TIMEOUT):
        """
        Read output until a line matches C{pattern}; the match.
        """
        deadline = time.monotonic() + timeout
        stdout = self.process.stdout
        buffered = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], 0.2)
            if not ready:
                if self.process.poll() is not None:
                    break
                continue
            data = os.read(stdout.fileno(), 65536)
            if not data:
                break
            buffered += data
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                line = line.decode("utf-8", "replace")
                self.output.append(line)
                match = re.search(pattern, line)
                if match:
                    return match
        self.testCase.fail("%r never printed %r; it printed:\n%s" % (
            self.process.args, pattern, "\n".join(self.output + [buffered.decode()])))

    def stop(self):
        """
        Ctrl-C, as the docs say; it exits at once and cleanly.
        """
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(TIMEOUT)
        finally:
            self.process.stdout.close()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not self.process.stdout.closed:
            self.process.stdout.close()


def assertServesStreams(testCase, port):
    """
    A client stream to localhost on C{port} is answered with a stream
    header and stream features.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
                  b"version='1.0'>")
        received = b""
        while b"</stream:features>" not in received:
            data = s.recv(65536)
            if not data:
                break
            received += data
    testCase.assertIn(b"<stream:stream", received)
    testCase.assertIn(b"<stream:features>", received)


class EmbeddingDocTests(unittest.TestCase):
    """
    docs/embedding.md's program.
    """

    def test_programRuns(self):
        """
        Run as written, except that every port it listens on is one the
        system picks (the c2s one it prints), so that the test runs beside a
        server on 5222 or 5269.
        """
        with open(os.path.join(ROOT, "docs", "embedding.md"), encoding="utf-8") as f:
            program = pythonBlock(f.read())
        self.assertIn("tcp:5222:", program)
        program = re.sub(r"tcp:\d+:", "tcp:0:", program)
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        running = Program(self, [sys.executable, "-S", "-c", program], directory,
                          dependenciesOnlyEnvironment(ROOT))
        port = int(running.waitFor(r"listening for clients on port (\d+)").group(1))
        assertServesStreams(self, port)
        self.assertEqual(running.stop(), 0)
        self.assertTrue(os.path.isdir(os.path.join(directory, "xmpp-data")))


class EmbeddedServerCommandTests(unittest.TestCase):
    """
    The command in examples/embedded_server.py's docstring.
    """

    def test_commandRuns(self):
        """
        Run from the top of the checkout as written, with this test's port
        and data directory.
        """
        argv = docstringCommand(os.path.join(ROOT, "examples", "embedded_server.py"))
        self.assertEqual(argv[0], "python")
        port = freePort()
        directory = os.path.abspath(self.mktemp())
        argv = [sys.executable, "-S"] + argv[1:]
        argv[argv.index("--port") + 1] = str(port)
        argv[argv.index("--data-dir") + 1] = directory
        running = Program(self, argv, ROOT, dependenciesOnlyEnvironment())
        running.waitFor(r"Created account demo@localhost")
        assertServesStreams(self, port)
        self.assertEqual(running.stop(), 0)
