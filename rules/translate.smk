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
    threads: max_threads(4)
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
        mem_mb=mem_mb(4000),
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
        translator=translator_file(),
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


rule translator_study:
    """Supp. §1.1 / Table 2 / Figs. 7-8: the ridge vs the MLP translators, trained on the translator sample (early
    stopping on its fold translator.study.stop_fold) and evaluated on the held-out study images.
    """
    input:
        features=f"{R}/features/{{model}}/translator.parquet",
        clip=f"{R}/clip/{{space}}/translator.parquet",
        study_features=f"{R}/features/{{model}}/study.parquet",
        study_clip=f"{R}/clip/{{space}}/study.parquet",
        translator=f"{R}/translators/{{model}}/{{space}}.safetensors",
        settings=manifest("translator_study"),
    output:
        study=f"{R}/tables/per_model/{{model}}/{{space}}/translator_study.parquet",
        curves=f"{R}/tables/per_model/{{model}}/{{space}}/translator_curves.parquet",
        cosines=f"{R}/tables/per_model/{{model}}/{{space}}/translator_cosines.parquet",
        best=f"{R}/translators/{{model}}/{{space}}.best_nonlinear.safetensors",
        embeddings=f"{R}/translators/{{model}}/{{space}}.study_embeddings.parquet",
        timings=f"{R}/benchmarks/translator_study/{{model}}/{{space}}.translators.tsv",
    log:
        f"{R}/logs/translator_study/{{model}}/{{space}}.log",
    benchmark:
        f"{R}/benchmarks/translator_study/{{model}}/{{space}}.tsv"
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        **GPU_RESOURCES,
        mem_mb=mem_mb(32000),
        runtime=120,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("translator_study"),
    script:
        f"{SCRIPTS}/translator_study.py"


rule translator_sensitivity:
    """Beyond the paper: the analysed images' null-removal scores under the ridge at α × factors (refitted from
    the translator sample's sufficient statistics) and the study's best non-linear translator.
    """
    input:
        unpack(ridge_inputs),
        features=lambda w: chunk_dirs("features", "analysis", model=w.model),
        text=text_file("classes"),
        translator_features=f"{R}/features/{{model}}/translator.parquet",
        translator_clip=f"{R}/clip/{{space}}/translator.parquet",
        best=if_study(f"{R}/translators/{{model}}/{{space}}.best_nonlinear.safetensors"),
        settings=manifest("translator_sensitivity"),
    output:
        sensitivity=f"{R}/tables/per_model/{{model}}/{{space}}/translator_sensitivity.parquet",
    log:
        f"{R}/logs/translator_sensitivity/{{model}}/{{space}}.log",
    conda:
        "../envs/sing.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(16000),
        runtime=60,
        cpus_per_task=cpus_per_task,
    params:
        settings=settings("translator_sensitivity"),
    script:
        f"{SCRIPTS}/translator_sensitivity.py"


localrules:
    translator_stability,


rule translator_stability:
    """Kendall τ / Spearman ρ of the model ordering under each translator variant against the default."""
    input:
        sensitivity=f"{R}/tables/translator_sensitivity.parquet",
        settings=manifest("translator_stability"),
    output:
        stability=f"{R}/tables/translator_stability.parquet",
    log:
        f"{R}/logs/translator_stability.log",
    conda:
        "../envs/sing.yaml"
    params:
        settings=settings("translator_stability"),
    script:
        f"{SCRIPTS}/translator_stability.py"
