"""
Instructions the server executes per login, message or presence delivery,
counted by valgrind's callgrind: a figure that does not move with the
machine's noise.

CPU time per operation varies by ten per cent and more from run to run on a
shared machine, which hides the effect of a small change.  An instruction
count is the same from run to run for the same code and input, so it shows
a 2% gain or loss at once.  It counts user-space instructions only (not the
kernel's work for system calls) and says nothing about how fast each one
runs, so the CPU figures remain the ones that count; this one is for
comparing two versions of the server.

C{bench/run --instructions DIR} starts the server under callgrind with
instrumentation off (the server runs about fifty times slower, so use a few
hundred clients), turns it on with C{callgrind_control} for each measured
phase only, dumps the counts at the end of the phase into DIR, and reports
C{kinstr_per_*} figures beside the CPU ones.
"""

import glob
import os
import shutil
import subprocess

__all__ = ["InstructionCounter", "InstructionCounterUnavailable", "readTotal"]


class InstructionCounterUnavailable(Exception):
    """
    valgrind (with callgrind_control) is not installed.
    """


def readTotal(path):
    """
    The instruction total of a callgrind output file (its C{summary:} or
    C{totals:} line), or C{None}.
    """
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    return None


class InstructionCounter:
    """
    Run the server under callgrind and count each measured phase.

    @ivar total: the instructions of the last phase, or C{None}.
    """

    def __init__(self, directory, prefix, timeout=120):
        self.valgrind = shutil.which("valgrind")
        self.control = shutil.which("callgrind_control")
        if self.valgrind is None or self.control is None:
            raise InstructionCounterUnavailable(
                "--instructions needs valgrind (apt-get install valgrind)")
        # Absolute: the server runs in a directory of its own.
        directory = os.path.abspath(directory)
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.prefix = prefix
        self.timeout = timeout
        self.total = None

    def commandPrefix(self):
        """
        What goes before the server's command line.
        """
        base = os.path.join(self.directory, self.prefix)
        return [self.valgrind, "--tool=callgrind", "--instr-atstart=no",
                "--callgrind-out-file=%s.%%p.out" % (base,),
                "--log-file=%s.%%p.log" % (base,)]

    def _control(self, pid, *arguments):
        subprocess.run([self.control] + list(arguments) + [str(pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=self.timeout)

    def start(self, pid):
        """
        Zero the counters and count from now.
        """
        self.total = None
        self._control(pid, "--zero")
        self._control(pid, "--instr=on")

    def stop(self, pid):
        """
        Stop counting; dump and read what was counted since L{start}.

        @return: the instructions counted.
        """
        before = set(self._dumps(pid))
        self._control(pid, "--dump")
        self._control(pid, "--instr=off")
        new = [path for path in self._dumps(pid) if path not in before]
        if not new:
            raise RuntimeError("callgrind wrote no dump for process %d" % (pid,))
        self.total = readTotal(max(new, key=os.path.getmtime))
        return self.total

    def _dumps(self, pid):
        return glob.glob(os.path.join(self.directory, "%s.%d.out.*" % (self.prefix, pid)))
