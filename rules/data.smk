if DATASET["synthetic"]:

    rule synthetic_dataset:
        input:
            settings=manifest("synthetic_dataset"),
        output:
            directory(DATASET["root"]),
        log:
            f"{R}/logs/synthetic_dataset.log",
        conda:
            "../envs/sing.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
            cpus_per_task=cpus_per_task,
        params:
            settings=settings("synthetic_dataset"),
        script:
            f"{SCRIPTS}/make_synthetic_dataset.py"


if config["synthetic_checkpoints"]:

    rule synthetic_checkpoints:
        input:
            settings=manifest("synthetic_checkpoints"),
        output:
            [PLAN.models[key].checkpoint for key in config["synthetic_checkpoints"]],
        log:
            f"{R}/logs/synthetic_checkpoints.log",
        conda:
            "../envs/sing.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
            cpus_per_task=cpus_per_task,
        params:
            settings=settings("synthetic_checkpoints"),
        script:
            f"{SCRIPTS}/make_synthetic_checkpoints.py"


localrules:
    dataset_classes,


rule dataset_classes:
    """classes.parquet: every class's index, id, file key, chunk, names (maps per-class files back to classes)."""
    input:
        settings=manifest("dataset_classes"),
    output:
        classes=f"{R}/classes.parquet",
    log:
        f"{R}/logs/dataset_classes.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("dataset_classes"),
    script:
        f"{SCRIPTS}/dataset_classes.py"


rule prefetch_weights:
    """Run once on a node with internet: fills weights_dir so compute jobs can run offline, and locks what it
    downloaded (weights.lock.json: repository, revision, files, sha256 per model and space).
    """
    input:
        settings=manifest("prefetch_weights"),
    output:
        f"{config['weights_dir']}/weights.lock.json",
    log:
        f"{R}/logs/prefetch_weights.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=240,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("prefetch_weights"),
    script:
        f"{SCRIPTS}/prefetch_weights.py"
