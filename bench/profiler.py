"""
Sampling profiles of the server under test during measured phases.

C{bench/run --profile DIR} runs py-spy (installed separately: C{pip
install py-spy}) against the server process for each measured phase
only, so that the profile shows the work the figure measures and not the
logins before it.  Each phase writes C{DIR/TARGET-SCENARIO-N.txt} in
py-spy's "raw" format (collapsed stacks, one per line, with a count),
which flame graph tools read; C{bench/profile-summary FILE} prints the
functions with the most samples.
"""

import os
import shutil
import signal
import subprocess

__all__ = ["Profiler", "ProfilerUnavailable"]


class ProfilerUnavailable(Exception):
    """
    py-spy is not installed.
    """


class Profiler:
    """
    Start and stop py-spy around phases of one scenario.
    """

    def __init__(self, directory, prefix, rate=250):
        self.executable = shutil.which("py-spy")
        if self.executable is None:
            raise ProfilerUnavailable("--profile needs py-spy: pip install py-spy")
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.prefix = prefix
        self.rate = rate
        self.phase = 0
        self.process = None
        self.written = []

    def start(self, pid):
        self.phase += 1
        path = os.path.join(self.directory, "%s-%d.txt" % (self.prefix, self.phase))
        self.process = subprocess.Popen(
            [self.executable, "record", "--pid", str(pid), "--format", "raw",
             "--rate", str(self.rate), "--output", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.written.append(path)

    def stop(self):
        """
        Stop sampling; py-spy writes its file when interrupted.
        """
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
