"""Estimate the size of `snakemake --report` for the full paper config from a finished demo run.

The report embeds every attached file as a base64 data URI (4/3 of its size) on top of a fixed part (the
report app: React, Vega, Tailwind, rule sources). This script

1. measures the fixed part from a demo report (its size minus the base64 of the files it attaches);
2. rebuilds every global table at the paper's row counts (13 models × 2 spaces × 1000 classes, 50 analysis
   images per class, 10 translator images per class): key columns are the real keys (config `run_models`,
   `run_spaces`, the 1000 ImageNet wnids as class ids, ImageNet-style image ids), every other column is resampled from
   the demo table with relative jitter of 1e-3 on floats (so values are as distinct as real ones), written
   with sing's own parquet writer;
3. redraws the figures from those tables with sing.figures (all but `spectra`, which needs head geometries:
   its data part is scaled by 13 / demo models);
4. prints per-file sizes and the estimated report size as the workflow attaches files (the tables whose parquet
   the demo report leaves out are left out at full scale too) and with every parquet attached.

    .venv/bin/python benchmarks/report_size.py --results results/demo --report report.html

`--report` is a report built from `--results` (e.g. `snakemake --configfile config.demo.yaml --report
report.html`). Nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from snakemake.utils import validate

from sing.data.classes import imagenet_wnids
from sing.figures.render import make
from sing.io.storage import write_frame
from sing.outputs import figure_names
from sing.registry import resolve_models, resolve_spaces

REPO = Path(__file__).resolve().parents[1]


def b64(n: int) -> int:
    return 4 * ((n + 2) // 3)


def report_entries(report: Path) -> dict[str, int]:
    """path -> bytes of the data URI payload of every result the report embeds."""
    html = report.read_text()
    match = re.search(r'<script id="results">\s*var results = (\{.*?\});?\s*</script>', html, flags=re.S)
    if match is None:
        raise SystemExit(f"{report}: no results block (not a Snakemake 9 HTML report?)")
    results = json.loads(match.group(1))
    return {path: len(entry["data_uri"]) for path, entry in results.items()}


def scale(demo: pl.DataFrame, keys: dict[str, list], rng: np.random.Generator) -> pl.DataFrame:
    """Cross product of the key columns (first key slowest); the other columns resampled from `demo`, floats
    jittered."""
    sizes = [len(values) for values in keys.values()]
    n = int(np.prod(sizes))
    columns, repeat = {}, n
    for (name, values), size in zip(keys.items(), sizes):
        repeat //= size
        columns[name] = pl.Series(name, values).gather((np.arange(n) // repeat) % size)
    pick = rng.integers(0, demo.height, n)
    for name in demo.columns:
        if name not in keys:
            col = demo[name].gather(pick)
            columns[name] = col * pl.Series(1 + 1e-3 * rng.standard_normal(n)) if col.dtype.is_float() else col
    return pl.DataFrame(columns).select(demo.columns)


def full_tables(results: Path, out: Path, config: dict) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    models, spaces = config["run_models"], config["run_spaces"]
    wnids = list(imagenet_wnids())
    val = [f"val/{w}/ILSVRC2012_val_{i:08d}.JPEG" for i, w in enumerate(w for w in wnids for _ in range(50))]
    steering_imgs = val[:50]
    ov_classes = config["analyses"]["open_vocabulary"]["classes"]
    demo = {p.stem: pl.read_parquet(p) for p in (results / "tables").glob("*.parquet")}
    n_concepts = demo["open_vocabulary"].group_by("model", "space", "class_id").len()["len"].max()
    specs = {
        "model_summary": {"model": models, "space": spaces},
        "class_summary": {"model": models, "space": spaces, "class_id": wnids},
        "space_crosscheck": {"model": models},
        "robustness": {"model": models, "space": spaces},
        "open_vocabulary": {"model": models, "space": spaces, "class_id": ov_classes,
                            "concept": [f"concept {i}" for i in range(n_concepts)]},
        "steering": {"model": models, "space": spaces, "calibration": ["mean_is", "per_image"],
                     "image_id": steering_imgs},
        "joint_sample": {"model": models, "space": spaces, "image_id": val[: config["analyses"]["joint_points"]]},
        "validation": {"model": models, "space": spaces, "image_id": val[: config["analyses"]["validation"]
                       ["max_images"]], "kind": ["null", "random", "principal"],
                       "seed": list(range(config["analyses"]["validation"]["seeds"]))},
        "translator_eval": {"model": models, "space": spaces, "image_id": val},
    }
    paths = {}
    for name, keys in specs.items():
        frame = scale(demo[name], keys, rng)
        if name == "translator_eval":
            frame = frame.with_columns(class_id=pl.col("image_id").str.split("/").list.get(1))
        paths[name] = out / f"{name}.parquet"
        write_frame(frame, paths[name], {"kind": "table", "table": name})
    pairs = list(itertools.combinations(models, 2))
    keys = pl.DataFrame({"space": [s for s in spaces for _ in pairs], "model_a": [a for _ in spaces for a, _ in pairs],
                         "model_b": [b for _ in spaces for _, b in pairs]})
    rc = demo["rank_correlation"]
    rank = keys.with_columns(rc.drop(keys.columns).gather(rng.integers(0, rc.height, keys.height)))
    paths["rank_correlation"] = out / "rank_correlation.parquet"
    write_frame(rank.select(rc.columns), paths["rank_correlation"], {"kind": "table", "table": "rank_correlation"})
    return paths


def full_figures(tables: dict[str, Path], out: Path, config: dict, demo_figures: Path) -> dict[str, int]:
    settings = {**config["figures"], "models": config["run_models"],
                "display": config["display"], "space_display": config["space_display"],
                "steering_target": config["analyses"]["steering"]["target"]}
    sizes = {}
    for figure in figure_names():
        outputs = {fmt: out / f"{figure}.{fmt}" for fmt in config["figures"]["formats"]}
        if figure == "spectra":  # needs head geometries: scale the demo's plotted data by the model count
            demo_models = pl.read_parquet(demo_figures / "spectra.data.parquet")["model"].n_unique()
            base = (demo_figures / "ratio_bars.html").stat().st_size  # bundle + a tiny spec
            for fmt, path in outputs.items():
                size = (demo_figures / path.name).stat().st_size
                factor = len(config["run_models"]) / demo_models
                sizes[path.name] = int(base + (size - base) * factor) if fmt == "html" else int(size * factor)
            continue
        make(figure, {k: str(v) for k, v in tables.items()}, {k: str(v) for k, v in outputs.items()},
                 settings)
        sizes.update({p.name: p.stat().st_size for p in outputs.values()})
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=REPO / "results/demo")
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--configfile", type=Path, default=REPO / "config.yaml")
    args = parser.parse_args()
    config = yaml.safe_load(args.configfile.read_text())
    validate(config, str(REPO / "schemas" / "config.schema.yaml"), set_default=True)  # as sing.workflow.config
    models = resolve_models(config["run_models"], config["models"])
    spaces = resolve_spaces(config["run_spaces"], config["spaces"])
    config.update(run_models=list(models), run_spaces=list(spaces),
                  display={k: e.display for k, e in models.items()},
                  space_display={k: e.display for k, e in spaces.items()})

    embedded = report_entries(args.report)
    fixed = args.report.stat().st_size - sum(embedded.values())
    print(f"demo report: {args.report.stat().st_size / 1e6:.1f} MB, {len(embedded)} entries, "
          f"{sum(embedded.values()) / 1e6:.1f} MB of data URIs, fixed part {fixed / 1e6:.1f} MB")

    with tempfile.TemporaryDirectory() as tmp:
        tables = full_tables(args.results, Path(tmp), config)
        table_sizes = {name: path.stat().st_size for name, path in tables.items()}
        (Path(tmp) / "figures").mkdir()
        figure_sizes = full_figures(tables, Path(tmp) / "figures", config, args.results / "figures")
    print("\nfull config, table (rows as in the paper) -> parquet MB")
    for name, size in sorted(table_sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28s} {size / 1e6:8.2f}")
    print(f"full config, figures: {len(figure_sizes)} files, {sum(figure_sizes.values()) / 1e6:.1f} MB")

    names = {Path(path).name: size for path, size in embedded.items()}
    previews = {n.removesuffix(".preview.html"): size for n, size in names.items() if n.endswith(".preview.html")}
    left_out = sorted(set(previews) - {n.removesuffix(".parquet") for n in names if n.endswith(".parquet")})
    base = fixed + b64(sum(figure_sizes.values())) + sum(previews.values())  # previews: at most 100 rows
    every = base + sum(b64(size) for size in table_sizes.values())
    attached = base + sum(b64(size) for name, size in table_sizes.items() if name not in left_out)
    print(f"\nestimated full report, every parquet attached: {every / 1e6:6.1f} MB")
    print(f"estimated full report, as configured (parquet of {', '.join(left_out)} left out): "
          f"{attached / 1e6:6.1f} MB")
    unclip, models = config["unclip"], len(config["run_models"])
    cells, side = unclip["n_images"] * (2 + len(unclip["prompts"])), unclip.get("cell_size") or 256
    sheet = cells * side**2 * 3  # raw RGB: an upper bound for the PNG
    print(f"unclip.enabled (here: {unclip['enabled']}) adds one contact sheet per model, at most {cells} cells "
          f"x {side}² px x 3 B = {sheet / 1e6:.1f} MB: {b64(sheet) * models / 1e6:.0f} MB for {models} models")

if __name__ == "__main__":
    main()
