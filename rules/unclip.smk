if config["unclip"]["enabled"]:

    rule unclip_pictures:
        input:
            features=f"{R}/features/{{model}}/analysis/chunk-{chunk_holding(config['unclip']['source_class'])}",
            geometry=f"{R}/heads/{{model}}/geometry.safetensors",
            translator=f"{R}/translators/{{model}}/{config['unclip']['space']}.safetensors",
            text=text_file("unclip", config["unclip"]["space"]),
            settings=manifest("unclip_pictures"),
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
        threads: 4
        resources:
            **GPU_RESOURCES,
            mem_mb=mem_mb(32000),
            runtime=60,
            cpus_per_task=cpus_per_task,
        params:
            settings=settings("unclip_pictures"),
        script:
            f"{SCRIPTS}/unclip_pictures.py"
