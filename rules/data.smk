if DATASET["synthetic"]:

    rule synthetic_dataset:
        output:
            directory(DATASET["root"]),
        log:
            f"{R}/logs/synthetic_dataset.log",
        conda:
            "../envs/sing.yaml"
        params:
            kind=DATASET["kind"],
            settings=DATASET["synthetic"],
        script:
            f"{SCRIPTS}/make_synthetic_dataset.py"


if config["synthetic_checkpoints"]:

    rule synthetic_checkpoints:
        output:
            [MODEL_ENTRIES[key].checkpoint for key in config["synthetic_checkpoints"]],
        log:
            f"{R}/logs/synthetic_checkpoints.log",
        conda:
            "../envs/sing.yaml"
        params:
            models={
                key: MODEL_ENTRIES[key].spec()
                for key in config["synthetic_checkpoints"]
            },
            num_classes=len(CATALOG.ids),
        script:
            f"{SCRIPTS}/make_synthetic_checkpoints.py"


localrules:
    dataset_classes,


rule dataset_classes:
    """classes.parquet: every class's index, id, file key, chunk, names (maps per-class files back to classes)."""
    input:
        dataset_ready(),
        dataset_files(),
    output:
        classes=f"{R}/classes.parquet",
    log:
        f"{R}/logs/dataset_classes.log",
    conda:
        "../envs/sing.yaml"
    params:
        dataset=dataset_params(),
    script:
        f"{SCRIPTS}/dataset_classes.py"


rule prefetch_weights:
    """Run once on a node with internet: fills weights_dir so compute jobs can run offline."""
    output:
        f"{config['weights_dir']}/prefetched.json",
    log:
        f"{R}/logs/prefetch_weights.log",
    conda:
        "../envs/sing.yaml"
    params:
        models={key: MODEL_ENTRIES[key].spec() for key in MODELS},
        spaces={key: SPACE_ENTRIES[key].spec() for key in SPACES},
        unclip=config["unclip"]["model_id"] if config["unclip"]["enabled"] else None,
        weights_dir=lambda w, output: str(Path(output[0]).parent),
    script:
        f"{SCRIPTS}/prefetch_weights.py"
