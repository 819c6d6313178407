rule head_geometry:
    input:
        head=f"{R}/heads/{{model}}/head.safetensors",
        settings=manifest("head_geometry"),
    output:
        geometry=f"{R}/heads/{{model}}/geometry.safetensors",
        written=written(f"{R}/heads/{{model}}/geometry.safetensors"),
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
        written=written(f"{R}/translators/{{model}}/{{space}}.safetensors"),
    log:
        f"{R}/logs/fit_translator/{{model}}/{{space}}.log",
    benchmark:
        f"{R}/benchmarks/fit_translator/{{model}}/{{space}}.tsv"
    wildcard_constraints:
        model=translator_pairs(published=False),
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


rule import_translator:
    """A published translator (translator.published) in place of fit_translator, checked against the head's
    width and the space before any scoring (priority: it runs as soon as the head is exported).
    """
    input:
        published=lambda w: published_files(w.model, w.space),
        head=f"{R}/heads/{{model}}/head.safetensors",
        settings=manifest("import_translator"),
    output:
        translator=f"{R}/translators/{{model}}/{{space}}.safetensors",
        written=written(f"{R}/translators/{{model}}/{{space}}.safetensors"),
    log:
        f"{R}/logs/import_translator/{{model}}/{{space}}.log",
    wildcard_constraints:
        model=translator_pairs(published=True),
    priority: 50
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("import_translator"),
    script:
        f"{SCRIPTS}/import_translator.py"


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
