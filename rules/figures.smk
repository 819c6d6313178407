localrules:
    figure,


FIGURE_INPUTS = {
    "ratio_scatter": ["model_summary"],
    "ratio_scatter_all": ["model_summary"],
    "ratio_bars": ["model_summary"],
    "ratio_bars_all": ["model_summary"],
    "class_violins": ["class_summary"],
    "open_vocabulary": ["open_vocabulary"],
    "validation": ["validation"],
    "space_crosscheck": ["space_crosscheck"],
    "robustness": ["robustness"],
    "spectra": ["model_summary"],
    "leakage_heatmap": ["class_summary"],
    "steering": ["steering"],
}


def figure_inputs(w):
    inputs = {table: f"{R}/tables/{table}.parquet" for table in FIGURE_INPUTS[w.figure]}
    if w.figure == "spectra":
        inputs["geometries"] = expand(f"{R}/heads/{{model}}/geometry.safetensors", model=MODELS)
    return inputs


rule figure:
    input:
        unpack(figure_inputs),
    output:
        **{
            fmt: report(
                f"{R}/figures/{{figure}}.{fmt}",
                caption="../report/captions/{figure}.rst",
                category="Figures",
                labels={"figure": "{figure}", "format": fmt},
            )
            for fmt in config["figures"]["formats"]
        },
        data=f"{R}/figures/{{figure}}.data.parquet",
    params:
        figure="{figure}",
        settings={
            **config["figures"],
            "display": {key: config["models"][key]["display"] for key in MODELS},
            "space_display": {key: config["spaces"][key]["display"] for key in SPACES},
            "models": MODELS,
        },
    wildcard_constraints:
        figure="|".join(FIGURES),
    log:
        f"{R}/logs/figure/{{figure}}.log",
    script:
        f"{SCRIPTS}/make_figure.py"
