"""
The benchmark scenarios and the orchestrator that runs them: it starts
the server under test (see L{targets}), forks the load generator's
worker processes (see L{loadgen}), and samples the server's CPU time and
resident memory from C{/proc} before and after each measured phase.

Each scenario yields figures, printed as one C{name=value} line each:

  - C{login}: C{cpu_ms_per_login}, C{login_rate} (SCRAM-SHA-1 over
    plaintext), C{cpu_ms_per_login_plain}, C{login_rate_plain} (PLAIN,
    which both servers offer only over TLS: Direct TLS, handshake
    included).
  - C{idle}: C{kib_per_conn} (resident memory per idle authenticated
    connection with initial presence sent).
  - C{chat}: C{cpu_us_per_msg}, C{msgs_per_s} at the highest rate the
    server sustains; C{p50_ms}, C{p99_ms}, C{cpu_us_per_msg_fixed} at a
    fixed rate (latency from the send time in each body).
  - C{presence}: C{cpu_us_per_presence_deliv}, C{presence_deliv_per_s}
    with rosters of C{contacts} contacts, all online.

A login is: TCP connect, stream, SASL, stream restart, resource bind,
initial presence.  Every measured phase also prints the generator's own
CPU use: C{loadgen_cpu_pct} is the busiest worker's CPU time over its
wall time; below ~80% the generator was not the bottleneck.
"""

import multiprocessing
import os
import shutil
import tempfile
import time

import loadgen
import targets
from instructions import InstructionCounter
from profiler import Profiler

__all__ = ["SCENARIOS", "Options", "runScenarios"]

PASSWORD = "bench-password"


class Options:
    """
    What to run and how big.
    """

    def __init__(self, clients=1000, idleClients=None, workers=2, duration=10.0, rate=2000,
                 contacts=50, presenceClients=None, smoke=False, profile=None,
                 instructions=None):
        self.clients = clients
        self.idleClients = idleClients or clients
        self.presenceClients = presenceClients or clients
        self.workers = workers
        self.duration = duration
        self.rate = rate
        self.contacts = contacts
        self.smoke = smoke
        #: A directory for py-spy profiles of each measured phase, or None.
        self.profile = profile
        #: A directory for callgrind's counts of each measured phase, or
        #: None (instructions.py).
        self.instructions = instructions

    @classmethod
    def forSmoke(cls):
        """
        A run of a few seconds that goes through every scenario, so the
        suite cannot rot unnoticed.
        """
        return cls(clients=24, workers=2, duration=1.0, rate=200, contacts=5, smoke=True)


class BenchmarkFailed(Exception):
    """
    A scenario could not run as intended (logins failed, a worker broke).
    """


class LoadGenerator:
    """
    The worker processes and the commands sent to all of them at once.
    """

    def __init__(self, target, workers):
        self.target = target
        context = multiprocessing.get_context("fork")
        self.connections = []
        self.processes = []
        for _ in range(workers):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=loadgen.workerMain,
                args=(theirs, "127.0.0.1", target.port, target.domain, PASSWORD), daemon=True)
            process.start()
            theirs.close()
            self.connections.append(mine)
            self.processes.append(process)

    def split(self, users, align=1):
        """
        Share C{users} among the workers in contiguous blocks of a
        multiple of C{align} (a chat pair, a roster clique), so that each
        worker holds both ends of what it measures.
        """
        blocks = [users[i:i + align] for i in range(0, len(users), align)]
        shares = [[] for _ in self.connections]
        perWorker = -(-len(blocks) // len(shares))
        for index, block in enumerate(blocks):
            shares[index // perWorker].extend(block)
        return shares

    def each(self, commands):
        """
        Send one command to each worker (a list, one per worker, or one
        dict for all) and wait for every answer.
        """
        if isinstance(commands, dict):
            commands = [commands] * len(self.connections)
        for connection, command in zip(self.connections, commands):
            connection.send(command)
        results = []
        for connection in self.connections:
            result = connection.recv()
            if "exception" in result:
                raise BenchmarkFailed("a load generator worker failed: " + result["exception"])
            results.append(result)
        return results

    def close(self):
        for connection in self.connections:
            try:
                connection.send(None)
            except OSError:
                pass
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.terminate()


class Run:
    """
    One scenario against one target: the target's process, the
    generator, and the figures gathered.
    """

    def __init__(self, target, generator, report, profiler=None, counter=None):
        self.target = target
        self.generator = generator
        self.report = report
        self.profiler = profiler
        #: The InstructionCounter, when the server runs under callgrind.
        self.counter = counter

    def measure(self, commands):
        """
        Run C{commands} on the workers between two samples of the server.

        @return: C{(serverCPUSeconds, wallSeconds, results)}.
        """
        if self.profiler is not None:
            self.profiler.start(self.target.pid)
        if self.counter is not None:
            self.counter.start(self.target.pid)
        before = self.target.sample()
        wall = time.monotonic()
        try:
            results = self.generator.each(commands)
        finally:
            wall = time.monotonic() - wall
            after = self.target.sample()
            if self.profiler is not None:
                self.profiler.stop()
            if self.counter is not None:
                self.counter.stop(self.target.pid)
        busiest = max(r["cpu"] / r["wall"] for r in results if r["wall"] > 0)
        self.report("loadgen_cpu_pct", round(100 * busiest, 1))
        self.report("server_cpu_pct", round(100 * (after.cpu - before.cpu) / wall, 1))
        if after.cpu > before.cpu:
            self.report("server_sys_pct",
                        round(100 * (after.system - before.system) / (after.cpu - before.cpu), 1))
        return after.cpu - before.cpu, wall, results

    def reportInstructions(self, figure, count):
        """
        Report the last phase's instructions per operation, in thousands,
        when they were counted.
        """
        if self.counter is not None and self.counter.total is not None and count:
            self.report(figure, round(self.counter.total / count / 1000.0, 2))

    def login(self, users, align=1, **options):
        shares = self.generator.split(users, align)
        commands = [dict(op="login", users=share, **options) for share in shares]
        cpu, wall, results = self.measure(commands)
        ok = sum(r["ok"] for r in results)
        failed = sum(r["failed"] for r in results)
        if failed > max(1, len(users) // 100):
            errors = [e for r in results for e in r["errors"]]
            raise BenchmarkFailed("%d of %d logins failed, e.g. %s" % (failed, len(users), errors[:3]))
        return cpu, wall, ok

    def close(self):
        self.generator.each({"op": "close"})

    def waitQuiet(self, limit=180.0, interval=0.5, busy=0.05):
        """
        Wait until the server has finished the work a phase left behind
        (the presence probes of a login storm, say): until it uses less
        than C{busy} of a core over C{interval}, or C{limit} seconds.
        """
        deadline = time.monotonic() + limit
        before = self.target.sample().cpu
        while time.monotonic() < deadline:
            time.sleep(interval)
            after = self.target.sample().cpu
            if after - before < busy * interval:
                return
            before = after


def _users(count):
    return [targets.userName(i) for i in range(count)]


def _percentile(values, fraction):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(fraction * len(values)))]


def scenarioLogin(run, options):
    users = _users(options.clients)
    cpu, wall, ok = run.login(users, mechanism="SCRAM-SHA-1")
    run.report("cpu_ms_per_login", round(1000 * cpu / ok, 3))
    run.reportInstructions("kinstr_per_login", ok)
    run.report("login_rate", round(ok / wall, 1))
    run.close()
    time.sleep(1)
    cpu, wall, ok = run.login(users, mechanism="PLAIN", tls=True, port=run.target.tlsPort)
    run.report("cpu_ms_per_login_plain", round(1000 * cpu / ok, 3))
    run.reportInstructions("kinstr_per_login_plain", ok)
    run.report("login_rate_plain", round(ok / wall, 1))
    run.close()


def scenarioIdle(run, options):
    users = _users(options.idleClients)
    # Warm up: the first login loads code and fills caches that every
    # later connection shares; they are not per-connection memory.
    run.login(users[:2])
    run.close()
    time.sleep(1)
    before = run.target.sample()
    cpu, wall, ok = run.login(users)
    run.generator.each({"op": "settle", "seconds": 3.0 if not options.smoke else 0.5})
    after = run.target.sample()
    run.report("kib_per_conn", round((after.rssKiB - before.rssKiB) / ok, 2))
    run.report("connections", ok)
    run.report("server_rss_mib", round(after.rssKiB / 1024, 1))
    run.close()


def scenarioChat(run, options):
    users = _users(options.clients - options.clients % 2)
    run.login(users, align=2)
    run.generator.each({"op": "settle", "seconds": 1.0 if not options.smoke else 0.2})
    run.waitQuiet()
    cpu, wall, results = run.measure({"op": "chat", "duration": options.duration})
    received = sum(r["received"] for r in results)
    sent = sum(r["sent"] for r in results)
    if received < sent * 0.99:
        raise BenchmarkFailed("only %d of %d messages arrived" % (received, sent))
    run.report("cpu_us_per_msg", round(1e6 * cpu / received, 2))
    run.reportInstructions("kinstr_per_msg", received)
    run.report("msgs_per_s", round(received / wall, 1))
    perWorker = options.rate / len(run.generator.connections)
    cpu, wall, results = run.measure({"op": "chat", "duration": options.duration,
                                      "rate": perWorker})
    received = sum(r["received"] for r in results)
    latencies = [value for r in results for value in r["latencies"]]
    run.report("cpu_us_per_msg_fixed", round(1e6 * cpu / max(received, 1), 2))
    run.report("fixed_rate_msgs_per_s", round(received / wall, 1))
    run.report("p50_ms", round(1000 * _percentile(latencies, 0.50), 3))
    run.report("p99_ms", round(1000 * _percentile(latencies, 0.99), 3))
    run.close()


def scenarioPresence(run, options):
    clique = options.contacts + 1
    count = options.presenceClients - options.presenceClients % clique
    if count < clique:
        raise BenchmarkFailed("the presence scenario needs at least %d clients" % (clique,))
    users = _users(count)
    run.login(users, align=clique)
    # Let the initial presence fan-out and probes of the logins finish.
    run.generator.each({"op": "settle", "seconds": 1.0 if not options.smoke else 0.2})
    run.waitQuiet()
    cpu, wall, results = run.measure({"op": "presence", "duration": options.duration})
    updates = sum(r["updates"] for r in results)
    received = sum(r["received"] for r in results)
    if received < updates * options.contacts:
        raise BenchmarkFailed("%d presence deliveries for %d updates to %d contacts each"
                              % (received, updates, options.contacts))
    run.report("cpu_us_per_presence_deliv", round(1e6 * cpu / received, 2))
    run.reportInstructions("kinstr_per_presence_deliv", received)
    run.report("presence_deliv_per_s", round(received / wall, 1))
    run.report("deliveries_per_update", round(received / updates, 2))
    run.close()


#: name -> (function, needs rosters, how many accounts it uses)
SCENARIOS = {
    "login": (scenarioLogin, False, lambda o: o.clients),
    "idle": (scenarioIdle, False, lambda o: o.idleClients),
    "chat": (scenarioChat, False, lambda o: o.clients),
    "presence": (scenarioPresence, True, lambda o: o.presenceClients),
}


def runScenarios(targetClass, names, options, emit):
    """
    Run the scenarios C{names} against fresh servers of C{targetClass},
    one per scenario, calling C{emit(scenario, name, value)} for each
    figure.

    @return: the figures, C{{scenario: {name: value}}}.
    """
    figures = {}
    for name in names:
        function, rosters, count = SCENARIOS[name]
        directory = tempfile.mkdtemp(prefix="xmppframe-bench-")
        target = targetClass(directory, count(options), PASSWORD,
                             options.contacts if rosters else 0)
        generator = None
        mine = figures[name] = {}

        def report(figure, value, name=name, mine=mine):
            key = figure
            if figure in ("loadgen_cpu_pct", "server_cpu_pct"):
                # One per measured phase: keep the highest.
                value = max(value, mine.get(figure, value))
            mine[key] = value
            if figure not in ("loadgen_cpu_pct", "server_cpu_pct"):
                emit(target.name, name, figure, value)

        try:
            profiler = None
            if options.profile is not None:
                profiler = Profiler(options.profile, "%s-%s" % (target.name, name))
            counter = None
            if options.instructions is not None:
                counter = InstructionCounter(options.instructions,
                                             "%s-%s" % (target.name, name))
                target.commandPrefix = counter.commandPrefix()
            target.start()
            generator = LoadGenerator(target, options.workers)
            function(Run(target, generator, report, profiler, counter), options)
            if profiler is not None:
                for path in profiler.written:
                    emit(target.name, name, "profile", path)
            for figure in ("loadgen_cpu_pct", "server_cpu_pct"):
                if figure in mine:
                    emit(target.name, name, figure, mine[figure])
            problems = target.errorsInLog()
            if problems:
                emit(target.name, name, "server_log_errors", len(problems))
        finally:
            if generator is not None:
                generator.close()
            target.stop()
            if os.environ.get("XMPPFRAME_BENCH_KEEP"):
                emit(target.name, name, "kept_directory", directory)
            else:
                shutil.rmtree(directory, ignore_errors=True)
    return figures
