wildcard_constraints:
    chunk=r"\d{3}",
    sample="analysis|openvocab|robustness",
    model="|".join(MODELS),
    space="|".join(SPACES),


rule extract_translator_features:
    input:
        dataset_ready(),
        manifest=f"{R}/manifests/translator.json",
        model=f"{R}/manifests/models/{{model}}.json",
    output:
        features=f"{R}/features/{{model}}/translator.parquet",
        head=f"{R}/heads/{{model}}/head.safetensors",
    log:
        f"{R}/logs/extract_features/{{model}}/translator.log",
    benchmark:
        f"{R}/benchmarks/extract_features/{{model}}/translator.tsv"
    conda:
        "../envs/sing.yaml"
    params:
        model=lambda w: model_settings(w.model),
        imagenet_root=config["imagenet_root"],
        extraction=extraction_params(),
    script:
        f"{SCRIPTS}/extract_features.py"


rule extract_features:
    input:
        dataset_ready(),
        manifest=manifest("{sample}"),
        model=f"{R}/manifests/models/{{model}}.json",
    output:
        features=directory(f"{R}/features/{{model}}/{{sample}}/chunk-{{chunk}}"),
    log:
        f"{R}/logs/extract_features/{{model}}/{{sample}}-{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/extract_features/{{model}}/{{sample}}-{{chunk}}.tsv"
    conda:
        "../envs/sing.yaml"
    params:
        model=lambda w: model_settings(w.model),
        imagenet_root=config["imagenet_root"],
        extraction=extraction_params(),
    script:
        f"{SCRIPTS}/extract_features.py"


rule embed_translator_images:
    input:
        dataset_ready(),
        manifest=f"{R}/manifests/translator.json",
        space=f"{R}/manifests/spaces/{{space}}.json",
    output:
        features=f"{R}/clip/{{space}}/translator.parquet",
    log:
        f"{R}/logs/embed_images/{{space}}/translator.log",
    benchmark:
        f"{R}/benchmarks/embed_images/{{space}}/translator.tsv"
    conda:
        "../envs/sing.yaml"
    params:
        space=lambda w: space_settings(w.space),
        imagenet_root=config["imagenet_root"],
        extraction=extraction_params(),
    script:
        f"{SCRIPTS}/extract_features.py"


rule embed_images:
    input:
        dataset_ready(),
        manifest=manifest("{sample}"),
        space=f"{R}/manifests/spaces/{{space}}.json",
    output:
        features=directory(f"{R}/clip/{{space}}/{{sample}}/chunk-{{chunk}}"),
    log:
        f"{R}/logs/embed_images/{{space}}/{{sample}}-{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/embed_images/{{space}}/{{sample}}-{{chunk}}.tsv"
    conda:
        "../envs/sing.yaml"
    params:
        space=lambda w: space_settings(w.space),
        imagenet_root=config["imagenet_root"],
        extraction=extraction_params(),
    script:
        f"{SCRIPTS}/extract_features.py"


rule embed_texts:
    input:
        space=f"{R}/manifests/spaces/{{space}}.json",
    output:
        text=f"{R}/text/{{space}}.parquet",
    log:
        f"{R}/logs/embed_texts/{{space}}.log",
    benchmark:
        f"{R}/benchmarks/embed_texts/{{space}}.tsv"
    conda:
        "../envs/sing.yaml"
    params:
        space=lambda w: space_settings(w.space),
        text=text_settings(),
        extraction=extraction_params(),
    script:
        f"{SCRIPTS}/embed_texts.py"
