"""Translator sensitivity and the translator study on a finished demo run's stored outputs (issue 17 notes):
no extraction, only the library calls the phase-2 workflow scripts will make.

Usage: python benchmarks/translator_demo_checks.py RESULTS_DIR [--study]
RESULTS_DIR: a finished `snakemake --configfile config.demo.yaml` results directory (read only).
The sensitivity uses every analysed image; the study (``--study``) evaluates on the analysis sample (ImageNet-val
images, never in the translator sample) as a stand-in for its own held-out sample, which the demo does not extract.
Random-weight models: the numbers check plumbing and cost, they are not findings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from sing.analysis.sensitivity import ordering_sentence, ordering_stability, ridge_variants, sensitivity_rows
from sing.analysis.translation import ridge_stats_from_pairs
from sing.analysis.translator_study import best_translator, translator_study
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.io.pairs import align_pairs, read_chunk_dirs
from sing.io.storage import read_embeddings
from sing.io.tables import load_text

MODELS = ("demo_resnet50", "demo_densenet121")
SPACES = ("demo_clip_a", "demo_clip_b")


def main(R: Path, study: bool, factors=(0.1, 10.0)):
    frames, study_tables, t_study = [], [], 0.0
    for space in SPACES:
        for model in MODELS:
            fr, Ft, _ = read_embeddings(R / f"features/{model}/translator.parquet")
            cr, Zt, _ = read_embeddings(R / f"clip/{space}/translator.parquet")
            T = LinearTranslator.load(R / f"translators/{model}/{space}.safetensors")
            g = HeadGeometry.load(R / f"heads/{model}/geometry.safetensors")
            stats = ridge_stats_from_pairs(feature_ids=fr["image_id"].to_list(), features=Ft,
                                           target_ids=cr["image_id"].to_list(), targets=Zt)
            table, F = read_chunk_dirs(sorted((R / f"features/{model}/analysis").glob("chunk-*")))
            F = F.astype(np.float64)
            _, Zc = load_text(R / f"text/{space}/classes.parquet", "class", table["class_id"].to_list())
            variants = {"default": T, **ridge_variants(stats, T.alpha, factors)}
            descriptions = {}
            if study:
                ctab, C = read_chunk_dirs(sorted((R / f"clip/{space}/analysis").glob("chunk-*")))
                ids, Fe, Ze = align_pairs(table["image_id"].to_list(), F, ctab["image_id"].to_list(),
                                          C.astype(np.float64))
                tids, Ftr, Ztr = align_pairs(fr["image_id"].to_list(), Ft.astype(np.float64),
                                             cr["image_id"].to_list(), Zt.astype(np.float64))
                cls = dict(zip(table["image_id"].to_list(), table["class_id"].to_list()))
                t0 = time.perf_counter()
                res = translator_study(Ftr, Ztr, tids, Fe, Ze, ids, model=model, space=space,
                                       eval_classes=[cls[i] for i in ids], ridge_alpha=T.alpha, folds=4, seed=0,
                                       hidden_dim=64, max_epochs=20, patience=5, batch_size=64)
                t_study += time.perf_counter() - t0
                study_tables.append(res.table)
                best = best_translator(res.table)
                variants["best_nonlinear"] = res.translators[best]
                descriptions["best_nonlinear"] = "/".join(best)
            frames.append(sensitivity_rows(F, Zc, g, variants, model=model, space=space, descriptions=descriptions))
    sens = pl.concat(frames)
    stab = ordering_stability(sens)
    with pl.Config(tbl_rows=100, tbl_cols=20, fmt_str_lengths=40, tbl_width_chars=200):
        print(sens)
        print(stab)
        if study_tables:
            print(pl.concat(study_tables).select("model", "space", "architecture", "loss", "method", "alpha",
                                                 "mse", "r2", "cosine_mean", "epochs_run", "train_gflop", "rank_mse"))
            print(json.dumps({"study_wall_s_4_pairs": round(t_study, 1)}))
    for space in SPACES:
        print(space, "->", ordering_sentence(stab, space))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("--study", action="store_true")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    main(a.results, a.study)
