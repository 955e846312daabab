"""Wall time of a whole conformance run for 1 server and for N servers (default 200), each
collector run taking --winrm-latency seconds on the lab side (like loading the Exchange snap-in).

    .venv/bin/python benchmarks/scale.py [--servers 200] [--winrm-latency 2]

Each run is the real thing: the standalone lab in its own process, then
``pytest --inventory <written inventory>`` in another, timed from start to exit. The ratio is
N-server time over 1-server time; the physical floor is 1 (every server answers in parallel).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cas_conformance.lab.process import LabProcess

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Benchmark-Pw-1"


def run(servers: int, latency: float, forks: int, workdir: Path) -> tuple[float, str]:
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
            str(workdir / f"stats-{servers}.json"),
        ],
    )
    with lab:
        inventory = lab.inventory
        env = {
            **os.environ,
            "CAS_CONFORMANCE_PASSWORD": PASSWORD,
            "CAS_CONFORMANCE_PROBE_USER": "labprobe@contoso.lab",
            "CAS_CONFORMANCE_PROBE_PASSWORD": PASSWORD,
        }
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
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "(no output)"
    if result.returncode != 0:
        print(result.stdout[-4000:], file=sys.stderr)
        raise SystemExit(f"the run with {servers} servers exited {result.returncode}: {summary}")
    return elapsed, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--winrm-latency", type=float, default=2.0)
    parser.add_argument("--forks", type=int, default=256, help="servers collected at the same time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cas-conformance-bench-") as tmp:
        workdir = Path(tmp)
        one, one_summary = run(1, args.winrm_latency, args.forks, workdir)
        many, many_summary = run(args.servers, args.winrm_latency, args.forks, workdir)
    print(f"1 server:    {one:6.1f} s  ({one_summary})")
    print(f"{args.servers} servers: {many:6.1f} s  ({many_summary})")
    print(f"ratio:       {many / one:6.2f}  (winrm latency {args.winrm_latency:g} s, forks {args.forks})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
