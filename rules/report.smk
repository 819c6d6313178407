# What `snakemake --report` shows for the tables: each global table as a browsable HTML preview and, unless
# it is a per-image table too large to embed at full scale (benchmarks/report_size.py: ~111 MB with them,
# ~51 MB without), the parquet itself. Both entries share report/captions/table.rst. No config key decides a
# preview (its params are constants), so its manifest holds only the code it runs.


localrules:
    table_preview,
    table_preview_per_image,


# embedded as previews only (sing.outputs.TableSpec per_image)
PER_IMAGE_TABLES = outputs.per_image_tables()


rule table_preview:
    input:
        table=report(
            f"{R}/tables/{{table}}.parquet",
            caption="../report/captions/table.rst",
            category="Tables",
            labels={"table": "{table}", "format": "parquet"},
        ),
        settings=manifest("table_preview"),
    output:
        html=report(
            f"{R}/tables/{{table}}.preview.html",
            caption="../report/captions/table.rst",
            category="Tables",
            labels={"table": "{table}", "format": "html preview"},
        ),
    log:
        f"{R}/logs/table_preview/{{table}}.log",
    wildcard_constraints:
        table="|".join(t for t in TABLES if t not in PER_IMAGE_TABLES),
    conda:
        "../envs/sing.yaml"
    params:
        name="tables/{table}.parquet",
        max_rows=100,
        embedded=True,
    script:
        f"{SCRIPTS}/table_preview.py"


use rule table_preview as table_preview_per_image with:
    input:
        table=f"{R}/tables/{{table}}.parquet",
        settings=manifest("table_preview_per_image"),
    wildcard_constraints:
        table="|".join(PER_IMAGE_TABLES),
    params:
        name="tables/{table}.parquet",
        max_rows=100,
        embedded=False,
