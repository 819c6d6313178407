if config["synthetic_imagenet"]:

    rule synthetic_imagenet:
        input:
            settings=manifest("synthetic_imagenet"),
        output:
            directory(config["imagenet_root"]),
        log:
            f"{R}/logs/synthetic_imagenet.log",
        conda:
            "../envs/sing.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
            cpus_per_task=cpus_per_task,
        params:
            settings=settings("synthetic_imagenet"),
        script:
            f"{SCRIPTS}/make_synthetic_imagenet.py"


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
