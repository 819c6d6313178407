localrules:
    figures,


rule figures:
    input:
        **{
            table: f"{R}/tables/{table}.parquet"
            for table in outputs.figure_tables(config, fitted=bool(PLAN.fitted))
        },
        geometries=expand(f"{R}/heads/{{model}}/geometry.safetensors", model=MODELS),
        settings=manifest("figures"),
    output:
        **{
            f"{figure}_{fmt}": report(
                f"{R}/figures/{figure}.{fmt}",
                caption=f"../report/captions/{outputs.figure(figure).caption}",
                category="Figures",
                labels={
                    "figure": outputs.figure(figure).heading,
                    "format": fmt.upper(),
                },
            )
            for figure in FIGURES
            for fmt in config["figures"]["formats"]
        },
        **{f"{figure}_data": f"{R}/figures/{figure}.data.parquet" for figure in FIGURES},
    log:
        f"{R}/logs/figures.log",
    conda:
        "../envs/sing.yaml"
    params:
        settings=settings("figures"),
    script:
        f"{SCRIPTS}/make_figures.py"
