localrules:
    head_geometry,
    aggregate_model,
    compare_models,
    collect_table,


rule score_chunk:
    input:
        unpack(model_inputs),
        features=f"{R}/features/{{model}}/analysis/chunk-{{chunk}}",
        manifest=manifest("analysis"),
    output:
        scores=directory(f"{R}/scores/{{model}}/{{space}}/chunk-{{chunk}}"),
    log:
        f"{R}/logs/score_chunk/{{model}}/{{space}}/{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/score_chunk/{{model}}/{{space}}/{{chunk}}.tsv"
    group:
        "score"
    conda:
        "../envs/sing.yaml"
    params:
        baseline_seeds=config["analyses"]["baseline_seeds"],
        seed=config["analyses"]["seed"],
    script:
        f"{SCRIPTS}/score_chunk.py"


rule aggregate_model:
    input:
        scores=lambda w: chunk_dirs("scores", "analysis", model=w.model, space=w.space),
        geometry=f"{R}/heads/{{model}}/geometry.safetensors",
        translator=f"{R}/translators/{{model}}/{{space}}.safetensors",
    output:
        model_summary=f"{R}/tables/per_model/{{model}}/{{space}}/model_summary.parquet",
        class_summary=f"{R}/tables/per_model/{{model}}/{{space}}/class_summary.parquet",
    log:
        f"{R}/logs/aggregate_model/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    params:
        model="{model}",
        space="{space}",
        bootstrap=config["analyses"]["bootstrap"],
        ci=config["analyses"]["ci"],
        seed=config["analyses"]["seed"],
    script:
        f"{SCRIPTS}/aggregate_model.py"


rule steering:
    input:
        unpack(model_inputs),
        features=f"{R}/features/{{model}}/analysis/chunk-{chunk_holding(config['analyses']['steering']['source_class'])}",
    output:
        steering=f"{R}/tables/per_model/{{model}}/{{space}}/steering.parquet",
    log:
        f"{R}/logs/steering/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    params:
        model="{model}",
        space="{space}",
        source_wnid=config["analyses"]["steering"]["source_class"],
        target=config["analyses"]["steering"]["target"],
        target_is_deg=config["analyses"]["steering"]["target_is_deg"],
    script:
        f"{SCRIPTS}/steering.py"


rule validation:
    input:
        unpack(model_inputs),
        features=f"{R}/features/{{model}}/translator.parquet",
    output:
        validation=f"{R}/tables/per_model/{{model}}/{{space}}/validation.parquet",
    log:
        f"{R}/logs/validation/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    params:
        model="{model}",
        space="{space}",
        seeds=config["analyses"]["validation"]["seeds"],
        max_images=config["analyses"]["validation"]["max_images"],
        seed=config["analyses"]["seed"],
    script:
        f"{SCRIPTS}/validation.py"


rule robustness:
    input:
        unpack(model_inputs),
        features=f"{R}/features/{{model}}/translator.parquet",
    output:
        robustness=f"{R}/tables/per_model/{{model}}/{{space}}/robustness.parquet",
    log:
        f"{R}/logs/robustness/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    params:
        model="{model}",
        space="{space}",
        test_fraction=config["analyses"]["robustness"]["test_fraction"],
        max_iter=config["analyses"]["robustness"]["max_iter"],
        seed=config["analyses"]["seed"],
    script:
        f"{SCRIPTS}/robustness.py"


rule open_vocabulary:
    input:
        unpack(model_inputs),
        features=lambda w: chunk_dirs("features", "openvocab", model=w.model),
        manifests=expand(
            f"{R}/manifests/openvocab/chunk-{{chunk}}.json",
            chunk=chunk_ids("openvocab"),
        ),
    output:
        open_vocabulary=f"{R}/tables/per_model/{{model}}/{{space}}/open_vocabulary.parquet",
    log:
        f"{R}/logs/open_vocabulary/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    params:
        model="{model}",
        space="{space}",
        concepts=open_vocabulary_concepts(),
    script:
        f"{SCRIPTS}/open_vocabulary.py"


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
            f"{R}/tables/per_model/{{model}}/{{space}}/robustness.parquet",
            model=MODELS,
            space=SPACES,
        ),
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
    script:
        f"{SCRIPTS}/compare_models.py"


rule collect_table:
    input:
        tables=lambda w: expand(
            f"{R}/tables/per_model/{{model}}/{{space}}/{w.table}.parquet",
            model=MODELS,
            space=SPACES,
        ),
    output:
        table=f"{R}/tables/{{table}}.parquet",
    log:
        f"{R}/logs/collect_table/{{table}}.log",
    wildcard_constraints:
        table="steering|validation|open_vocabulary|translator_eval",
    conda:
        "../envs/sing.yaml"
    script:
        f"{SCRIPTS}/collect.py"
