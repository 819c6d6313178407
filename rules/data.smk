if config.get("synthetic_imagenet"):

    rule synthetic_imagenet:
        output:
            directory(config["imagenet_root"]),
        params:
            settings=config["synthetic_imagenet"],
        log:
            f"{R}/logs/synthetic_imagenet.log",
        script:
            f"{SCRIPTS}/make_synthetic_imagenet.py"


rule prefetch_weights:
    """Run once on a node with internet: fills weights_dir so compute jobs can run offline."""
    output:
        f"{config['weights_dir']}/prefetched.json",
    params:
        models={key: config["models"][key] for key in MODELS},
        spaces={key: config["spaces"][key] for key in SPACES},
        weights_dir=config["weights_dir"],
    log:
        f"{R}/logs/prefetch_weights.log",
    script:
        f"{SCRIPTS}/prefetch_weights.py"
