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
        threads: max_threads(4)
        resources:
            **GPU_RESOURCES,
            mem_mb=mem_mb(32000),
            runtime=60,
            cpus_per_task=cpus_per_task,
        params:
            settings=settings("unclip_pictures"),
        script:
            f"{SCRIPTS}/unclip_pictures.py"

    rule unclip_paper_figures:
        """Supp. Figs. 10 (images at AS/IS quantiles), 11 (one feature through each translator of the study: only
        when it runs) and 13 (null / random / principal perturbations × seeds), one pipeline load per model.
        """
        input:
            features=lambda w: chunk_dirs("features", "analysis", model=w.model),
            head=f"{R}/heads/{{model}}/head.safetensors",
            geometry=f"{R}/heads/{{model}}/geometry.safetensors",
            translator=f"{R}/translators/{{model}}/{config['unclip']['space']}.safetensors",
            text=text_file("classes", config["unclip"]["space"]),
            embeddings=if_study(
                f"{R}/translators/{{model}}/{config['unclip']['space']}.study_embeddings.parquet"
            ),
            settings=manifest("unclip_paper_figures"),
        output:
            **{
                sheet: report(
                    f"{R}/figures/unclip/{{model}}.{sheet}.png",
                    caption=f"../report/captions/unclip_{sheet}.rst",
                    category="UnCLIP pictures",
                    labels={"model": "{model}", "figure": sheet},
                )
                for sheet in UNCLIP_SHEETS
            },
            **{
                f"{sheet}_cells": f"{R}/figures/unclip/{{model}}.{sheet}.cells.parquet"
                for sheet in UNCLIP_SHEETS
            },
        log:
            f"{R}/logs/unclip_paper_figures/{{model}}.log",
        benchmark:
            f"{R}/benchmarks/unclip_paper_figures/{{model}}.tsv"
        conda:
            "../envs/sing.yaml"
        threads: max_threads(4)
        resources:
            **GPU_RESOURCES,
            mem_mb=mem_mb(32000),
            runtime=60,
            cpus_per_task=cpus_per_task,
        params:
            settings=settings("unclip_paper_figures"),
        script:
            f"{SCRIPTS}/unclip_paper_figures.py"
