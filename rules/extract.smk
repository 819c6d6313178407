wildcard_constraints:
    chunk=r"\d{3}",
    sample=one_of(SAMPLES),
    model=one_of(MODELS),
    space=one_of(SPACES),
    part="classes|concepts|steering|unclip",
    dictionary="|".join(map(re.escape, PLAN.dictionaries)),


rule export_head:
    """Load the model on the CPU, check its head against the dataset's classes (count, label-map order) and
    W f + b against its logits, and export (W, b): every GPU job of the model waits for this check.
    """
    input:
        model_files,
        settings=manifest("export_head"),
    output:
        head=f"{R}/heads/{{model}}/head.safetensors",
        written=written(f"{R}/heads/{{model}}/head.safetensors"),
    log:
        f"{R}/logs/export_head/{{model}}.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(16000),
        runtime=30,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("export_head"),
    script:
        f"{SCRIPTS}/export_head.py"


rule extract_translator_features:
    input:
        dataset_ready(),
        model_files,
        head=f"{R}/heads/{{model}}/head.safetensors",
        settings=manifest("extract_translator_features"),
    output:
        features=f"{R}/features/{{model}}/translator.parquet",
    log:
        f"{R}/logs/extract_features/{{model}}/translator.log",
    benchmark:
        f"{R}/benchmarks/extract_features/{{model}}/translator.tsv"
    conda:
        "../envs/sing.yaml"
    threads: max_threads(8)
    resources:
        **GPU_RESOURCES,
        mem_mb=mem_mb(32000),
        runtime=240,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("extract_translator_features"),
    script:
        f"{SCRIPTS}/extract_features.py"


use rule extract_translator_features as extract_study_features with:
    input:
        dataset_ready(),
        model_files,
        head=f"{R}/heads/{{model}}/head.safetensors",
        exclude=f"{R}/features/{{model}}/translator.parquet",
        settings=manifest("extract_study_features"),
    output:
        features=f"{R}/features/{{model}}/study.parquet",
    log:
        f"{R}/logs/extract_features/{{model}}/study.log",
    benchmark:
        f"{R}/benchmarks/extract_features/{{model}}/study.tsv"
    params:
        settings=settings("extract_study_features"),


rule extract_features:
    input:
        dataset_ready(),
        model_files,
        head=f"{R}/heads/{{model}}/head.safetensors",
        settings=manifest("extract_features"),
    output:
        features=directory(f"{R}/features/{{model}}/{{sample}}/chunk-{{chunk}}"),
    log:
        f"{R}/logs/extract_features/{{model}}/{{sample}}-{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/extract_features/{{model}}/{{sample}}-{{chunk}}.tsv"
    conda:
        "../envs/sing.yaml"
    threads: max_threads(8)
    resources:
        **GPU_RESOURCES,
        mem_mb=mem_mb(32000),
        runtime=120,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("extract_features"),
    script:
        f"{SCRIPTS}/extract_features.py"


rule embed_translator_images:
    input:
        dataset_ready(),
        settings=manifest("embed_translator_images"),
    output:
        features=f"{R}/clip/{{space}}/translator.parquet",
    log:
        f"{R}/logs/embed_images/{{space}}/translator.log",
    benchmark:
        f"{R}/benchmarks/embed_images/{{space}}/translator.tsv"
    conda:
        "../envs/sing.yaml"
    threads: max_threads(8)
    resources:
        **GPU_RESOURCES,
        mem_mb=mem_mb(32000),
        runtime=240,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("embed_translator_images"),
    script:
        f"{SCRIPTS}/extract_features.py"


use rule embed_translator_images as embed_study_images with:
    input:
        dataset_ready(),
        exclude=f"{R}/clip/{{space}}/translator.parquet",
        settings=manifest("embed_study_images"),
    output:
        features=f"{R}/clip/{{space}}/study.parquet",
    log:
        f"{R}/logs/embed_images/{{space}}/study.log",
    benchmark:
        f"{R}/benchmarks/embed_images/{{space}}/study.tsv"
    params:
        settings=settings("embed_study_images"),


rule embed_images:
    input:
        dataset_ready(),
        settings=manifest("embed_images"),
    output:
        features=directory(f"{R}/clip/{{space}}/{{sample}}/chunk-{{chunk}}"),
    log:
        f"{R}/logs/embed_images/{{space}}/{{sample}}-{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/embed_images/{{space}}/{{sample}}-{{chunk}}.tsv"
    conda:
        "../envs/sing.yaml"
    threads: max_threads(8)
    resources:
        **GPU_RESOURCES,
        mem_mb=mem_mb(32000),
        runtime=120,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("embed_images"),
    script:
        f"{SCRIPTS}/extract_features.py"


rule embed_texts:
    input:
        settings=manifest("embed_texts"),
    output:
        text=text_file("{part}"),
    log:
        f"{R}/logs/embed_texts/{{space}}/{{part}}.log",
    benchmark:
        f"{R}/benchmarks/embed_texts/{{space}}/{{part}}.tsv"
    conda:
        "../envs/sing.yaml"
    threads: max_threads(2)
    resources:
        **GPU_RESOURCES,
        mem_mb=mem_mb(16000),
        runtime=30,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("embed_texts"),
    script:
        f"{SCRIPTS}/embed_texts.py"


rule concept_dictionary:
    """A concept dictionary in one space: sing's vocabulary embedded with the space's text tower (`builtin`), or a
    text.dictionaries file read and checked (dimension; fingerprint: three labels re-embedded).
    """
    input:
        dictionary_file,
        settings=manifest("concept_dictionary"),
    output:
        dictionary=f"{R}/text/{{space}}/dictionaries/{{dictionary}}.parquet",
    log:
        f"{R}/logs/concept_dictionary/{{space}}/{{dictionary}}.log",
    benchmark:
        f"{R}/benchmarks/concept_dictionary/{{space}}/{{dictionary}}.tsv"
    conda:
        "../envs/sing.yaml"
    threads: max_threads(2)
    resources:
        **GPU_RESOURCES,
        mem_mb=mem_mb(16000),
        runtime=60,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("concept_dictionary"),
    script:
        f"{SCRIPTS}/concept_dictionary.py"
