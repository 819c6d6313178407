# What `snakemake --report` shows for the tables: each global table as a browsable HTML preview and, unless
# it is a per-image table too large to embed at full scale (benchmarks/report_size.py: ~111 MB with them,
# ~51 MB without), the parquet itself. Both entries share report/captions/table.rst, which prints the table's
# own description (sing.outputs.TableSpec: params rows / summary / columns). A preview shows display names and
# says when rows come from random weights (its settings: the display names and the weights lock entries).


localrules:
    table_preview,
    table_preview_per_image,
    front_page,


# embedded as previews only (sing.outputs.TableSpec per_image)
PER_IMAGE_TABLES = outputs.per_image_tables()
# each table's description for its report caption (report/captions/table.rst)
TABLE_TEXT = {
    part: (
        lambda w, part=part: outputs.inline_markup(
            getattr(outputs.table(w.table), part), "rst"
        )
    )
    for part in ("rows", "summary", "columns")
}


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
        table=one_of(t for t in TABLES if t not in PER_IMAGE_TABLES),
    conda:
        "../envs/sing.yaml"
    params:
        **TABLE_TEXT,
        settings=settings("table_preview"),
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
        table=one_of(PER_IMAGE_TABLES),
    params:
        **TABLE_TEXT,
        settings=settings("table_preview_per_image"),
        name="tables/{table}.parquet",
        max_rows=100,
        embedded=False,


# The report's front page: the answer first (sing.analysis.headline.front_page), then the method text of
# report/workflow.rst. The Snakefile's `report:` points at it once it exists.
REPORT_DIR = Path(str(workflow.current_basedir)).parent / "report"
# "is the model ordering stable under the translator?" (none when every translator is published: nothing to vary)
STABILITY = (
    {"stability": f"{R}/tables/translator_stability.parquet"}
    if "translator_stability" in TABLES
    else {}
)


rule front_page:
    input:
        **STABILITY,
        model_summary=f"{R}/tables/model_summary.parquet",
        figures=[f"{R}/figures/{f}.{config['figures']['formats'][0]}" for f in FIGURES],
        method=str(REPORT_DIR / "workflow.rst"),
        style=str(REPORT_DIR / "front_page_style.rst"),
        settings=manifest("front_page"),
    output:
        FRONT_PAGE,
    log:
        f"{R}/logs/front_page.log",
    conda:
        "../envs/sing.yaml"
    params:
        settings=settings("front_page"),
    script:
        f"{SCRIPTS}/front_page.py"
