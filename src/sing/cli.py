"""Command line: ``sing explain IMAGE --model KEY`` — the single-image diagnosis of the paper (§3.5).

It loads the classifier (sing.models.classifiers) and the head (in the dataset's class order), head geometry,
translator, text embeddings and class table (``classes.parquet``) the workflow wrote under ``--results``, removes
the null component of the image's feature (f̃ = f − Π_n f), and reports

* the prediction (identical for f and f̃: the logit change is printed as a check),
* AS toward the predicted class prompt, IS, ‖Π_n f‖/‖f‖,
* the concepts gained and lost by null removal (largest positive / negative AS over the concept and class
  prompts of the text table, or over ``--concepts``),

and writes ``explain.json`` and ``explain.png`` (AS of the top gained / lost concepts) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger("sing.cli")


def explain_feature(f: Any, logits: Any, geometry: Any, translator: Any, labels: Sequence[str],
                    kinds: Sequence[str], Z_text: Any, pred_label: str | None = None,
                    pred_text: Any | None = None, W: Any | None = None, top: int = 5) -> dict[str, Any]:
    """Diagnosis of one feature ``f`` (m,) given candidate texts (``labels``/``kinds``, embeddings P×d).

    ``pred_text``: the embedding of the predicted class prompt (AS/IS headline numbers). Returns a
    JSON-serialisable dict (angles in degrees).
    """
    from .analysis.open_vocabulary import open_vocabulary_scores
    from .analysis.scores import score_images
    from .core.arrays import as_float64

    f = as_float64(np.asarray(f).reshape(1, -1), "f", ndim=2)
    Z = as_float64(Z_text, "Z_text", ndim=2)
    if len(labels) != Z.shape[0] or len(kinds) != Z.shape[0]:
        raise ValueError(f"labels/kinds: need one per text embedding ({Z.shape[0]})")
    if top < 1:
        raise ValueError(f"top: must be >= 1, got {top}")
    logits = np.asarray(logits, dtype=np.float64).ravel()
    pred = int(np.argmax(logits))
    out: dict[str, Any] = {"pred_class": pred, "pred_label": pred_label, "pred_logit": float(logits[pred])}
    if pred_text is not None:
        s = score_images(f, np.asarray(pred_text, dtype=np.float64), geometry, translator, W=W)
        out.update({k: float(s[k][0]) for k in ("as_deg", "is_deg", "angle_orig_deg", "angle_eq_deg", "null_ratio",
                                                 "logit_change", "logit_change_rel")})
    else:
        s = score_images(f, Z[0], geometry, translator, W=W)
        out.update({k: float(s[k][0]) for k in ("is_deg", "null_ratio", "logit_change", "logit_change_rel")})
    ov = open_vocabulary_scores(f, geometry, translator, Z, list(labels))
    rows = [{"text": lab, "kind": kind, "angle_orig_deg": a0, "angle_eq_deg": a1, "as_deg": a}
            for lab, kind, a0, a1, a in zip(labels, kinds, ov["angle_orig_mean"].to_list(),
                                            ov["angle_eq_mean"].to_list(), ov["as_mean"].to_list())]
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["as_deg"], rows[i]["text"]))
    out["gained"] = [rows[i] for i in order[:top] if rows[i]["as_deg"] > 0]
    out["lost"] = [rows[i] for i in reversed(order[-top:]) if rows[i]["as_deg"] < 0]
    out["closest"] = sorted(rows, key=lambda r: (r["angle_orig_deg"], r["text"]))[:top]
    out["n_texts"] = len(rows)
    return out


def _chart(result: dict[str, Any], title: str):
    import altair as alt
    import polars as pl

    rows = [{**r, "change": "gained"} for r in result["gained"]] + [{**r, "change": "lost"} for r in result["lost"]]
    if not rows:
        rows = [{**r, "change": "gained" if r["as_deg"] >= 0 else "lost"} for r in result["closest"]]
    df = pl.DataFrame(rows).with_columns(
        pl.col("text").map_elements(lambda t: t if len(t) <= 40 else t[:39] + "…", return_dtype=pl.String))
    order = df.sort("as_deg", descending=True)["text"].to_list()
    chart = alt.Chart(df).mark_bar(size=14).encode(
        y=alt.Y("text:N", sort=order, title=None),
        x=alt.X("as_deg:Q", title="AS of null removal (°): + gained, − lost"),
        color=alt.Color("change:N", scale=alt.Scale(domain=["gained", "lost"], range=["#2ca02c", "#9467bd"]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["text", "kind", "as_deg", "angle_orig_deg", "angle_eq_deg"],
    ).properties(width=380, height=max(80, 22 * len(order)), title=alt.TitleParams(title, subtitle=[
        f"IS = {result.get('is_deg', float('nan')):.3f}°, "
        f"AS(predicted class) = {result.get('as_deg', float('nan')):.3f}°, "
        f"‖Π_n f‖/‖f‖ = {result.get('null_ratio', float('nan')):.3f}"]
        + (["nullity 0: the head has no null space, null removal changes nothing"]
           if result.get("nullity") == 0 else [])))
    return chart, df


def _load_config(path: str | Path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--config: no such file {p}")
    return yaml.safe_load(p.read_text()) or {}


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path} (run the workflow for this model/space first)")
    return path


def explain(image: str, model: str, results: str = "results", config: str = "config.yaml", space: str | None = None,
            concepts: Sequence[str] | None = None, out: str | None = None, top: int = 5,
            device: str = "cpu") -> dict[str, Any]:
    """Run the diagnosis end to end; returns the result dict (also written to ``out``/explain.json)."""
    import polars as pl
    import torch

    from .core.geometry import HeadGeometry
    from .core.translator import LinearTranslator
    from .data.images import load_rgb
    from .data.text import CLASS_PROMPT, CONCEPT_PROMPT
    from .figures.render import save
    from .io.storage import read_metadata
    from .io.tables import load_text, read_head
    from .models.classifiers import load_classifier
    from .models.weights import WeightsCache
    from .registry import MODELS, PAPER, SPACES, resolve_models, resolve_spaces

    cfg = _load_config(config)
    for option, key, catalogue, what in (("--model", model, MODELS, "models"), ("--space", space, SPACES, "spaces")):
        if key is not None and key not in {**catalogue, **(cfg.get(what) or {})}:
            raise ValueError(f"{option}: {key!r} is neither in the catalogue (sing.registry.{what.upper()}) nor in "
                             f"the config's {what} ({sorted(cfg.get(what) or {})})")
    entry = resolve_models([model], cfg.get("models"))[model]
    # like the workflow: the first of run_spaces ("paper" when the config file does not set it)
    space = space or next(iter(resolve_spaces(cfg.get("run_spaces") or PAPER, cfg.get("spaces"))))
    space_entry = resolve_spaces([space], cfg.get("spaces"))[space]
    R = Path(results)
    geometry = HeadGeometry.load(_need(R / "heads" / model / "geometry.safetensors", "head geometry"))
    translator = LinearTranslator.load(_need(R / "translators" / model / f"{space}.safetensors", "translator"))
    class_text = _need(R / "text" / space / "classes.parquet", "class-prompt embeddings")
    concept_text = _need(R / "text" / space / "concepts.parquet", "concept embeddings")
    W, b = read_head(_need(R / "heads" / model / "head.safetensors", "head"))  # in the dataset's class order
    dataset_classes = pl.read_parquet(_need(R / "classes.parquet", "dataset classes"))

    weights = WeightsCache(cfg.get("weights_dir"), offline=True)
    adapter = load_classifier(model, entry.spec(), device=device, weights=weights)
    img = load_rgb(_need(Path(image), "image"))
    with torch.inference_mode():
        x = adapter.transform(img).unsqueeze(0).to(device)
        f = adapter.features(x).float()
    f_np = f.cpu().numpy().astype(np.float64)[0]
    logits_np = W @ f_np + b
    pred = int(np.argmax(logits_np))

    # prompts the text tables lack are built exactly as the workflow built their rows (settings in their provenance)
    class_settings = read_metadata(class_text).get("provenance") or {}
    concept_settings = read_metadata(concept_text).get("provenance") or {}
    class_template = class_settings.get("class_prompt") or CLASS_PROMPT
    clip = None

    def embed(names: list[str], template: str, ensemble: str | None) -> tuple[np.ndarray, list[str]]:
        """Prompts the workflow's text table lacks, embedded with the same CLIP space."""
        nonlocal clip
        if clip is None:
            from .models.clip_spaces import load_space

            clip = load_space(space, space_entry.spec(), device=device, weights=weights)
        Z, prompts = clip.encode_prompts(names, template, ensemble)
        return np.asarray(Z, dtype=np.float64), prompts

    classes, Zc = load_text(class_text, "class")
    by_index = {int(i): r for r, i in enumerate(classes["class_index"].to_list())}
    pred_row = by_index.get(pred)
    pred_class = dataset_classes.filter(pl.col("class_index") == pred).row(0, named=True)
    pred_label = pred_class["name"]
    if pred_row is not None:
        pred_text = Zc[pred_row]
    else:
        pred_text = embed([pred_class["prompt_name"]], class_template, class_settings.get("templates"))[0][0]
    if concepts:
        ctab, _ = load_text(concept_text, "concept")
        have = set(ctab["key"].to_list())
        known = [c for c in concepts if c in have]
        missing = [c for c in concepts if c not in have]
        labels, kinds, embs = [], [], []
        if known:
            t, Z = load_text(concept_text, "concept", known)
            labels += t["prompt"].to_list()
            kinds += ["concept"] * len(known)
            embs.append(Z)
        if missing:
            Z, prompts = embed(missing, concept_settings.get("concept_prompt") or CONCEPT_PROMPT, None)
            labels += prompts
            kinds += ["concept"] * len(missing)
            embs.append(Z)
        Z_all = np.vstack(embs)
    else:
        ctab, Zk = load_text(concept_text, "concept")
        labels = ctab["prompt"].to_list() + classes["prompt"].to_list()
        kinds = ["concept"] * ctab.height + ["class"] * classes.height
        Z_all = np.vstack([Zk, Zc]) if ctab.height else Zc

    result = explain_feature(f_np, logits_np, geometry, translator, labels, kinds, Z_all, pred_label=pred_label,
                             pred_text=pred_text, W=W, top=top)
    result.update({"image": str(image), "model": model, "space": space, "nullity": int(geometry.nullity),
                   "rank": int(geometry.rank)})
    out_dir = Path(out) if out else Path("explain") / f"{Path(image).stem}_{model}_{space}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "explain.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    chart, data = _chart(result, f"{Path(image).name}: {model} predicts “{pred_label}”")
    save(chart, data, png=out_dir / "explain.png")
    result["outputs"] = [str(out_dir / "explain.json"), str(out_dir / "explain.png")]
    return result


def format_result(r: dict[str, Any]) -> str:
    lines = [f"{r.get('image', '')}  model={r.get('model', '')}  space={r.get('space', '')}  "
             f"(rank {r.get('rank', '?')}, nullity {r.get('nullity', '?')})",
             f"prediction: class {r['pred_class']} “{r.get('pred_label')}” (logit {r['pred_logit']:.3f}); "
             f"logit change of null removal {r.get('logit_change_rel', float('nan')):.2e} (relative)",
             f"AS (predicted class prompt) = {r.get('as_deg', float('nan')):+.4f}°   "
             f"IS = {r.get('is_deg', float('nan')):.4f}°"
             f"   ‖Π_n f‖/‖f‖ = {r.get('null_ratio', float('nan')):.4f}"]
    for title, key in (("gained by null removal (AS > 0)", "gained"), ("lost by null removal (AS < 0)", "lost")):
        lines.append(f"{title}:")
        if not r[key]:
            lines.append("  (none)")
        for row in r[key]:
            lines.append(f"  {row['as_deg']:+8.4f}°  {row['text']}  [{row['kind']}; angle "
                         f"{row['angle_orig_deg']:.2f}° → {row['angle_eq_deg']:.2f}°]")
    if r.get("outputs"):
        lines.append("wrote " + ", ".join(r["outputs"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sing", description="SING: semantic interpretation of a classifier "
                                                              "head's null space")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", help="single-image diagnosis: AS/IS of null removal and the concepts it "
                                        "gains or loses")
    ex.add_argument("image", help="image file")
    ex.add_argument("--model", required=True, help="model key of the config's `models`")
    ex.add_argument("--results", default="results", help="the workflow's results directory (default: results)")
    ex.add_argument("--config", default="config.yaml", help="workflow config (default: config.yaml)")
    ex.add_argument("--space", default=None, help="CLIP space key (default: the config's first run_spaces entry)")
    ex.add_argument("--concepts", nargs="+", default=None, help="concepts to test (default: every concept and "
                                                                "class prompt of the text table)")
    ex.add_argument("--out", default=None, help="output directory for explain.json / explain.png")
    ex.add_argument("--top", type=int, default=5, help="how many gained / lost concepts to list (default 5)")
    ex.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = explain(args.image, args.model, results=args.results, config=args.config, space=args.space,
                         concepts=args.concepts, out=args.out, top=args.top, device=args.device)
    except (ValueError, FileNotFoundError) as e:
        print(f"sing explain: error: {e}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
