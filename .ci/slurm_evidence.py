"""Check, from slurmctld's own records, how the workflow's jobs were scheduled (used by .ci/hpc-demo).

Inputs: --jobs: `scontrol -o -d show job` sampled every few seconds (each line prefixed by a unix time);
--taskprolog: lines "JOBID STEP HOST NODENAME CUDA_VISIBLE_DEVICES" written by the cluster's TaskProlog;
--ctld-log: slurmctld's log. The latest sample of each job id is its record.

Checks (exit 1 with the reasons on failure):
- every job of a GPU rule asked for a GPU (TresPerJob=gres:gpu:1) and was allocated one (JOB_GRES=gpu:1;
  the GPU index from GRES=gpu:1(IDX:n) of a running sample),
  and its tasks saw CUDA_VISIBLE_DEVICES; no job of a CPU-only rule did either;
- at no time were more GPU jobs running than --gpus, and no GPU index was shared by two running jobs;
- jobs ran on more than one node; every job carried --account and --partition;
- the --cancelled job is recorded CANCELLED; every other job of the last run COMPLETED.
Prints per-rule counts and the evidence lines docs/hpc.md quotes.
"""

import argparse
import re
import sys
from collections import Counter, defaultdict
from datetime import datetime

from sing.workflow import GPU_RULES as _GPU_RULES

GPU_RULES = set(_GPU_RULES)
FIELDS = {
    "id": r"\bJobId=(\d+)",
    "state": r"\bJobState=(\S+)",
    "reason": r"\bReason=(\S+)",
    "account": r"\bAccount=(\S+)",
    "partition": r"\bPartition=(\S+)",
    "nodes": r"\bNodeList=(\S+)",
    "start": r"\bStartTime=(\S+)",
    "end": r"\bEndTime=(\S+)",
    "tres_per_job": r"\bTresPerJob=(\S+)",
    "tres": r"\bTRES=(\S+)",
    "gres_alloc": r"\bJOB_GRES=(\S+)",  # allocated GRES; the per-node GRES=gpu:1(IDX:n) only while running
    "gres_idx": r"(?<![A-Z_])GRES=\S*IDX:(\d+)",
    "comment": r"\bComment=(\S+)",
}


def parse_jobs(path):
    """Latest sampled record of each job id, plus every (time, id, state, reason) sample."""
    records, samples = {}, []
    with open(path) as fh:
        for line in fh:
            if "JobId=" not in line:
                continue
            t, _, rest = line.partition(" ")
            rec = {k: (m.group(1) if (m := re.search(p, rest)) else None) for k, p in FIELDS.items()}
            rec["rule"] = rule_of(rec["comment"])
            rec["gpu_index"] = rec.pop("gres_idx") or records.get(rec["id"], {}).get("gpu_index")
            records[rec["id"]] = rec
            samples.append((int(t), rec["id"], rec["state"], rec["reason"]))
    return records, samples


def rule_of(comment):
    """The plugin's --comment: rule_<rule>[_wildcards_...] (a group job: rule_<group id>)."""
    m = re.match(r"rule_(.+?)(?:_wildcards_.*)?$", comment or "")
    return m.group(1) if m else "?"


def ts(value):
    return datetime.fromisoformat(value).timestamp()


def max_overlap(intervals):
    """Most intervals [start, end) covering one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = cur = 0
    for _, d in events:  # ends sort before starts at the same instant
        cur += d
        best = max(best, cur)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", required=True)
    ap.add_argument("--taskprolog", required=True)
    ap.add_argument("--ctld-log", required=True)
    ap.add_argument("--gpus", type=int, required=True, help="GPUs in the cluster")
    ap.add_argument("--account", required=True)
    ap.add_argument("--partition", required=True)
    ap.add_argument("--cancelled", required=True, help="job id cancelled by the fault test")
    args = ap.parse_args()

    jobs, samples = parse_jobs(args.jobs)
    cvd = defaultdict(set)
    with open(args.taskprolog) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 5:
                cvd[parts[0]].add(parts[4])
    with open(args.ctld_log) as fh:
        submitted = sum("_slurm_rpc_submit_batch_job: JobId=" in line for line in fh)

    errors = []
    per_rule = Counter(job["rule"] for job in jobs.values())
    gpu_intervals, by_index = [], defaultdict(list)
    for jid, job in sorted(jobs.items(), key=lambda kv: int(kv[0])):
        asked = "gpu" in (job["tres_per_job"] or "")
        got = re.match(r"gpu(?::\w+)?:[1-9]", job["gres_alloc"] or "")
        seen = cvd.get(jid, set()) - {"unset"}
        gpu_rule = job["rule"] in GPU_RULES
        what = f"job {jid} ({job['rule']}, {job['state']})"
        if gpu_rule:
            if not asked:
                errors.append(f"{what}: GPU rule submitted without a GPU request")
            if job["state"] in ("COMPLETED", "CANCELLED", "RUNNING") and job["start"] != "Unknown":
                if not got:
                    errors.append(f"{what}: no GPU allocated (GRES={job['gres_alloc']})")
                if not seen:
                    errors.append(f"{what}: tasks saw no CUDA_VISIBLE_DEVICES ({sorted(cvd.get(jid, []))})")
                if got and job["end"] not in (None, "Unknown"):
                    span = (ts(job["start"]), ts(job["end"]))
                    gpu_intervals.append(span)
                    index = job["gpu_index"] or ",".join(sorted(seen))
                    by_index[(job["nodes"], index)].append(span)
        else:
            if asked or got or seen:
                errors.append(f"{what}: CPU-only rule got a GPU (request {job['tres_per_job']}, "
                              f"allocation {job['gres_alloc']}, CUDA_VISIBLE_DEVICES {sorted(seen)})")
        if job["account"] != args.account or job["partition"] != args.partition:
            errors.append(f"{what}: account {job['account']} / partition {job['partition']}, "
                          f"expected the site profile's {args.account} / {args.partition}")
        if jid == args.cancelled:
            if job["state"] != "CANCELLED":
                errors.append(f"{what}: the cancelled job is recorded {job['state']}")
        elif job["state"] not in ("COMPLETED", "CANCELLED"):
            errors.append(f"{what}: did not complete")

    if args.cancelled not in jobs:
        errors.append(f"cancelled job {args.cancelled} missing from slurmctld's records")
    peak = max_overlap(gpu_intervals)
    if peak > args.gpus:
        errors.append(f"{peak} GPU jobs ran at once on {args.gpus} GPUs")
    for (node, idx), spans in by_index.items():
        if max_overlap(spans) > 1:
            errors.append(f"GPU {idx} of {node} was given to two running jobs at once")
    nodes = Counter(job["nodes"] for job in jobs.values() if job["nodes"] not in (None, "(null)"))
    if len(nodes) < 2:
        errors.append(f"jobs ran on one node only: {dict(nodes)}")
    if submitted != len(jobs):
        errors.append(f"slurmctld logged {submitted} batch submissions but {len(jobs)} jobs were sampled")
    waited = {jid for _, jid, state, reason in samples
              if state == "PENDING" and reason == "Resources" and jobs[jid]["rule"] in GPU_RULES}

    gpu_jobs = sum(n for r, n in per_rule.items() if r in GPU_RULES)
    print(f"slurm-evidence: {submitted} submissions: " + ", ".join(f"{r} {n}" for r, n in sorted(per_rule.items())))
    seen = sorted(set().union(*[cvd[j] for j in jobs if jobs[j]["rule"] in GPU_RULES]) - {"unset"})
    print(f"slurm-evidence: {gpu_jobs} GPU-rule jobs, each asked for and was allocated a GPU and saw "
          f"CUDA_VISIBLE_DEVICES (values {seen}); "
          f"{len(jobs) - gpu_jobs} CPU-only jobs, none did")
    print(f"slurm-evidence: at most {peak} GPU jobs running at once on {args.gpus} GPUs; "
          f"{len(waited)} GPU jobs waited (PENDING, Resources) for one")
    print(f"slurm-evidence: jobs per node {dict(sorted(nodes.items()))}; every job account={args.account} "
          f"partition={args.partition}; job {args.cancelled} CANCELLED, all others COMPLETED")
    if errors:
        print("slurm-evidence: FAILED\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
