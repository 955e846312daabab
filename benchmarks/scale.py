"""Wall time of a whole conformance run for 1 server and for N servers (default 200), each
collector run taking --winrm-latency seconds on the lab side (like loading the Exchange snap-in).

    .venv/bin/python benchmarks/scale.py [--servers 200] [--winrm-latency 2]

Each run is the real thing: the standalone lab in its own process, then
``pytest --inventory <written inventory>`` in another, timed from start to exit. The ratio is
N-server time over 1-server time; the physical floor is 1 (every server answers in parallel).

Besides the wall times it prints where they went: the fact-gathering phase (the plugin's
"all facts gathered in" line), the tests and reports (pytest's own session time), and the CPU
seconds the suite's process and the lab's process used, which show when a run is bound by the
machine's cores rather than by the servers' latency.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cas_conformance.lab.process import LabProcess

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Benchmark-Pw-1"
_GATHERED = re.compile(r"all facts gathered in ([0-9.]+) s")
_SESSION = re.compile(r" in ([0-9.]+)s\b")


@dataclass(frozen=True)
class Run:
    wall: float
    gathered: float
    session: float
    suite_cpu: float
    lab_cpu: float | None
    summary: str
    stats: dict[str, dict[str, int]]


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(servers: int, latency: float, forks: int, workdir: Path) -> Run:
    stats_path = workdir / f"stats-{servers}.json"
    lab = LabProcess(
        ROOT / "fixtures/lab/healthy.toml",
        workdir / f"lab-{servers}.ini",
        cwd=ROOT,
        args=[
            "--servers",
            str(servers),
            "--winrm-latency",
            str(latency),
            "--password",
            PASSWORD,
            "--stats-out",
            str(stats_path),
        ],
    )
    with lab:
        assert lab.process is not None
        inventory = lab.inventory
        env = {
            **os.environ,
            "CAS_CONFORMANCE_PASSWORD": PASSWORD,
            "CAS_CONFORMANCE_PROBE_USER": "labprobe@contoso.lab",
            "CAS_CONFORMANCE_PROBE_PASSWORD": PASSWORD,
        }
        lab_before = _process_cpu(lab.process.pid)
        cpu_before = _children_cpu()
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--inventory",
                str(inventory),
                "--forks",
                str(forks),
                f"--junitxml={workdir / f'junit-{servers}.xml'}",
                f"--html={workdir / f'report-{servers}.html'}",
                str(ROOT / "tests_cas"),
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        suite_cpu = _children_cpu() - cpu_before
        lab_after = _process_cpu(lab.process.pid)
    lines = result.stdout.strip().splitlines()
    summary = lines[-1] if lines else "(no output)"
    if result.returncode != 0:
        print(result.stdout[-4000:], file=sys.stderr)
        raise SystemExit(f"the run with {servers} servers exited {result.returncode}: {summary}")
    gathered = _GATHERED.search(result.stdout)
    session = _SESSION.search(summary)
    return Run(
        wall=elapsed,
        gathered=float(gathered.group(1)) if gathered else float("nan"),
        session=float(session.group(1)) if session else float("nan"),
        suite_cpu=suite_cpu,
        lab_cpu=None if lab_before is None or lab_after is None else lab_after - lab_before,
        summary=summary,
        stats=json.loads(stats_path.read_text()) if stats_path.is_file() else {},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--winrm-latency", type=float, default=2.0)
    parser.add_argument("--forks", type=int, default=256, help="servers collected at the same time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cas-conformance-bench-") as tmp:
        workdir = Path(tmp)
        one = run(1, args.winrm_latency, args.forks, workdir)
        many = run(args.servers, args.winrm_latency, args.forks, workdir)
    n = args.servers

    def cpu(value: float | None) -> str:
        return "n/a" if value is None else f"{value:6.1f} s"

    print(f"1 server:    {one.wall:6.1f} s  ({one.summary})")
    print(f"{n} servers: {many.wall:6.1f} s  ({many.summary})")
    print(
        f"ratio:       {many.wall / one.wall:6.2f}  (winrm latency {args.winrm_latency:g} s, forks {args.forks})"
    )
    print()
    print(f"{'':26}{'1 server':>10}{f'{n} servers':>13}{'ratio':>8}")
    print(
        f"{'facts gathered':26}{one.gathered:8.1f} s{many.gathered:11.1f} s{many.gathered / one.gathered:8.2f}"
    )
    print(f"{'tests and reports':26}{one.session:8.1f} s{many.session:11.1f} s")
    print(f"{'CPU, suite process':26}{one.suite_cpu:8.1f} s{many.suite_cpu:11.1f} s")
    print(f"{'CPU, lab process':26}{cpu(one.lab_cpu):>10}{cpu(many.lab_cpu):>13}")
    print(f"{'CPU cores':26}{os.cpu_count() or 0:>10}")
    busy = many.suite_cpu / many.wall
    print(f"\nthe {n}-server run kept the suite's process busy {busy:.0%} of its wall time")
    # What the lab received (--stats-out): the run asked nothing twice.
    for key, what in (
        ("winrm_commands", "collector commands per host"),
        ("dns_queries", "DNS questions per name"),
        ("tls_handshakes", "TLS handshakes per name"),
    ):
        counts = many.stats.get(key, {})
        most = max(counts.values(), default=0)
        print(f"{what}: at most {most} ({len(counts)} asked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
