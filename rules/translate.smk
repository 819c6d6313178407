rule head_geometry:
    input:
        head=f"{R}/heads/{{model}}/head.safetensors",
        settings=manifest("head_geometry"),
    output:
        geometry=f"{R}/heads/{{model}}/geometry.safetensors",
    log:
        f"{R}/logs/head_geometry/{{model}}.log",
    conda:
        "../envs/sing.yaml"
    params:
        settings=settings("head_geometry"),
    script:
        f"{SCRIPTS}/head_geometry.py"


rule fit_translator:
    input:
        features=f"{R}/features/{{model}}/translator.parquet",
        clip=f"{R}/clip/{{space}}/translator.parquet",
        settings=manifest("fit_translator"),
    output:
        translator=f"{R}/translators/{{model}}/{{space}}.safetensors",
    log:
        f"{R}/logs/fit_translator/{{model}}/{{space}}.log",
    benchmark:
        f"{R}/benchmarks/fit_translator/{{model}}/{{space}}.tsv"
    conda:
        "../envs/sing.yaml"
    threads: 4
    resources:
        mem_mb=mem_mb(16000),
        runtime=30,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("fit_translator"),
    script:
        f"{SCRIPTS}/fit_translator.py"


rule evaluate_translator:
    input:
        features=lambda w: chunk_dirs("features", "analysis", model=w.model),
        clip=lambda w: chunk_dirs("clip", "analysis", space=w.space),
        translator=f"{R}/translators/{{model}}/{{space}}.safetensors",
        settings=manifest("evaluate_translator"),
    output:
        evaluation=f"{R}/tables/per_model/{{model}}/{{space}}/translator_eval.parquet",
    log:
        f"{R}/logs/evaluate_translator/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb("evaluate_translator"),
        runtime=30,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("evaluate_translator"),
    script:
        f"{SCRIPTS}/evaluate_translator.py"
