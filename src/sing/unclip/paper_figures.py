"""The supplementary's UnCLIP figures that show what the numbers look like (qualitative illustration only; every
quantitative claim rests on logits and CLIP embeddings):

* :func:`angle_gallery` — supp. Fig. 10: images chosen at quantiles of IS (or |AS|) over the analysed images,
  each rendered as the original ``T f`` and the null-removed ``T̂ f̃``, labelled with its AS and IS;
* :func:`translator_sheet` — supp. Fig. 11: the same features through each translator of the translator study
  (and, when given, the real CLIP image embedding), labelled with the cosine to the real embedding;
* :func:`perturbation_sheet` — supp. Fig. 13: one feature under null-space / random / principal perturbations of
  equal norm (:func:`sing.unclip.embeddings.perturbed_embeddings`) for several seeds; in every column the
  perturbation seed and the diffusion noise are that column's seed, shared by all its rows, so pictures in a
  column differ only through δ.

Every function returns ``(sheet, records)``: a PIL contact sheet (:func:`sing.unclip.sheet.contact_sheet`) and one
dict per cell with the numbers behind it. Rendering: :func:`sing.unclip.render.render_embeddings` (shared seeded
noise; an image is a function of embedding, seed, steps, guidance and batch size only). Angles in degrees.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..analysis.scores import score_images
from ..core.arrays import as_float64
from ..core.metrics import angle_deg
from ..core.perturb import PERTURBATION_KINDS, logit_change
from .embeddings import equivalent_pair_embeddings, perturbed_embeddings, rescale_to_reference
from .render import render_embeddings
from .sheet import contact_sheet

__all__ = ["angle_gallery", "gallery_indices", "perturbation_sheet", "translator_sheet"]


def _render(pipeline, E, seed, render):
    return render_embeddings(pipeline, np.asarray(E, dtype=np.float64), seed=seed, **render)


def _render_args(decoder_steps, super_res_steps, batch_size, decoder_guidance_scale):
    return {"decoder_steps": decoder_steps, "super_res_steps": super_res_steps, "batch_size": batch_size,
            "decoder_guidance_scale": decoder_guidance_scale}


def gallery_indices(values: Any, quantiles: Sequence[float]) -> np.ndarray:
    """Row index of the image at each quantile q of ``values`` (N,): the ``round(q·(N − 1))``-th smallest
    (stable sort, so ties keep row order; q = 0 / 1 are the minimum / maximum). ValueError for q outside [0, 1]
    or NaN values."""
    v = as_float64(values, "values", ndim=1)
    q = as_float64(quantiles, "quantiles", ndim=1)
    if np.any((q < 0) | (q > 1)):
        raise ValueError(f"quantiles: must lie in [0, 1], got {q.tolist()}")
    order = np.argsort(v, kind="stable")
    return order[np.rint(q * (len(v) - 1)).astype(np.int64)]


def angle_gallery(pipeline: Any, F: Any, geometry: Any, translator: Any, z_text: Any, *,
                  quantiles: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), by: str = "is",
                  image_ids: Sequence[str] | None = None, seed: int = 0, decoder_steps: int = 25,
                  super_res_steps: int = 7, batch_size: int = 8, decoder_guidance_scale: float = 8.0,
                  cell_size: int | None = None):
    """Supp. Fig. 10: what AS and IS look like. The analysed images' null-removal scores
    (:func:`sing.analysis.scores.score_images`) are ranked by ``by`` ("is" or "abs_as"); the image at each quantile
    (:func:`gallery_indices`) becomes a column: top row the original ``T f``, bottom row the null-removed
    ``T̂ f̃`` (eq. 19), labelled "q=0.4 / AS 1.58°, IS 4.0°".

    F (N, m); z_text (N, n) each image's class prompt or (n,); image_ids (N) for the records. Records: column,
    quantile, row_index, image_id, kind ("original" | "null_removed"), as_deg, is_deg (per image). The paper's
    Fig. 10 steps one shark feature further and further; sing shows real images at score quantiles instead, so
    each angle is one a reader meets in the tables.
    """
    if by not in ("is", "abs_as"):
        raise ValueError(f"by: expected 'is' or 'abs_as', got {by!r}")
    F64 = as_float64(F, "F", ndim=2)
    if image_ids is not None and len(image_ids) != F64.shape[0]:
        raise ValueError(f"image_ids: expected {F64.shape[0]} ids, got {len(image_ids)}")
    s = score_images(F64, z_text, geometry, translator)
    idx = gallery_indices(s["is_deg"] if by == "is" else np.abs(s["as_deg"]), quantiles)
    Z, Z_eq = equivalent_pair_embeddings(F64[idx], geometry, translator)
    images = _render(pipeline, np.concatenate([Z, Z_eq]), seed,
                     _render_args(decoder_steps, super_res_steps, batch_size, decoder_guidance_scale))
    k = len(idx)
    grid = [images[:k], images[k:]]
    labels, records = [], []
    for j, (q, i) in enumerate(zip(quantiles, idx)):
        a, b = float(s["as_deg"][i]), float(s["is_deg"][i])
        labels.append(f"q={q:g}\nAS {a:.2f}°, IS {b:.1f}°")
        for kind in ("original", "null_removed"):
            records.append({"column": j, "quantile": float(q), "row_index": int(i),
                            "image_id": None if image_ids is None else str(image_ids[i]), "kind": kind,
                            "as_deg": a, "is_deg": b})
    return contact_sheet(grid, ["original", "null removed"], labels, cell_size=cell_size), records


def translator_sheet(pipeline: Any, columns: Mapping[str, Any], *, z_true: Any | None = None,
                     row_labels: Sequence[str] | None = None, seed: int = 0, decoder_steps: int = 25,
                     super_res_steps: int = 7, batch_size: int = 8, decoder_guidance_scale: float = 8.0,
                     cell_size: int | None = None):
    """Supp. Fig. 11: the same features through different translators. ``columns``: label (e.g. "mlp3/mse") →
    translated features (N, n), one column each, in mapping order; ``z_true`` (N, n): the real CLIP image
    embeddings of the same images, rendered as the first column ("CLIP image embedding") and used for the cosine
    in every label and record. Records: row, column, translator, cosine_to_clip (NaN without ``z_true``).
    Raises ValueError for no column or mismatched shapes."""
    if not columns:
        raise ValueError("columns: need at least one translator")
    mats = {str(k): as_float64(v, f"columns[{k!r}]", ndim=2) for k, v in columns.items()}
    shapes = {m.shape for m in mats.values()}
    if len(shapes) != 1:
        raise ValueError(f"columns: translated features of different shapes {sorted(shapes)}")
    N, n = next(iter(shapes))
    if z_true is not None:
        zt = as_float64(z_true, "z_true", shape=(N, n))
        mats = {"CLIP image embedding": zt, **mats}
    flat = np.concatenate(list(mats.values()))
    images = _render(pipeline, flat, seed, _render_args(decoder_steps, super_res_steps, batch_size,
                                                       decoder_guidance_scale))
    grid = [[images[j * N + i] for j in range(len(mats))] for i in range(N)]
    records, labels = [], []
    for j, (label, E) in enumerate(mats.items()):
        cos = (np.einsum("ij,ij->i", E, zt) / (np.linalg.norm(E, axis=1) * np.linalg.norm(zt, axis=1))
               if z_true is not None else np.full(N, np.nan))
        labels.append(label if z_true is None or j == 0 else f"{label} (cos {np.mean(cos):.3f})")
        for i in range(N):
            records.append({"row": i, "column": j, "translator": label, "cosine_to_clip": float(cos[i])})
    rows = list(row_labels) if row_labels is not None else [str(i) for i in range(N)]
    if len(rows) != N:
        raise ValueError(f"row_labels: expected {N} labels, got {len(rows)}")
    return contact_sheet(grid, rows, labels, cell_size=cell_size), records


def perturbation_sheet(pipeline: Any, f: Any, geometry: Any, translator: Any, W: Any, *,
                       seeds: Sequence[int] = (0, 1, 2, 3), kinds: Sequence[str] = PERTURBATION_KINDS,
                       norm: float | None = None, pred: int | None = None, bias: Any = None,
                       decoder_steps: int = 25, super_res_steps: int = 7, batch_size: int = 8,
                       decoder_guidance_scale: float = 8.0, cell_size: int | None = None):
    """Supp. Fig. 13: one feature ``f`` (m,) under equal-norm perturbations, one row per kind (``null``: a random
    null-space direction, ``random``, ``principal``: the predicted class's head row) after an ``original`` row,
    one column per seed. Column s: δ drawn with seed s (``principal`` does not depend on it) and every picture
    rendered with diffusion seed s, so the rows of a column share their noise. ``norm`` default ‖Π_n f‖ (the
    validation's equal norm); embeddings ``T̂(f + δ)`` rescaled to ‖T f‖ (eq. 19).

    Records: row, column, kind, seed, image_score_deg ``∠(T f, T(f + δ))``, logit_change ``‖W δ‖``, norm.
    ValueError for an unknown kind, no seed, or a ``null`` row with nullity 0.
    """
    f64 = as_float64(f, "f", ndim=1)
    W64 = as_float64(W, "W", ndim=2)
    for k in kinds:
        if k not in PERTURBATION_KINDS:
            raise ValueError(f"kinds: {k!r} is not one of {PERTURBATION_KINDS}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    nrm = float(np.linalg.norm(np.asarray(geometry.project_null(f64), dtype=np.float64))) if norm is None \
        else float(norm)
    z = np.asarray(translator(f64[None]), dtype=np.float64)
    pred_arr = None if pred is None else np.array([int(pred)])
    render = _render_args(decoder_steps, super_res_steps, batch_size, decoder_guidance_scale)
    rows = ["original", *kinds]
    grid: list[list[Any]] = [[None] * len(seeds) for _ in rows]
    records = []
    for j, s in enumerate(seeds):
        E = [rescale_to_reference(z, z)]
        info = [(0.0, 0.0)]
        for kind in kinds:
            Zp, delta = perturbed_embeddings(f64[None], geometry, translator, kind, nrm, s, W=W64, bias=bias,
                                             pred=pred_arr)
            E.append(np.asarray(Zp, dtype=np.float64))
            info.append((float(angle_deg(z[0], np.asarray(Zp, dtype=np.float64)[0])),
                         float(logit_change(W64, np.asarray(delta, dtype=np.float64))[0])))
        images = _render(pipeline, np.concatenate(E), s, render)
        for i, (kind, im, (is_deg, lc)) in enumerate(zip(rows, images, info)):
            grid[i][j] = im
            records.append({"row": i, "column": j, "kind": kind, "seed": s, "image_score_deg": is_deg,
                            "logit_change": lc, "norm": 0.0 if kind == "original" else nrm})
    labels = {"original": "original", "null": "null space", "random": "random", "principal": "principal"}
    return contact_sheet(grid, [labels[r] for r in rows], [f"seed {s}" for s in seeds], cell_size=cell_size), records
