localrules:
    figure,


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
    log:
        f"{R}/logs/figure/{{figure}}.log",
    wildcard_constraints:
        figure="|".join(FIGURES),
    conda:
        "../envs/sing.yaml"
    params:
        figure="{figure}",
        settings={
            **config["figures"],
            "display": {key: config["models"][key]["display"] for key in MODELS},
            "space_display": {key: config["spaces"][key]["display"] for key in SPACES},
            "models": MODELS,
            "steering_target": config["analyses"]["steering"]["target"],
        },
    script:
        f"{SCRIPTS}/make_figure.py"
