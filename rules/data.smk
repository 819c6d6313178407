if config.get("synthetic_imagenet"):

    rule synthetic_imagenet:
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
            settings=config["synthetic_imagenet"],
        script:
            f"{SCRIPTS}/make_synthetic_imagenet.py"


rule prefetch_weights:
    """Run once on a node with internet: fills weights_dir so compute jobs can run offline."""
    output:
        f"{config['weights_dir']}/prefetched.json",
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
        models={key: MODEL_ENTRIES[key].spec() for key in MODELS},
        spaces={key: SPACE_ENTRIES[key].spec() for key in SPACES},
        unclip=config["unclip"]["model_id"] if config["unclip"]["enabled"] else None,
        weights_dir=lambda w, output: str(Path(output[0]).parent),
    script:
        f"{SCRIPTS}/prefetch_weights.py"
