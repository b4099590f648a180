"""
The command line of C{bench/run} and C{bench/compare}.

Output: C{# ...} lines describe the run (date, commit, machine, sizes);
every other line is C{name=value}.  C{bench/run} prints the figures of
xmppframe; C{bench/compare} prints C{xmppframe.NAME=}, C{prosody.NAME=}
and C{ratio.NAME=} (xmppframe / Prosody) lines.
"""

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys

import scenarios
import targets

__all__ = ["main"]


def _parser(compare):
    parser = argparse.ArgumentParser(
        prog="bench/compare" if compare else "bench/run",
        description="xmppframe benchmarks" + (" against Prosody" if compare else ""))
    parser.add_argument("--smoke", action="store_true",
                        help="every scenario with a few clients for a second each")
    parser.add_argument("--scenario", action="append", choices=sorted(scenarios.SCENARIOS),
                        help="run only this scenario (may be repeated)")
    parser.add_argument("--clients", type=int, default=1000,
                        help="clients in the login and chat scenarios (default 1000)")
    parser.add_argument("--idle-clients", type=int, default=None,
                        help="connections held in the idle scenario (default: --clients)")
    parser.add_argument("--presence-clients", type=int, default=None,
                        help="clients in the presence scenario (default: --clients)")
    parser.add_argument("--contacts", type=int, default=50,
                        help="roster size in the presence scenario (default 50)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of each message or presence phase (default 10)")
    parser.add_argument("--rate", type=int, default=2000,
                        help="messages per second of the fixed-rate chat phase (default 2000)")
    parser.add_argument("--workers", type=int, default=2,
                        help="load generator processes (default 2)")
    parser.add_argument("--profile", metavar="DIR", default=None,
                        help="record a py-spy profile of the server during each measured "
                             "phase into DIR (needs py-spy)")
    if not compare:
        parser.add_argument("--instructions", metavar="DIR", default=None,
                            help="run the server under valgrind's callgrind and report the "
                                 "instructions of each measured phase (kinstr_per_*), with "
                                 "callgrind's files in DIR; about fifty times slower, so use a "
                                 "few hundred clients")
    return parser


def _commit():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "unknown"


def _positive(parser, name, value):
    if value is not None and value <= 0:
        parser.error("%s must be greater than 0" % (name,))


def _checkEnvironment(parser):
    """
    The server under test runs with this Python: it needs xmppframe's
    dependencies.
    """
    try:
        import lxml  # noqa: F401
        import twisted.internet  # noqa: F401
    except ImportError as e:
        parser.exit(2, "%s: %s: run it with the Python of xmppframe's virtualenv, "
                       "e.g. .venv/bin/python %s\n" % (parser.prog, e, parser.prog))


def main(argv, compare):
    parser = _parser(compare)
    arguments = parser.parse_args(argv)
    _checkEnvironment(parser)
    if arguments.profile is not None and shutil.which("py-spy") is None:
        parser.exit(2, "%s: --profile needs py-spy (pip install py-spy)\n" % (parser.prog,))
    instructions = getattr(arguments, "instructions", None)
    if instructions is not None and (shutil.which("valgrind") is None
                                     or shutil.which("callgrind_control") is None):
        parser.exit(2, "%s: --instructions needs valgrind\n" % (parser.prog,))
    for name in ("clients", "idle_clients", "presence_clients", "contacts", "duration",
                 "rate", "workers"):
        _positive(parser, "--" + name.replace("_", "-"), getattr(arguments, name))
    if arguments.smoke:
        options = scenarios.Options.forSmoke()
        options.profile = arguments.profile
        options.instructions = instructions
    else:
        options = scenarios.Options(
            clients=arguments.clients, idleClients=arguments.idle_clients,
            presenceClients=arguments.presence_clients, workers=arguments.workers,
            duration=arguments.duration, rate=arguments.rate, contacts=arguments.contacts,
            profile=arguments.profile, instructions=instructions)
    names = arguments.scenario or list(scenarios.SCENARIOS)
    out = sys.stdout

    def describe(text):
        out.write("# %s\n" % (text,))
        out.flush()

    describe("date=%s commit=%s" % (datetime.datetime.now(datetime.timezone.utc)
                                   .strftime("%Y-%m-%dT%H:%M:%SZ"), _commit()))
    describe("machine=%s cpus=%d python=%s" % (platform.machine(), os.cpu_count(),
                                               platform.python_version()))
    describe("clients=%d idle_clients=%d presence_clients=%d contacts=%d duration=%s "
             "rate=%d workers=%d" % (options.clients, options.idleClients,
                                     options.presenceClients, options.contacts,
                                     options.duration, options.rate, options.workers))

    def emit(target, scenario, figure, value):
        prefix = target + "." if compare else ""
        out.write("%s%s=%s\n" % (prefix, figure, value))
        out.flush()

    try:
        results = {}
        for targetClass in ([targets.XmppframeTarget, targets.ProsodyTarget] if compare
                            else [targets.XmppframeTarget]):
            if targetClass is targets.ProsodyTarget and not targetClass.available():
                parser.exit(2, "bench/compare: prosody is not installed\n")
            for scenario in names:
                describe("target=%s scenario=%s" % (targetClass.name, scenario))
                results.setdefault(targetClass.name, {}).update(
                    scenarios.runScenarios(targetClass, [scenario], options, emit))
    except scenarios.BenchmarkFailed as e:
        sys.stderr.write("benchmark failed: %s\n" % (e,))
        return 1
    except KeyboardInterrupt:
        return 130
    if compare:
        describe("ratio = xmppframe / prosody (below 1: xmppframe uses less or is faster "
                 "for costs; for rates, above 1 is better)")
        for scenario in names:
            ours = results["xmppframe"].get(scenario, {})
            theirs = results["prosody"].get(scenario, {})
            for figure, value in ours.items():
                if figure in ("loadgen_cpu_pct", "server_cpu_pct", "server_sys_pct", "connections",
                              "deliveries_per_update"):
                    continue
                other = theirs.get(figure)
                if isinstance(value, (int, float)) and isinstance(other, (int, float)) and other:
                    out.write("ratio.%s=%.3f\n" % (figure, value / other))
    return 0
