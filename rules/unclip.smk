rule unclip_pictures:
    input:
        features=f"{R}/features/{{model}}/analysis/chunk-{chunk_holding(config['unclip']['source_class'])}",
        geometry=f"{R}/heads/{{model}}/geometry.safetensors",
        translator=f"{R}/translators/{{model}}/{config['unclip']['space']}.safetensors",
        text=f"{R}/text/{config['unclip']['space']}.parquet",
    output:
        png=report(
            f"{R}/figures/unclip/{{model}}.png",
            caption="../report/captions/unclip.rst",
            category="UnCLIP pictures",
            labels={"model": "{model}"},
        ),
        cells=f"{R}/figures/unclip/{{model}}.cells.parquet",
    log:
        f"{R}/logs/unclip_pictures/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/unclip_pictures/{{model}}.tsv"
    conda:
        "../envs/sing.yaml"
    params:
        model="{model}",
        source_class=config["unclip"]["source_class"],
        n_images=config["unclip"]["n_images"],
        prompts=config["unclip"]["prompts"],
        target_is_deg=config["unclip"]["target_is_deg"],
        seed=config["unclip"]["seed"],
        unclip={
            "model_id": config["unclip"]["model_id"],
            "weights_dir": config["weights_dir"],
            "device": config["extraction"]["device"],
            "decoder_steps": config["unclip"]["decoder_steps"],
            "super_res_steps": config["unclip"]["super_res_steps"],
            "dtype": config["unclip"]["dtype"],
            "batch_size": config["unclip"]["batch_size"],
            "guidance_scale": config["unclip"]["guidance_scale"],
            "cell_size": config["unclip"]["cell_size"],
        },
    script:
        f"{SCRIPTS}/unclip_pictures.py"
