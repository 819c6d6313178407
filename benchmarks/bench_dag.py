"""Plan the full paper DAG (13 models x 2 spaces x 1000 classes) and report what it costs.

Prints the dry-run wall time and peak RSS (targets: <= 15 s, <= 1 GB on a 2-core machine), the number of
jobs (target <= 5k) and the number of cluster submissions a full run makes (target <= 500): every job of a
non-local rule, with score jobs bundled as profiles/slurm's group-components say.

    .venv/bin/python benchmarks/bench_dag.py [--configfile config.yaml]
"""

from __future__ import annotations

import argparse
import math
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def declared_local_rules() -> set[str]:
    """Rules named in `localrules:` blocks (a local dry run prints every job as `rule`)."""
    names: set[str] = set()
    for path in (REPO / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", path.read_text(), flags=re.M):
            names.update(re.findall(r"\w+", block))
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default="config.yaml")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "snakemake", "-n", "--configfile", args.configfile,
               "--config", f"results_dir={tmp}/results"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"dry run failed:\n{proc.stderr[-3000:]}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    local_rules = declared_local_rules()
    kinds: Counter[tuple[str, bool]] = Counter()
    for line in (proc.stdout + proc.stderr).splitlines():
        match = re.fullmatch(r"\s*(?:local)?rule (\w+):", line)
        if match:
            kinds[(match.group(1), match.group(1) in local_rules)] += 1
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    group_size = {g.split("=")[0]: int(g.split("=")[1]) for g in profile.get("group-components", [])}
    rule_groups = {"score_chunk": "score"}  # rules/analysis.smk `group:` directives

    jobs = sum(kinds.values())
    submissions = 0
    print(f"{'rule':28s} {'jobs':>6s} {'submissions':>11s}")
    for (rule, local), count in sorted(kinds.items()):
        if local or rule == "all":
            subs = 0
        elif rule in rule_groups and rule_groups[rule] in group_size:
            subs = math.ceil(count / group_size[rule_groups[rule]])
        else:
            subs = count
        submissions += subs
        print(f"{rule:28s} {count:6d} {subs:11d}{'  (local)' if local else ''}")
    print(f"\ndry run: {wall:.1f} s wall (target <= 15 s), peak RSS {peak_mb:.0f} MB (target <= 1024 MB)")
    print(f"jobs: {jobs} (target <= 5000); cluster submissions: {submissions} (target <= 500)")


if __name__ == "__main__":
    main()
