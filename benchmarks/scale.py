"""The suite beside the floor of its own stack, for organisations of 1, 200 and 2,000 servers.

    .venv/bin/python benchmarks/scale.py [--sizes 1,200,2000] [--winrm-latency 2] [--forks 256]

For each size N it starts the standalone lab (``python -m cas_conformance.lab serve --servers N``;
each collection there takes --winrm-latency seconds, like a busy server answering) and measures,
each in a process of its own (wall time, CPU seconds of the process and its children, peak RSS):

- the suite: ``pytest --inventory <the lab's> --forks F`` with JUnit and a self-contained HTML report;
- the floor, on a second lab of the same size and settings: bare pytest running as many trivial
  parametrized tests as the suite ran, with the same two reports (``-p no:cas_conformance``), plus
  the plain-library loops ``floor_psrp.py`` (pypsrp: the organisation-wide Exchange cmdlets once,
  the per-server ones once per server) and ``floor_winrm.py`` (pywinrm: the same OS command once per
  server), at the same concurrency F. The floor's CPU is the sum of the three.

It prints the suite/floor ratio of CPU per server, the suite's CPU per server at the largest size
over that at 200 (linear growth gives 1), whether pytest-xdist (``-n 2``) helps at --xdist-size on
this machine, and checks what the suite's lab received (``--stats-out``): every server collected
exactly once, every DNS name asked once, no Exchange cmdlet asked twice (``psrp_cmdlets``). Every
run is bounded by --timeout and by an address-space limit (--memory-limit-gib), so a size the
collection path cannot carry ends as a measured failure, not as a stalled machine. The last line:

    floor ratio at 2000: R  linearity 200->2000: L  peak RSS at 2000: M MiB

(``n/a`` where a run did not complete). Run by hand; it takes minutes (--sizes 1,200 for a quick look).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cas_conformance.lab import Lab, LabProcess, raise_open_files_limit

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
PASSWORD = "Benchmark-Pw-1"
USER = "CONTOSO\\labadmin"
_GATHERED = re.compile(r"all facts gathered in ([0-9.]+) s")
_WINRM_LINE = re.compile(r"^winrm\s+(\S+) https://([0-9.]+):([0-9]+)/wsman")
_HTTPS_LINE = re.compile(r"^https\s.* on port ([0-9]+)")
_ORGANISATION_WIDE = 5  # cmdlets floor_psrp.py runs once
_PER_SERVER = 9  # cmdlets floor_psrp.py runs per server


@dataclass(frozen=True)
class Cost:
    """One child process, measured by wait4: wall and CPU seconds (its reaped children included) and
    the peak RSS of the largest process of its tree."""

    wall: float
    cpu: float
    rss_mib: float
    ok: bool
    note: str
    output: str


@dataclass
class Size:
    servers: int
    lab_start: float = 0.0
    suite: Cost | None = None
    tests: int = 0
    gathered: float = float("nan")
    lab_cpu: float | None = None
    floor: dict[str, Cost] | None = None
    problems: list[str] | None = None
    floor_tests: int = 0
    machine_busy: float | None = None  # share of all cores busy (every process) during the suite run

    @property
    def floor_cpu(self) -> float | None:
        if not self.floor or not all(c.ok for c in self.floor.values()):
            return None
        return sum(c.cpu for c in self.floor.values())


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all cores since boot, every process counted (Linux /proc/stat)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _limit_memory(pid: int, limit: int) -> None:
    """Bound a child's address space (a process that already ended needs none)."""
    if limit:
        with contextlib.suppress(ProcessLookupError):
            resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))


def measure(
    command: list[str], *, env: dict[str, str], cwd: Path, log: Path, timeout: float, memory: int
) -> Cost:
    """Run *command* to its end (killed, with its process group, after *timeout* s) and measure it."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    _limit_memory(process.pid, memory)
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _pid, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    output = log.read_text(encoding="utf-8", errors="replace")
    if expired.is_set():
        note = f"timed out after {timeout:g} s"
    elif "MemoryError" in output:
        note = f"out of memory (address space limited to {memory / 2**30:g} GiB)"
    else:
        note = "" if process.returncode == 0 else f"exit code {process.returncode}"
    return Cost(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, not note, note, output)


def _environment() -> dict[str, str]:
    return {
        **os.environ,
        "CAS_CONFORMANCE_PASSWORD": PASSWORD,
        "CAS_CONFORMANCE_PROBE_USER": "labprobe@contoso.lab",
        "CAS_CONFORMANCE_PROBE_PASSWORD": PASSWORD,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def _lab(servers: int, latency: float, workdir: Path, tag: str) -> LabProcess:
    return LabProcess(
        ROOT / "fixtures/lab/healthy.toml",
        workdir / f"lab-{tag}.ini",
        cwd=ROOT,
        args=[
            "--servers",
            str(servers),
            "--winrm-latency",
            str(latency),
            "--password",
            PASSWORD,
            "--stats-out",
            str(workdir / f"stats-{tag}.json"),
        ],
        start_timeout=600,
    )


def _stats(workdir: Path, tag: str) -> dict[str, dict[str, int]]:
    path = workdir / f"stats-{tag}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _hosts(lab: LabProcess) -> list[tuple[str, str, int]]:
    """(FQDN, address, WinRM HTTPS port) of every server, from what the lab printed."""
    return [(m.group(1), m.group(2), int(m.group(3))) for line in lab.lines if (m := _WINRM_LINE.match(line))]


def suite_command(inventory: Path, forks: int, workdir: Path, tag: str, profile: Path | None) -> list[str]:
    runner = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else [sys.executable]
    return [
        *runner,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--inventory",
        str(inventory),
        "--forks",
        str(forks),
        f"--junitxml={workdir / f'junit-{tag}.xml'}",
        f"--html={workdir / f'report-{tag}.html'}",
        "--self-contained-html",
        str(ROOT / "tests_cas"),
    ]


def check_suite_stats(stats: dict[str, dict[str, int]], hosts: list[str]) -> list[str]:
    """What the suite's lab received, against 'asked once': the problems found (none: empty)."""
    problems = []
    winrm = stats.get("winrm_commands", {})
    if winrm != dict.fromkeys(hosts, 1):
        twice = sorted(h for h, n in winrm.items() if n != 1)[:5]
        missing = sorted(set(hosts) - set(winrm))[:5]
        problems.append(
            f"collector commands: {len(winrm)} hosts asked, not once each (twice: {twice}, never: {missing})"
        )
    dns = stats.get("dns_queries", {})
    if not dns or max(dns.values()) != 1:
        problems.append(f"DNS: a name asked {max(dns.values(), default=0)} times")
    psrp = stats.get("psrp_cmdlets", {})
    repeated = sorted(k for k, n in psrp.items() if n != 1)[:5]
    if repeated:
        problems.append(f"Exchange cmdlets asked more than once: {repeated}")
    # an organisation-wide cmdlet (no -Server) is the same from every CAS: once per organisation
    by_cmdlet = Counter(k.split()[1] for k in psrp if " -Server " not in k)
    again = sorted(c for c, n in by_cmdlet.items() if n > 1)
    if again:
        problems.append(f"organisation-wide cmdlets asked on more than one server: {again}")
    return problems


def check_floor_stats(stats: dict[str, dict[str, int]], hosts: list[str]) -> list[str]:
    """The floor did all its work: one command per server, every cmdlet it means to run, once."""
    problems = []
    winrm = stats.get("winrm_commands", {})  # by Host header: the floor connects by address
    if len(winrm) != len(hosts) or set(winrm.values()) != {1}:
        problems.append(
            f"floor: {sum(winrm.values())} WinRM commands on {len(winrm)} hosts, one per server expected"
        )
    psrp = stats.get("psrp_cmdlets", {})
    expected = _ORGANISATION_WIDE + _PER_SERVER * len(hosts)
    if sum(psrp.values()) != expected or max(psrp.values(), default=0) != 1:
        problems.append(
            f"floor: {sum(psrp.values())} Exchange cmdlets answered, {expected} expected, each once"
        )
    return problems


def _trivial_tests(workdir: Path, count: int) -> Path:
    folder = workdir / "floor_tests"
    folder.mkdir(exist_ok=True)
    (folder / "test_floor.py").write_text(
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('case', range({count}), ids=lambda i: f'EX{{i:04d}}.contoso.lab')\n"
        "def test_trivial(case):\n    assert case >= 0\n",
        encoding="utf-8",
    )
    return folder


def _test_count(junit: Path) -> int:
    if not junit.is_file():
        return 0
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    return sum(int(s.get("tests", 0)) for s in suites)


def run_suite(size: Size, args: argparse.Namespace, workdir: Path, *, xdist: bool = False) -> Cost:
    n = size.servers
    tag = f"suite-n2-{n}" if xdist else f"suite-{n}"
    started = time.perf_counter()
    with _lab(n, args.winrm_latency, workdir, tag) as lab:
        lab_start = time.perf_counter() - started
        assert lab.process is not None
        _limit_memory(lab.process.pid, int(args.memory_limit_gib * 2**30))
        hosts = [h for h, _a, _p in _hosts(lab)]
        profile = args.profile / f"{tag}.prof" if args.profile else None
        command = suite_command(lab.inventory, args.forks, workdir, tag, profile)
        if xdist:
            command[command.index("--forks") : command.index("--forks")] = ["-n", "2"]
        lab_before = _process_cpu(lab.process.pid)
        machine_before = _machine_jiffies()
        cost = measure(
            command,
            env=_environment(),
            cwd=ROOT,
            log=workdir / f"{tag}.log",
            timeout=args.timeout,
            memory=int(args.memory_limit_gib * 2**30),
        )
        lab_after = _process_cpu(lab.process.pid)
        machine_after = _machine_jiffies()
    stats = _stats(workdir, tag)
    if not xdist:
        size.lab_start = lab_start
        size.suite = cost
        size.tests = _test_count(workdir / f"junit-{tag}.xml")
        found = _GATHERED.search(cost.output)
        size.gathered = float(found.group(1)) if found else float("nan")
        size.lab_cpu = None if lab_before is None or lab_after is None else lab_after - lab_before
        if machine_before and machine_after and machine_after[1] > machine_before[1]:
            size.machine_busy = (machine_after[0] - machine_before[0]) / (
                machine_after[1] - machine_before[1]
            )
        size.problems = check_suite_stats(stats, hosts) if cost.ok else [f"suite: {cost.note}"]
    return cost


def _estimated_tests(size: Size, sizes: list[Size]) -> int:
    """The suite's test count, or (where its run did not finish) the line through the two largest
    sizes that did: the catalogue's tests grow by a fixed number per server."""
    if size.tests:
        return size.tests
    done = sorted((s.servers, s.tests) for s in sizes if s.tests and s.servers < size.servers)[-2:]
    if len(done) < 2:
        return size.servers
    (n1, t1), (n2, t2) = done
    per = (t2 - t1) / (n2 - n1)
    return round(t2 + per * (size.servers - n2))


def run_floor(size: Size, args: argparse.Namespace, workdir: Path, tests: int) -> None:
    n = size.servers
    tag = f"floor-{n}"
    env = _environment()
    memory = int(args.memory_limit_gib * 2**30)
    with _lab(n, args.winrm_latency, workdir, tag) as lab:
        hosts = _hosts(lab)
        https_port = next(int(m.group(1)) for line in lab.lines if (m := _HTTPS_LINE.match(line)))
        targets = workdir / f"targets-{n}.json"
        targets.write_text(
            json.dumps(
                {
                    "servers": [
                        {"name": fqdn.split(".")[0].upper(), "fqdn": fqdn, "address": address}
                        for fqdn, address, _port in hosts
                    ],
                    "user": USER,
                    "ca_bundle": str(lab.inventory.with_suffix(".ca.pem")),
                    "https_port": https_port,
                    "winrm_https_port": hosts[0][2],
                }
            ),
            encoding="utf-8",
        )
        folder = _trivial_tests(workdir, tests)
        size.floor_tests = tests

        def floor_part(part: str, command: list[str]) -> Cost:
            return measure(
                command,
                env=env,
                cwd=workdir,
                log=workdir / f"{tag}-{part}.log",
                timeout=args.timeout,
                memory=memory,
            )

        floor = {
            "pytest": floor_part(
                "pytest",
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-p",
                    "no:cas_conformance",
                    f"--junitxml={workdir / f'junit-{tag}.xml'}",
                    f"--html={workdir / f'report-{tag}.html'}",
                    "--self-contained-html",
                    str(folder),
                ],
            ),
            "pypsrp": floor_part(
                "psrp",
                [sys.executable, str(HERE / "floor_psrp.py"), str(targets), "--forks", str(args.forks)],
            ),
            "pywinrm": floor_part(
                "winrm",
                [
                    sys.executable,
                    str(HERE / "floor_winrm.py"),
                    str(targets),
                    "--forks",
                    str(args.forks),
                    "--command",
                    args.os_command,
                ],
            ),
        }
    size.floor = floor
    problems = [
        f"floor {k}: {c.note}: {c.output.strip().splitlines()[-1:]}" for k, c in floor.items() if not c.ok
    ]
    if not problems:
        problems = check_floor_stats(_stats(workdir, tag), [h for h, _a, _p in hosts])
    size.problems = [*(size.problems or []), *problems]


def _fmt(value: float | None, spec: str = "8.1f", unit: str = "") -> str:
    """*value* formatted, with *unit* after it; ``n/a`` in the same width where there is none."""
    if value is None:
        return f"{'n/a':>{int(spec.split('.')[0] or 0) + len(unit)}}"
    return f"{value:{spec}}{unit}"


def _per_server(size: Size) -> float | None:
    return size.suite.cpu / size.servers if size.suite and size.suite.ok else None


def print_table(sizes: list[Size]) -> None:
    print(
        f"{'servers':>8} {'lab up':>7} {'tests':>6} {'suite wall':>11} {'gathered':>9} {'suite CPU':>10} "
        f"{'per server':>11} {'RSS MiB':>8} {'lab CPU':>8} {'floor wall':>11} {'floor CPU':>10} {'per server':>11} {'ratio':>6}"
    )
    for s in sizes:
        suite = s.suite
        floor_cpu = s.floor_cpu
        floor_wall = sum(c.wall for c in s.floor.values()) if s.floor else None
        per = _per_server(s)
        ratio = per / (floor_cpu / s.servers) if per is not None and floor_cpu else None
        print(
            f"{s.servers:>8} {s.lab_start:>6.1f}s {s.tests:>6} "
            f"{_fmt(suite.wall if suite else None, '10.1f', 's')} {s.gathered:>8.1f}s "
            f"{_fmt(suite.cpu if suite and suite.ok else None, '9.1f', 's')} {_fmt(per, '10.3f', 's')} "
            f"{_fmt(suite.rss_mib if suite and suite.ok else None, '8.0f')} {_fmt(s.lab_cpu, '7.1f', 's')} "
            f"{_fmt(floor_wall, '10.1f', 's')} {_fmt(floor_cpu, '9.1f', 's')} "
            f"{_fmt(floor_cpu / s.servers if floor_cpu else None, '10.3f', 's')} {_fmt(ratio, '6.2f')}"
        )
        if suite and not suite.ok:
            print(
                f"{'':>8} suite did not complete: {suite.note} (after {suite.wall:.0f} s, {suite.cpu:.0f} CPU s, "
                f"peak RSS {suite.rss_mib:.0f} MiB)"
            )
        for name, cost in (s.floor or {}).items():
            what = f" ({s.floor_tests} trivial tests)" if name == "pytest" else ""
            print(
                f"{'':>8} floor {name:<8} wall {cost.wall:7.1f} s  CPU {cost.cpu:7.1f} s  RSS {cost.rss_mib:6.0f} MiB"
                + what
                + ("" if cost.ok else f"  ({cost.note})")
            )


def _pick(sizes: list[Size]) -> tuple[Size, Size | None]:
    """The largest size, and the one linearity is judged from (200 if measured, else the next)."""
    ordered = sorted(sizes, key=lambda s: s.servers)
    largest = ordered[-1]
    base = next((s for s in ordered if s.servers == 200 and s is not largest), None)
    if base is None and len(ordered) > 1:
        base = ordered[-2]
    return largest, base


def xdist_verdict(serial: Size, parallel: Cost) -> list[str]:
    suite = serial.suite
    assert suite is not None
    cores = os.cpu_count() or 1
    own = suite.cpu / suite.wall / cores
    lab = (serial.lab_cpu or 0.0) / suite.wall / cores
    machine = serial.machine_busy
    others = None if machine is None else max(0.0, machine - own - lab)
    helps = parallel.ok and parallel.wall < 0.9 * suite.wall
    lines = [
        f"pytest-xdist at {serial.servers} servers: -n 2 wall {parallel.wall:.1f} s, CPU {parallel.cpu:.1f} s "
        f"(serial: wall {suite.wall:.1f} s, CPU {suite.cpu:.1f} s)"
        + ("" if parallel.ok else f": {parallel.note}"),
        f"  during the serial run this machine's {cores} cores were {_fmt(machine and 100 * machine, '.0f')}% busy: "
        f"the suite {100 * own:.0f}%, the lab {100 * lab:.0f}%, other processes {_fmt(others and 100 * others, '.0f')}%",
    ]
    if helps:
        lines.append("  -n 2 helps here: the tests and reports are CPU work a free core shortens")
    else:
        rest = None if math.isnan(serial.gathered) else suite.wall - serial.gathered
        why = (
            f"the facts are gathered once, by the controller, before any worker starts ({serial.gathered:.1f} s "
            f"of the {suite.wall:.1f} s), so -n can only share the remaining {rest:.1f} s of tests and reports"
            if rest is not None
            else "the facts are gathered once, by the controller, before any worker starts"
        )
        busy = machine is not None and machine > 0.9
        lines.append(
            f"  -n 2 does not help here: {why}"
            + ("; both cores were already busy" if busy else "")
            + "; the workers add their own start-up, the facts file's loading and the controller's report "
            "merging (CPU above)"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1,200,2000", help="organisation sizes, comma-separated (default 1,200,2000)"
    )
    parser.add_argument("--winrm-latency", type=float, default=2.0)
    parser.add_argument(
        "--forks", type=int, default=256, help="servers collected at the same time (suite and floor)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds each run may take (default 1800)"
    )
    parser.add_argument(
        "--memory-limit-gib", type=float, default=12.0, help="address space of each run (0: none)"
    )
    parser.add_argument(
        "--xdist-size", type=int, default=200, help="measure -n 2 at this size (0: not at all)"
    )
    parser.add_argument("--os-command", default="collector", help="what floor_winrm.py runs per server")
    parser.add_argument("--profile", type=Path, help="run the suite under cProfile, profiles in this folder")
    parser.add_argument("--keep", type=Path, help="keep logs, reports and lab stats in this folder")
    args = parser.parse_args()
    try:
        wanted = sorted({int(x) for x in args.sizes.split(",") if x.strip()})
    except ValueError:
        parser.error(f"--sizes takes numbers separated by commas, not {args.sizes!r}")
    if not wanted or min(wanted) < 1:
        parser.error("--sizes needs at least one size of 1 or more")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    # the suite and the labs inherit it: the lab's listeners per server, a few files per fork
    limit = raise_open_files_limit(Lab.open_files(max(wanted)) + 4 * args.forks)
    print(
        f"open files limit {limit}, {os.cpu_count()} cores, winrm latency {args.winrm_latency:g} s, "
        f"forks {args.forks}, floor OS command: {args.os_command}",
        flush=True,
    )
    sizes: list[Size] = []
    parallel: Cost | None = None
    with tempfile.TemporaryDirectory(prefix="cas-conformance-scale-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for n in wanted:
            size = Size(n)
            sizes.append(size)
            run_suite(size, args, workdir)
            assert size.suite is not None
            print(
                f"{n} servers: suite {size.suite.wall:.1f} s wall, {size.suite.cpu:.1f} s CPU "
                f"{'' if size.suite.ok else size.suite.note}",
                flush=True,
            )
            if n == args.xdist_size and size.suite.ok:
                parallel = run_suite(size, args, workdir, xdist=True)
            run_floor(size, args, workdir, _estimated_tests(size, sizes))
            print(f"{n} servers: floor {size.floor_cpu or float('nan'):.1f} s CPU", flush=True)
    print()
    print_table(sizes)
    print()
    for s in sizes:
        for problem in s.problems or []:
            print(f"{s.servers} servers: {problem}")
        if not s.problems:
            print(
                f"{s.servers} servers: every server collected exactly once, every name asked once, "
                "no Exchange cmdlet asked twice"
            )
    if parallel is not None:
        serial = next(s for s in sizes if s.servers == args.xdist_size)
        print()
        print("\n".join(xdist_verdict(serial, parallel)))
    largest, base = _pick(sizes)
    per_large, per_base = _per_server(largest), _per_server(base) if base else None
    floor = largest.floor_cpu
    ratio = f"{per_large / (floor / largest.servers):.2f}" if per_large is not None and floor else "n/a"
    linear = f"{per_large / per_base:.2f}" if per_large is not None and per_base else "n/a"
    rss = f"{largest.suite.rss_mib:.0f}" if largest.suite and largest.suite.ok else "n/a"
    print()
    print(
        f"floor ratio at {largest.servers}: {ratio}  linearity {base.servers if base else '-'}->{largest.servers}: "
        f"{linear}  peak RSS at {largest.servers}: {rss} MiB"
    )
    return 0 if all(not s.problems for s in sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
