localrules:
    head_geometry,
    aggregate_model,
    compare_models,
    collect_table,


rule score_chunk:
    input:
        unpack(model_inputs),
        features=f"{R}/features/{{model}}/analysis/chunk-{{chunk}}",
        text=text_file("classes"),
        settings=manifest("score_chunk"),
    output:
        scores=directory(f"{R}/scores/{{model}}/{{space}}/chunk-{{chunk}}"),
    log:
        f"{R}/logs/score_chunk/{{model}}/{{space}}/{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/score_chunk/{{model}}/{{space}}/{{chunk}}.tsv"
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(8000),
        runtime=30,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("score_chunk"),
    script:
        f"{SCRIPTS}/score_chunk.py"


rule aggregate_model:
    input:
        scores=lambda w: chunk_dirs("scores", "analysis", model=w.model, space=w.space),
        geometry=f"{R}/heads/{{model}}/geometry.safetensors",
        translator=translator_file(),
        settings=manifest("aggregate_model"),
    output:
        model_summary=f"{R}/tables/per_model/{{model}}/{{space}}/model_summary.parquet",
        class_summary=f"{R}/tables/per_model/{{model}}/{{space}}/class_summary.parquet",
        joint_sample=f"{R}/tables/per_model/{{model}}/{{space}}/joint_sample.parquet",
    log:
        f"{R}/logs/aggregate_model/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    params:
        settings=settings("aggregate_model"),
    script:
        f"{SCRIPTS}/aggregate_model.py"


rule steering:
    input:
        unpack(ridge_inputs),
        features=f"{R}/features/{{model}}/analysis/chunk-{chunk_holding(config['analyses']['steering']['source_class'])}",
        text=text_file("steering"),
        settings=manifest("steering"),
    output:
        steering=f"{R}/tables/per_model/{{model}}/{{space}}/steering.parquet",
    log:
        f"{R}/logs/steering/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(8000),
        runtime=30,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("steering"),
    script:
        f"{SCRIPTS}/steering.py"


rule validation:
    input:
        unpack(model_inputs),
        features=lambda w: chunk_dirs("features", "analysis", model=w.model),
        translator_sample=translator_sample,
        settings=manifest("validation"),
    output:
        validation=f"{R}/tables/per_model/{{model}}/{{space}}/validation.parquet",
    log:
        f"{R}/logs/validation/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb("validation"),
        runtime=30,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("validation"),
    script:
        f"{SCRIPTS}/validation.py"


rule train_probes:
    input:
        features=lambda w: chunk_dirs("features", "robustness", model=w.model),
        geometry=f"{R}/heads/{{model}}/geometry.safetensors",
        translators=per_space(translator_file()),
        settings=manifest("train_probes"),
    output:
        principal=f"{R}/probes/{{model}}/principal.safetensors",
        translated=per_space(f"{R}/probes/{{model}}/{{space}}.safetensors"),
        written=[
            written(f"{R}/probes/{{model}}/principal.safetensors"),
            *map(written, per_space(f"{R}/probes/{{model}}/{{space}}.safetensors")),
        ],
    log:
        f"{R}/logs/train_probes/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/train_probes/{{model}}.tsv"
    conda:
        "../envs/sing.yaml"
    threads: max_threads(8)
    resources:
        **GPU_RESOURCES,
        mem_mb=mem_mb("train_probes"),
        runtime=240,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("train_probes"),
    script:
        f"{SCRIPTS}/train_probe.py"


rule robustness:
    input:
        principal=f"{R}/probes/{{model}}/principal.safetensors",
        translated=per_space(f"{R}/probes/{{model}}/{{space}}.safetensors"),
        translators=per_space(translator_file()),
        geometry=f"{R}/heads/{{model}}/geometry.safetensors",
        features=lambda w: chunk_dirs("features", "analysis", model=w.model),
        train_features=lambda w: chunk_dirs("features", "robustness", model=w.model),
        translator_sample=translator_sample,
        settings=manifest("robustness"),
    output:
        robustness=f"{R}/tables/per_model/{{model}}/robustness.parquet",
    log:
        f"{R}/logs/robustness/{{model}}.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(16000),
        runtime=30,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("robustness"),
    script:
        f"{SCRIPTS}/robustness.py"


rule open_vocabulary:
    input:
        unpack(model_inputs),
        features=lambda w: chunk_dirs("features", "openvocab", model=w.model),
        text=text_file("concepts"),
        settings=manifest("open_vocabulary"),
    output:
        open_vocabulary=f"{R}/tables/per_model/{{model}}/{{space}}/open_vocabulary.parquet",
    log:
        f"{R}/logs/open_vocabulary/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(8000),
        runtime=30,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("open_vocabulary"),
    script:
        f"{SCRIPTS}/open_vocabulary.py"


rule class_concepts:
    """Which concepts each analysed class's null space carries most (|AS| of null removal, every dictionary of
    the space), and per model the concepts with the largest |AS| across classes."""
    input:
        unpack(model_inputs),
        features=lambda w: chunk_dirs("features", "analysis", model=w.model),
        dictionaries=lambda w: expand(
            f"{R}/text/{w.space}/dictionaries/{{dictionary}}.parquet",
            dictionary=PLAN.concept_dictionaries[w.space],
        ),
        settings=manifest("class_concepts"),
    output:
        class_concepts=f"{R}/tables/per_model/{{model}}/{{space}}/class_concepts.parquet",
        model_concepts=f"{R}/tables/per_model/{{model}}/{{space}}/model_concepts.parquet",
    log:
        f"{R}/logs/class_concepts/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(8000),
        runtime=60,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("class_concepts"),
    script:
        f"{SCRIPTS}/class_concepts.py"


rule compare_models:
    input:
        model_summaries=expand(
            f"{R}/tables/per_model/{{model}}/{{space}}/model_summary.parquet",
            model=MODELS,
            space=SPACES,
        ),
        class_summaries=expand(
            f"{R}/tables/per_model/{{model}}/{{space}}/class_summary.parquet",
            model=MODELS,
            space=SPACES,
        ),
        robustness=expand(
            f"{R}/tables/per_model/{{model}}/robustness.parquet", model=MODELS
        ),
        settings=manifest("compare_models"),
    output:
        model_summary=f"{R}/tables/model_summary.parquet",
        class_summary=f"{R}/tables/class_summary.parquet",
        rank_correlation=f"{R}/tables/rank_correlation.parquet",
        space_crosscheck=f"{R}/tables/space_crosscheck.parquet",
        robustness=f"{R}/tables/robustness.parquet",
    log:
        f"{R}/logs/compare_models.log",
    conda:
        "../envs/sing.yaml"
    params:
        settings=settings("compare_models"),
    script:
        f"{SCRIPTS}/compare_models.py"


rule collect_table:
    input:
        tables=table_parts,
        settings=manifest("collect_table"),
    output:
        table=f"{R}/tables/{{table}}.parquet",
    log:
        f"{R}/logs/collect_table/{{table}}.log",
    wildcard_constraints:
        table=one_of(outputs.collected_tables()),
    conda:
        "../envs/sing.yaml"
    params:
        settings=settings("collect_table"),
    script:
        f"{SCRIPTS}/collect.py"
