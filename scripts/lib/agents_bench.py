"""Issue 4's benchmark: 100 agents running `sleep 3600` under baton, pm2 and
supervisord, in the same run, interleaved per round. Run by
scripts/bench-agents.sh, which builds baton and installs the peers.

Each round starts a fresh daemon of each system in turn (the order rotates
from round to round), and for each way of driving it (its CLI, then its API
from one client already connected; the order alternates) times:

- start: from the first request until every request is answered and 100
  `sleep 3600` children of the daemon run (exec'd, not zombies), seen in
  /proc, polled every 2 ms;
- respawn (CLI pass only): SIGKILL one of them, then poll the daemon's
  children every 0.2 ms until a new `sleep` runs; KILLS times a round, each
  a different agent, with a pause between;
- RSS (CLI pass only): the daemon's VmRSS with the 100 running, after the
  respawns;
- stop: from the first request until every request is answered and none of
  the daemon's children runs `sleep`; each system stops the 100 at once with
  its bulk request (baton: the session's agents; pm2: all; supervisord: the
  group).

Each pass also checks that the system itself reports 100 running after the
start, and that nothing is left after the stop; each round ends with all the
daemons shut down and a check that no `sleep` started in this run's
directories is left anywhere (each system's agents run in a directory of
their own, which is how they are told apart from other processes).
"""

import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

N = 100
KILLS = 5
TIMEOUT = 120.0
now = time.perf_counter
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- /proc


def children(pid):
    """The pids of `pid`'s children, from every thread's children file."""
    kids = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.update(map(int, f.read().split()))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return kids


def comm_state(pid):
    """A process's command name and state letter, or (None, None) if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None, None
    return stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]


def live_sleep(pid):
    comm, state = comm_state(pid)
    return comm == "sleep" and state not in ("Z", "X")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])


def cpu_s(pid):
    """User and system CPU time of the whole process (every thread, the
    exited ones included), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu_ns(pid):
    """CPU time of each live thread, by name (ns, from schedstat)."""
    by_name = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
        by_name[(tid, name)] = ns
    return by_name


def sleeps_in(directory):
    """Every live `sleep` on the machine whose working directory is `directory`
    or under it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if (cwd == directory or cwd.startswith(directory + "/")) and live_sleep(pid):
            found.append(pid)
    return found


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Children:
    """Reads a daemon's children cheaply enough to poll: a process's children
    are listed per thread, and baton, for one, has dozens of threads (tokio's
    blocking pool) of which one forks. Each call reads the threads that have
    had children, and every `full_every`th call all of them."""

    def __init__(self, pid, full_every):
        self.pid, self.full_every = pid, full_every
        self.hot, self.calls = set(), 0

    def __call__(self):
        full = self.calls % self.full_every == 0 or not self.hot
        self.calls += 1
        try:
            tids = os.listdir(f"/proc/{self.pid}/task") if full else list(self.hot)
        except FileNotFoundError:
            return set()
        kids = set()
        for tid in tids:
            try:
                with open(f"/proc/{self.pid}/task/{tid}/children") as f:
                    listed = f.read().split()
            except (FileNotFoundError, ProcessLookupError):
                self.hot.discard(tid)
                continue
            if listed:
                self.hot.add(tid)
                kids.update(map(int, listed))
        return kids


def sleep_children(pid):
    """The daemon's children running sleep (exec'd, not zombies)."""
    return {kid for kid in children(pid) if live_sleep(kid)}


class Poller(threading.Thread):
    """Polls the daemon's children every `interval` until `done(number of
    them running sleep)` holds, and records when. A child seen running sleep
    is looked at again on each poll only when `recheck` (while stopping: until
    it has ended); a new child, until it has exec'd sleep or ended."""

    def __init__(self, daemon, done, interval, recheck):
        super().__init__(daemon=True)
        self.pid, self.done, self.interval, self.recheck = daemon, done, interval, recheck
        self.at = None
        self.live = 0
        self.stopped = threading.Event()
        self.initial = sleep_children(daemon) if recheck else set()

    def run(self):
        live = set(self.initial)  # seen running sleep, not yet seen to end
        ended = set()  # zombie sleeps, not yet reaped
        kids_of = Children(self.pid, full_every=5)
        while not self.stopped.is_set():
            kids = kids_of()
            ended &= kids
            if self.recheck:
                for pid in list(live):
                    if not live_sleep(pid):
                        live.discard(pid)
                        ended.add(pid)
            for pid in kids - live - ended:
                comm, state = comm_state(pid)  # one read: it may exec meanwhile
                if comm == "sleep" and state not in ("Z", "X"):
                    live.add(pid)
                elif comm == "sleep":
                    ended.add(pid)
            self.live = len(live)
            if self.done(len(live)):
                self.at = now()
                return
            time.sleep(self.interval)

    def wait(self, timeout=TIMEOUT):
        self.join(timeout)
        self.stopped.set()
        if self.at is None:
            raise RuntimeError(f"timed out waiting for the daemon's children: {self.live} running sleep")
        return self.at


def timed(daemon, action, done, recheck, interval=0.002):
    """Runs `action`; returns (seconds until it returned and `done` held,
    seconds until it returned, seconds until `done` held, daemon CPU seconds,
    per-thread CPU ns, what `action` returned)."""
    poller = Poller(daemon, done, interval, recheck)
    poller.start()
    time.sleep(0.01)  # the poller has looked once: `done` must not hold yet
    if poller.at is not None:
        raise RuntimeError("the condition held before the requests")
    cpu0, threads0 = cpu_s(daemon), thread_cpu_ns(daemon)
    t0 = now()
    result = action()
    answered = now() - t0
    seen = poller.wait() - t0
    cpu = cpu_s(daemon) - cpu0
    threads1 = thread_cpu_ns(daemon)
    threads = {}
    for key, ns in threads1.items():
        threads[key[1]] = threads.get(key[1], 0) + ns - threads0.get(key, 0)
    return max(answered, seen), answered, seen, cpu, threads, result


def respawn(daemon):
    """SIGKILLs one running `sleep` child of `daemon`; seconds until another
    runs, polling every 0.2 ms (all of the daemon's threads every 10th)."""
    kids_of = Children(daemon, full_every=10)
    kids = children(daemon)
    kids_of()
    victims = sorted(pid for pid in kids if live_sleep(pid))
    victim = victims[len(victims) // 2]
    t0 = now()
    os.kill(victim, signal.SIGKILL)
    deadline = t0 + 10
    looked = set(kids)
    while True:
        fresh = kids_of() - looked
        for pid in fresh:
            comm, state = comm_state(pid)
            if comm == "sleep" and state not in ("Z", "X"):
                return now() - t0
            if comm == "sleep":
                looked.add(pid)
        if now() > deadline:
            raise RuntimeError(f"no replacement for pid {victim} within 10 s")
        time.sleep(0.0002)


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, **kwargs).stdout


def wait_for(predicate, what, timeout=30.0):
    deadline = now() + timeout
    while not predicate():
        if now() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


# ---------------------------------------------------------------- clients


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path):
        super().__init__()
        self.unix_path = path

    def make_connection(self, host):
        return UnixHTTPConnection(self.unix_path)


async def _post(path, route, body):
    """One POST on its own connection (as baton's CLI makes them)."""
    reader, writer = await asyncio.open_unix_connection(path)
    data = json.dumps(body).encode() if body is not None else b""
    head = (
        f"POST {route} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + data)
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status >= 300:
        raise RuntimeError(f"POST {route}: {status} {payload[:200]!r}")
    return payload


def post_all(path, requests):
    """Sends every (route, body) at once from one thread, one connection
    each; returns the bodies of the answers (chunked bodies are left as
    they came)."""

    async def main():
        return await asyncio.gather(*(_post(path, route, body) for route, body in requests))

    return asyncio.run(main())


# ---------------------------------------------------------------- systems


class Baton:
    name = "baton"
    variants = ("cli", "http")

    def __init__(self, root, binary):
        self.home = f"{root}/baton"
        self.work = f"{self.home}/work"
        os.makedirs(self.work)
        self.binary = binary
        self.socket = f"{self.home}/baton.sock"
        config = f"{self.home}/baton.toml"
        with open(config, "w") as f:
            f.write("[engine.agents]\nmax_running = 200\nmax_running_per_session = 200\n")
        self.env = dict(
            os.environ,
            BATON_DATA_DIR=f"{self.home}/data",
            BATON_SOCKET=self.socket,
            BATON_CONFIG=config,
            BATON_NO_AUTOSTART="1",
            XDG_CONFIG_HOME=f"{self.home}/config",
        )
        self.proc = None
        self.ids = []

    def cli(self, *args, **kwargs):
        return run([self.binary, *args], env=self.env, **kwargs)

    def up(self):
        shutil.rmtree(f"{self.home}/data", ignore_errors=True)
        self.log = open(f"{self.home}/serve.log", "a")
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        wait_for(lambda: subprocess.run([self.binary, "status"], env=self.env, capture_output=True).returncode == 0,
                 "baton serve")
        self.session = self.cli("session", "open", "--name", "bench").strip()

    def start(self, variant):
        spawn = ["spawn", "--session", self.session, "--restart", "always", "--cwd", self.work, "--", "sleep", "3600"]
        if variant == "cli":
            out = run(["xargs", "-P", str(N), "-I{}", self.binary, *spawn], env=self.env,
                      input="".join(f"{i}\n" for i in range(N)))
            self.ids = out.split()
        else:
            body = {"session": self.session, "argv": ["sleep", "3600"], "restart": "always", "cwd": self.work}
            answers = post_all(self.socket, [("/v1/agents", body)] * N)
            self.ids = [json.loads(answer)["agent"]["id"] for answer in answers]
        if len(self.ids) != N:
            raise RuntimeError(f"baton spawned {len(self.ids)} agents")

    def stop(self, variant):
        # The session's agents at once, as `pm2 stop all` and `stop sleepers:*` do.
        if variant == "cli":
            out = self.cli("stop", "--session", self.session)
            stopped = len(out.splitlines())
        else:
            stopped = len(json.loads(post_all(self.socket, [(f"/v1/sessions/{self.session}/agents/stop", None)])[0]))
        if stopped != N:
            raise RuntimeError(f"baton stopped {stopped} agents")

    def running(self):
        connection = UnixHTTPConnection(self.socket)
        connection.request("GET", f"/v1/agents?session={self.session}")
        views = json.loads(connection.getresponse().read())
        ours = set(self.ids)
        return sum(1 for view in views if view["agent"]["id"] in ours and view["agent"]["state"] == "running")

    def after_stop(self):
        pass

    def down(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None
            self.log.close()


class Pm2:
    name = "pm2"
    variants = ("cli", "api")

    def __init__(self, root, peers):
        self.home = f"{root}/pm2"
        self.work = f"{self.home}/work"
        os.makedirs(self.work)
        self.pm2 = f"{peers}/pm2"
        package = os.path.dirname(os.path.dirname(os.path.realpath(self.pm2)))
        self.package = package
        self.env = dict(os.environ, PM2_HOME=f"{self.home}/home")
        self.ecosystem = f"{self.home}/ecosystem.config.js"
        apps = [
            {"name": f"sleep-{i:03d}", "script": "sleep", "args": "3600", "interpreter": "none",
             "cwd": self.work, "autorestart": True, "restart_delay": 0}
            for i in range(N)
        ]
        with open(self.ecosystem, "w") as f:
            f.write(f"module.exports = {{ apps: {json.dumps(apps, indent=1)} }};\n")
        self.pid = None
        self.client = None

    def up(self):
        run([self.pm2, "ping"], env=self.env)
        with open(f"{self.home}/home/pm2.pid") as f:
            self.pid = int(f.read())

    def _client(self, line):
        self.client.stdin.write(line + "\n")
        self.client.stdin.flush()
        answer = self.client.stdout.readline().strip()
        if answer != "done":
            raise RuntimeError(f"pm2 API, {line}: {answer}")

    def start(self, variant):
        if variant == "cli":
            run([self.pm2, "start", self.ecosystem], env=self.env)
        else:
            self._client(f"start {self.ecosystem}")

    def stop(self, variant):
        if variant == "cli":
            run([self.pm2, "stop", "all"], env=self.env)
        else:
            self._client("stop")

    def prepare(self, variant):
        if variant == "api":
            self.client = subprocess.Popen(["node", "scripts/lib/pm2_client.js", self.package], env=self.env,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if self.client.stdout.readline().strip() != "ready":
                raise RuntimeError("the pm2 API client did not connect")

    def running(self):
        apps = json.loads(run([self.pm2, "jlist"], env=self.env))
        return sum(1 for app in apps if app["pm2_env"]["status"] == "online")

    def after_stop(self):
        if self.client is not None:
            self._client("delete")
            self.client.stdin.close()
            self.client.wait(30)
            self.client = None
        else:
            run([self.pm2, "delete", "all"], env=self.env)

    def down(self):
        if self.client is not None:
            self.client.kill()
            self.client.wait()
            self.client = None
        if self.pid is not None:
            pid = self.pid
            subprocess.run([self.pm2, "kill"], env=self.env, capture_output=True)
            wait_for(lambda: comm_state(pid)[1] in (None, "Z"), "pm2's daemon to exit")
            self.pid = None


class Supervisord:
    name = "supervisord"
    variants = ("cli", "api")

    def __init__(self, root, peers):
        self.home = f"{root}/supervisord"
        self.work = f"{self.home}/work"
        os.makedirs(self.work)
        os.makedirs(f"{self.home}/logs")
        self.bin = peers
        self.conf = f"{self.home}/supervisord.conf"
        self.socket = f"{self.home}/supervisor.sock"
        # startsecs=0: a process counts as running as soon as it is spawned,
        # as with baton and pm2 (the default, 1 s, would add a second to
        # every start that waits for RUNNING). autostart=false: the start is
        # a request, timed like the others.
        with open(self.conf, "w") as f:
            f.write(f"""[unix_http_server]
file={self.socket}
[supervisord]
logfile={self.home}/supervisord.log
pidfile={self.home}/supervisord.pid
childlogdir={self.home}/logs
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{self.socket}
[program:sleepers]
command=sleep 3600
process_name=%(program_name)s-%(process_num)03d
numprocs={N}
directory={self.work}
autostart=false
autorestart=true
startsecs=0
""")
        self.pid = None

    def ctl(self, *args):
        return run([f"{self.bin}/supervisorctl", "-c", self.conf, *args])

    def rpc(self):
        return xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=UnixTransport(self.socket)).supervisor

    def up(self):
        run([f"{self.bin}/supervisord", "-c", self.conf])
        wait_for(lambda: subprocess.run([f"{self.bin}/supervisorctl", "-c", self.conf, "pid"],
                                        capture_output=True).returncode == 0, "supervisord")
        self.pid = int(self.ctl("pid"))

    def start(self, variant):
        if variant == "cli":
            self.ctl("start", "sleepers:*")
        else:
            self.proxy.startProcessGroup("sleepers", True)

    def stop(self, variant):
        if variant == "cli":
            self.ctl("stop", "sleepers:*")
        else:
            self.proxy.stopProcessGroup("sleepers", True)

    def prepare(self, variant):
        self.proxy = self.rpc()
        self.proxy.getState()

    def running(self):
        return sum(1 for info in self.rpc().getAllProcessInfo() if info["statename"] == "RUNNING")

    def after_stop(self):
        pass

    def down(self):
        if self.pid is not None:
            pid = self.pid
            try:
                self.rpc().shutdown()
            except (OSError, xmlrpc.client.Error):
                os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), "supervisord to exit")
            self.pid = None


# ---------------------------------------------------------------- the run


def one_pass(system, variant, kills, records):
    getattr(system, "prepare", lambda variant: None)(variant)
    daemon = system.pid
    try:
        total, answered, seen, cpu, threads, _ = timed(daemon, lambda: system.start(variant), lambda live: live >= N, False)
    except RuntimeError as err:
        raise RuntimeError(f"{system.name} ({variant}) start: {err}; it reports {system.running()} running") from err
    reported = system.running()
    if reported != N:
        raise RuntimeError(f"{system.name} ({variant}) reports {reported} running, not {N}")
    record = {"system": system.name, "variant": variant, "start": total, "start_answered": answered,
              "start_seen": seen, "start_cpu": cpu, "start_threads": threads}
    time.sleep(1.5)  # past pm2's min_uptime, so that a kill is an ordinary crash
    if kills:
        record["respawn"] = []
        for _ in range(kills):
            record["respawn"].append(respawn(daemon))
            wait_for(lambda: len(sleep_children(daemon)) == N, "all running again")
            time.sleep(0.3)
        wait_for(lambda: system.running() == N, f"{system.name} to report {N} running again")
        time.sleep(0.5)
        record["rss_kb"] = rss_kb(daemon)
    total, answered, seen, cpu, threads, _ = timed(daemon, lambda: system.stop(variant), lambda live: live == 0, True)
    record.update(stop=total, stop_answered=answered, stop_seen=seen, stop_cpu=cpu, stop_threads=threads,
                  rss_after_stop_kb=rss_kb(daemon), threads_after_stop=len(os.listdir(f"/proc/{daemon}/task")))
    # Gone for good: reaped by the daemon, none restarted, none anywhere else.
    wait_for(lambda: not any(comm_state(pid)[0] == "sleep" for pid in children(daemon)), "the stopped to be reaped", 10)
    left = sleeps_in(system.work)
    if left:
        raise RuntimeError(f"{system.name} ({variant}): {len(left)} sleep processes left after the stop: {left[:5]}")
    system.after_stop()
    records.append(record)
    respawns = record.get("respawn")
    print(f"  {system.name:11} {variant:4}  start {record['start'] * 1000:7.1f} ms "
          f"(answered {record['start_answered'] * 1000:.1f}, running {record['start_seen'] * 1000:.1f})"
          f"  stop {record['stop'] * 1000:7.1f} ms (answered {record['stop_answered'] * 1000:.1f}, gone {record['stop_seen'] * 1000:.1f})"
          + (f"  respawn {' '.join(f'{r * 1000:.1f}' for r in respawns)} ms  RSS {record['rss_kb'] * 1024 / 1e6:.1f} MB"
             if respawns else ""),
          file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--baton", required=True)
    parser.add_argument("--peers", required=True)
    parser.add_argument("--json", help="write every measurement here")
    args = parser.parse_args()
    sys.setswitchinterval(0.0005)

    root = tempfile.mkdtemp(prefix="baton-agents-bench.")
    systems = [Baton(root, args.baton), Pm2(root, args.peers), Supervisord(root, args.peers)]
    records, loads = [], []
    try:
        for r in range(args.rounds):
            order = systems[r % 3 :] + systems[: r % 3]
            load = loadavg()
            print(f"round {r + 1}/{args.rounds} (load average {load})", file=sys.stderr, flush=True)
            for system in order:
                system.up()
                try:
                    variants = system.variants if r % 2 == 0 else system.variants[::-1]
                    for variant in variants:
                        one_pass(system, variant, KILLS if variant == "cli" else 0, records)
                        records[-1]["round"] = r
                finally:
                    system.down()
            left = sleeps_in(root)
            if left:
                raise RuntimeError(f"round {r + 1}: {len(left)} sleep processes leaked: {left[:5]}")
            loads.append((load, loadavg()))
    finally:
        for system in systems:
            try:
                system.down()
            except Exception as err:  # noqa: BLE001 - clean up the rest anyway
                print(f"cannot stop {system.name}: {err}", file=sys.stderr)
        for pid in sleeps_in(root):  # ours, whatever went wrong
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": records, "loads": loads}, f, indent=1)
    report(records, loads, args.rounds)


def report(records, loads, rounds):
    def pick(system, variant, key):
        return [rec[key] for rec in records if rec["system"] == system and rec["variant"] == variant and key in rec]

    def ms(values):
        return f"{statistics.median(values) * 1000:.0f} ms" if values else "-"

    def span(values):
        return f"{min(values) * 1000:.0f} to {max(values) * 1000:.0f}" if values else "-"

    rows = [("baton", "cli", "baton CLI: 100 `baton spawn` at once (xargs -P 100) / `baton stop --session`"),
            ("baton", "http", "baton HTTP: one client, 100 spawns at once / one session stop"),
            ("pm2", "cli", "pm2 CLI: `pm2 start ecosystem.config.js` / `pm2 stop all`"),
            ("pm2", "api", "pm2 API: one connected client, `start(ecosystem)` / `stop('all')`"),
            ("supervisord", "cli", "supervisorctl `start sleepers:*` / `stop sleepers:*`"),
            ("supervisord", "api", "supervisord XML-RPC `startProcessGroup` / `stopProcessGroup`")]
    print(f"Medians over {rounds} rounds (range in brackets); load average at each round's start and end: "
          + ", ".join(f"{a} -> {b}" for a, b in loads) + "\n")
    print("| system, how | 100 running | of which: answered / seen running | stop all 100 | of which: answered / gone | daemon CPU: start, stop |")
    print("|---|---:|---:|---:|---:|---:|")
    for system, variant, label in rows:
        start, stop = pick(system, variant, "start"), pick(system, variant, "stop")
        print(f"| {label} | {ms(start)} ({span(start)}) | {ms(pick(system, variant, 'start_answered'))} / "
              f"{ms(pick(system, variant, 'start_seen'))} | {ms(stop)} ({span(stop)}) | "
              f"{ms(pick(system, variant, 'stop_answered'))} / {ms(pick(system, variant, 'stop_seen'))} | "
              f"{ms(pick(system, variant, 'start_cpu'))}, {ms(pick(system, variant, 'stop_cpu'))} |")
    print(f"\n| system | respawn after SIGKILL: median | p90 | max | kills | daemon RSS with 100 running (median, range) |")
    print("|---|---:|---:|---:|---:|---:|")
    figures, notes = {}, []
    for system in ("baton", "pm2", "supervisord"):
        respawns = sorted(x for values in pick(system, "cli", "respawn") for x in values)
        rss = [kb * 1024 / 1e6 for kb in pick(system, "cli", "rss_kb")]
        figures[system] = (statistics.median(respawns), statistics.median(rss))
        after = [kb * 1024 / 1e6 for variant in ("cli", "http", "api") for kb in pick(system, variant, "rss_after_stop_kb")]
        threads = [n for variant in ("cli", "http", "api") for n in pick(system, variant, "threads_after_stop")]
        notes.append(f"- {system}: RSS after stopping the 100, {min(after):.1f} to {max(after):.1f} MB; "
                     f"{min(threads)} to {max(threads)} threads")
        print(f"| {system} | {statistics.median(respawns) * 1000:.1f} ms | "
              f"{respawns[int(len(respawns) * 0.9) - 1] * 1000:.1f} ms | {respawns[-1] * 1000:.1f} ms | "
              f"{len(respawns)} | {statistics.median(rss):.1f} MB ({min(rss):.1f} to {max(rss):.1f}) |")

    print("\n" + "\n".join(notes))

    def med(system, variant, key):
        return statistics.median(pick(system, variant, key))

    print("\nRatios (peer / baton, medians; above 1, baton is ahead):")
    for variant_b, peer, variant_p in [("cli", "pm2", "cli"), ("cli", "supervisord", "cli"),
                                       ("http", "pm2", "api"), ("http", "supervisord", "api")]:
        print(f"- baton {variant_b} vs {peer} {variant_p}: start {med(peer, variant_p, 'start') / med('baton', variant_b, 'start'):.1f}x, "
              f"stop {med(peer, variant_p, 'stop') / med('baton', variant_b, 'stop'):.1f}x")
    for peer in ("pm2", "supervisord"):
        print(f"- baton vs {peer}: respawn {figures[peer][0] / figures['baton'][0]:.1f}x, "
              f"RSS {figures[peer][1] / figures['baton'][1]:.1f}x")
    best_start = min(med("baton", v, "start") for v in Baton.variants)
    best_stop = min(med("baton", v, "stop") for v in Baton.variants)
    print(f"\nGoals: 100 running in 0.3 s: {'met' if best_start <= 0.3 else 'NOT met'} ({best_start * 1000:.0f} ms, best way); "
          f"respawn in 10 ms: {'met' if figures['baton'][0] <= 0.010 else 'NOT met'} ({figures['baton'][0] * 1000:.1f} ms); "
          f"stop all in 0.5 s: {'met' if best_stop <= 0.5 else 'NOT met'} ({best_stop * 1000:.0f} ms); "
          f"RSS at most 20 MB: {'met' if figures['baton'][1] <= 20 else 'NOT met'} ({figures['baton'][1]:.1f} MB).")

    print("\nbaton's threads, CPU per phase (ms, median over rounds; threads that exited meanwhile are only in the total):")
    for variant in Baton.variants:
        for phase in ("start", "stop"):
            per_round = pick("baton", variant, f"{phase}_threads")
            names = sorted({name for threads in per_round for name in threads})
            parts = []
            for name in names:
                value = statistics.median(threads.get(name, 0) for threads in per_round) / 1e6
                if value >= 1:
                    parts.append(f"{name} {value:.0f}")
            print(f"- {variant} {phase}: total {med('baton', variant, f'{phase}_cpu') * 1000:.0f}; " + ", ".join(parts))


if __name__ == "__main__":
    main()
