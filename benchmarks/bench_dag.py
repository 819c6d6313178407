"""Plan the full paper DAG (13 models x 2 spaces x 1000 classes) and report what it costs.

Prints the dry-run wall time and peak RSS (targets: <= 15 s, <= 1 GB on a 2-core machine), the number of
jobs (target <= 5k) and the number of SLURM submissions a full run makes (target <= 500), read from a
second dry run through `--profile profiles/slurm` (the workflow profile profiles/default is added as in a
real run): every top-level job is one sbatch, a group job (bundled score jobs) is one sbatch, local rules
none.

    .venv/bin/python benchmarks/bench_dag.py [--configfile config.yaml]
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def dry_run(configfile: str, *extra: str) -> tuple[str, float]:
    """Output and wall time of `snakemake -n` on the config, writing nothing under the repository."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "snakemake", "-n", *extra, "--configfile", configfile,
               "--config", f"results_dir={tmp}/results"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"dry run failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr, wall


def declared_local_rules(configfile: str = "config.yaml") -> set[str]:
    """Rules declared `localrules` in the parsed workflow (a dry run prints their jobs as `rule`, too), and `all`."""
    sys.path.insert(0, str(REPO / "tests"))
    from workflow_helpers import load_workflow, local_rules

    return local_rules(load_workflow(REPO, configfiles=(configfile,)))


def submissions(plan: str, local_rules: set[str]) -> tuple[Counter, Counter, int]:
    """Per rule: jobs and sbatch submissions in a dry-run plan of the slurm executor; group jobs.

    Snakemake prints a job as `rule NAME:` at column 0 and a group job as `Group job ID ...` followed by
    its members indented by four spaces; jobs of `local_rules` run on the submitting host.
    """
    jobs, subs = Counter(), Counter()
    groups = 0
    for line in plan.splitlines():
        if m := re.fullmatch(r"(    )?(?:local)?rule (\w+):", line):
            indented, rule = m.groups()
            jobs[rule] += 1
            subs[rule] += 0 if (indented or rule in local_rules) else 1
        elif re.match(r"(\[.*\] )?Group job \S+", line):
            groups += 1
            subs["(group jobs)"] += 1
    return jobs, subs, groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default="config.yaml")
    args = parser.parse_args()

    _, wall = dry_run(args.configfile)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    plan, _ = dry_run(args.configfile, "--profile", "profiles/slurm")
    local = declared_local_rules(args.configfile)
    jobs, subs, groups = submissions(plan, local)
    print(f"{'rule':28s} {'jobs':>6s} {'submissions':>11s}")
    for rule in sorted(set(jobs) | set(subs)):
        print(f"{rule:28s} {jobs[rule]:6d} {subs[rule]:11d}{'  (local)' if rule in local else ''}")
    print(f"\ndry run: {wall:.1f} s wall (target <= 15 s), peak RSS {peak_mb:.0f} MB (target <= 1024 MB)")
    print(f"jobs: {sum(jobs.values())} (target <= 5000); SLURM submissions through --profile profiles/slurm: "
          f"{sum(subs.values())} ({groups} of them group jobs; target <= 500)")


if __name__ == "__main__":
    main()
