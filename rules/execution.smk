# ---------------------------------------------------------------------------------------------------
# How jobs run, after rules/common.smk planned them: what the machine and dataset are checked for when the DAG is
# built, the run-start preflight, each rule's resources (CPUs, MB, minutes, GPUs), the container environment and
# the SLURM executor workaround. Rules use cpus_per_task, mem_mb and GPU_RESOURCES from here.
# ---------------------------------------------------------------------------------------------------
from sing.analysis.resources import local_memory_pool_mb
from sing.io.paths import apptainer_environment
from sing.workflow.machine import MachineChecks
from sing.workflow.memory import JobMemory
from sing.workflow.slurm import PLUGIN, patch_account_lookup

# dataset, device and SLURM commands, each checked once when the DAG first needs it (sing.workflow.machine)
MACHINE = MachineChecks(PLAN)


def check_machine(step):
    """Stop before any job on what this machine or dataset cannot do for `step`; warn when only planning."""
    if not workflow.is_main_process:
        return
    # image counts are cached by folder mtime for the next run; a dry run writes nothing
    MACHINE.cache = None if planning_only() else f"{R}/logs/availability.json"
    problems = MACHINE.problems(step, getattr(workflow.executor_plugin, "name", None))
    if problems and planning_only():
        for problem in problems:
            logger.warning(f"{problem} (a run stops here)")
    elif problems:
        stop("\n".join(problems))


# A module's `onstart` is never called (Snakemake runs the main Snakefile's only): see dag_started()
IN_MODULE = not workflow.modifier.is_main_snakefile()


@functools.cache
def dag_started():
    """Called by the first input function Snakemake evaluates, when it builds the DAG: the executor is known from
    here on, and no job's resources have been computed yet. Registers the local memory pool (local_pool); in a
    run that uses sing as a module, runs the preflight here (the Snakefile's `onstart` does it otherwise).

    Manifests are written by input functions while the DAG is built, and Snakemake's file inventory lists a folder
    once, then answers "missing" for a file added to it later: a manifest written into a folder listed for an
    earlier job was a MissingInputException (explicit targets on a fresh results folder). So the inventory is
    switched off for the DAG build (as --max-inventory-time 0: existence file by file, a few thousand files).
    """
    workflow.iocache.remaining_wait_time = 0
    local_pool()
    if IN_MODULE and not workflow.dryrun and not workflow.remote_exec:
        preflight()


def preflight():
    """Checks that need torch / open_clip, run once before any job (`onstart`, or dag_started in a module), never
    at parse time: each space's architecture against its weights, every prompt against its tokenizer
    (sing.data.preflight).
    """
    from sing.data.preflight import check_text_settings

    check_text_settings(
        {key: entry.spec() for key, entry in PLAN.spaces.items()},
        PLAN.preflight_text(),
        config["weights_dir"],
        cache=f"{R}/logs/preflight.json",
    )


# ---------------------------------------------------------------------------------------------------
# Job resources: each rule declares what one job needs (threads = CPUs, mem_mb in MB, runtime in minutes,
# GPUs), so the workflow submits correctly with no profile, as a module or with any generic SLURM profile;
# profiles only tune. The rules of sing.workflow.GPU_RULES add GPU_RESOURCES.
# ---------------------------------------------------------------------------------------------------
def max_threads(n):
    """A rule's threads: `n`, at most config max_threads (the demos: 1, so two small jobs share two cores)."""
    return min(n, config["max_threads"] or n)


def cpus_per_task(wildcards, threads):
    """CPUs a cluster job asks for: its threads, so the two never disagree (also after --set-threads)."""
    return threads


GPU_RESOURCES = PLAN.gpu_resources()
JOB_MEMORY = JobMemory(PLAN)
# jobs whose memory grows with the data: mem_mb from the sizes they read (sing.workflow.memory)
SIZED = {
    "train_probes": lambda i: JOB_MEMORY.train_probes(i.geometry, i.translators),
    "validation": lambda i: JOB_MEMORY.validation(i.geometry, i.translator),
    "evaluate_translator": lambda i: JOB_MEMORY.evaluate_translator(i.translator),
}


def mem_mb(size):
    """`mem_mb` of a rule's jobs: a number of MB, or the name of a SIZED rule; at most config max_mem_mb, and on a
    local run at most the memory pool (local_pool), so no single job asks for more than the machine has.
    """

    def function(wildcards, input):
        mb = SIZED[size](input) if isinstance(size, str) else size
        mb = min(mb, config["max_mem_mb"] or mb)
        pool = local_pool()
        return mb if pool is None else min(mb, pool)

    return function


@functools.cache
def local_pool():
    """A local run's `mem_mb` pool: every running job's mem_mb together stays within this machine's memory (or
    cgroup limit) less 1 GB, or within --resources mem_mb=N when lower. None on a cluster executor or inside a
    cluster job. Registered with Snakemake when the DAG is built, the first moment the executor is known.
    """
    if not workflow.local_exec or workflow.remote_exec:
        return None
    given = workflow.global_resources.get("mem_mb").value
    pool = local_memory_pool_mb(given)
    workflow.register_resource("mem_mb", pool)
    if given is None or pool < given:
        logger.info(
            f"local run: running jobs share mem_mb={pool} (this machine's memory less 1 GB; lower it with "
            "--resources mem_mb=N)"
        )
    return pool


def one_of(keys):
    """A wildcard constraint matching exactly one of `keys` (escaped: a `.` in a key is no regex)."""
    return "|".join(map(re.escape, keys))


def container_environment():
    """--sdm apptainer: what every `apptainer exec` of the run needs, set in the environment it inherits, for
    every way of running sing (plain, --profile, a site profile, a module): binds of the dataset, weights, results
    and local model files (APPTAINER_BIND / SINGULARITY_BIND, after the user's own) and GPU support
    (APPTAINER_NV=1, as `--nv`). A path a bind or the command line cannot carry is refused naming its key.
    """
    from snakemake.settings.types import DeploymentMethod

    if DeploymentMethod.APPTAINER not in workflow.deployment_settings.deployment_method:
        return
    paths = {f"config {key}": path for key, path in PLAN.data_paths().items()}
    try:
        env = apptainer_environment(paths, cwd=Path.cwd(), image=config["container"])
    except ValueError as e:
        raise WorkflowError(str(e)) from None
    os.environ.update(env)
    logger.info(
        "apptainer: "
        + ", ".join(f"{k}={v}" for k, v in env.items() if "SINGULARITY" not in k)
    )


container_environment()
if (
    PLUGIN in sys.modules
):  # the submitting process of a SLURM run (sing.workflow.slurm says why)
    patch_account_lookup(
        sys.modules[PLUGIN],
        no_account=lambda: getattr(workflow.executor_settings, "no_account", False),
        workflow_error=WorkflowError,
        log=logger,
    )
