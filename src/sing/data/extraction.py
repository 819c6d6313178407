"""Batched feature / embedding extraction: image files -> DataLoader (decode + model transform) -> model.

GPU path: ``torch.inference_mode``, bf16/fp16 autocast (or fp32), optional channels_last, DataLoader workers
with pinned memory and prefetching, non-blocking host->device copies. Predictions are always computed in
fp32 from the returned features: pred = argmax(W f + b).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..core.files import atomic_path, write_safetensors
from ..io.provenance import package_versions
from ..io.provenance import provenance as build_provenance
from ..io.storage import write_embeddings, write_skipped
from ..core.geometry import weight_sha256
from ..models.classifiers import load_classifier
from ..models.clip_spaces import load_space
from ..models.devices import autocast_context, resolve_device
from ..models.weights import WeightsCache
from .imagenet import BadImageError, class_index, load_rgb, sample_images

log = logging.getLogger(__name__)

ON_BAD = ("fail", "skip")


class ImageFileDataset(torch.utils.data.Dataset):
    """(tensor, position) per image id; a bad image yields (None, position, error message)."""

    def __init__(self, root, image_ids: Sequence[str], transform: Callable):
        self.root = os.fspath(root)
        self.image_ids = list(image_ids)
        self.transform = transform

    def __len__(self):
        return len(self.image_ids)

    def __getitem__(self, i):
        path = os.path.join(self.root, self.image_ids[i])
        try:
            img = load_rgb(path)
        except BadImageError as e:
            return None, i, e.reason
        return self.transform(img), i, ""


def collate_skip_bad(batch):
    good = [b for b in batch if b[0] is not None]
    bad = [(b[1], b[2]) for b in batch if b[0] is None]
    x = torch.stack([b[0] for b in good]) if good else None
    return x, [b[1] for b in good], bad


def make_loader(root, image_ids, transform, *, batch_size: int, num_workers: int, device: torch.device,
                prefetch_factor: int = 4):
    ds = ImageFileDataset(root, image_ids, transform)
    kw = dict(batch_size=int(batch_size), shuffle=False, num_workers=int(num_workers), collate_fn=collate_skip_bad,
              pin_memory=device.type == "cuda", drop_last=False)
    if num_workers > 0:
        kw.update(prefetch_factor=prefetch_factor, persistent_workers=False)
    return torch.utils.data.DataLoader(ds, **kw)


def _run(encode: Callable, transform, image_ids, root, *, batch_size, precision, device, num_workers, on_bad_image,
         channels_last, progress, desc):
    if on_bad_image not in ON_BAD:
        raise ValueError(f"on_bad_image must be one of {ON_BAD}, got {on_bad_image!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    from tqdm import tqdm

    image_ids = list(image_ids)
    loader = make_loader(root, image_ids, transform, batch_size=batch_size, num_workers=num_workers, device=device)
    feats, order, skipped = [], [], []
    bar = tqdm(total=len(image_ids), desc=desc, file=progress if progress is not None else sys.stderr,
               disable=progress is False, mininterval=0 if progress in (None, sys.stderr) else 10, ascii=True,
               unit="img", dynamic_ncols=False, ncols=100)
    with torch.inference_mode(), bar:
        for x, pos, bad in loader:
            for i, msg in bad:
                if on_bad_image == "fail":
                    raise BadImageError(os.path.join(os.fspath(root), image_ids[i]), msg)
                log.warning("skipping bad image %s: %s", image_ids[i], msg)
                skipped.append({"image_id": image_ids[i], "error": msg})
            if x is not None:
                x = x.to(device, non_blocking=True)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast_context(precision, device):
                    f = encode(x)
                feats.append(f.float().cpu())
                order.extend(pos)
            bar.update(len(pos) + len(bad))
    d = feats[0].shape[1] if feats else None
    F = torch.cat(feats).numpy() if feats else None
    return [image_ids[i] for i in order], F, d, skipped


def _encode_all(model, encode: Callable, dim: int, image_ids, root, *, device, channels_last: bool, desc, **run):
    """Move ``model`` to the device, encode every image; (ids kept, float32 N×dim, skipped rows)."""
    device = resolve_device(device)
    model.to(device)
    if channels_last:
        model.channels_last()
    ids, F, _, skipped = _run(encode, model.transform, image_ids, root, device=device, channels_last=channels_last,
                              desc=desc or model.key, **run)
    if F is None:
        F = np.zeros((0, dim), np.float32)
    return ids, F, skipped


def extract_classifier(adapter, image_ids: Sequence[str], root, *, batch_size: int = 64, precision: str = "fp32",
                       device="auto", num_workers: int = 0, on_bad_image: str = "fail", channels_last: bool = False,
                       progress=None, desc: str | None = None) -> dict:
    """Features f and W f + b predictions for ``image_ids`` (paths relative to ``root``).

    Returns {"image_ids": [...] (bad ones removed), "features": float32 N×m, "pred_class": int32 N,
    "pred_logit": float32 N, "skipped": [{"image_id", "error"}]}. ``progress``: stream for the tqdm bar
    (e.g. the job log), None = stderr, False = no bar.
    """
    ids, F, skipped = _encode_all(adapter, adapter.features, adapter.in_dim, image_ids, root, device=device,
                                  channels_last=channels_last, desc=desc, batch_size=batch_size,
                                  precision=precision, num_workers=num_workers, on_bad_image=on_bad_image,
                                  progress=progress)
    W, b = adapter.head()
    logits = F.astype(np.float64) @ W.T.astype(np.float64) + b
    pred = logits.argmax(axis=1).astype(np.int32) if len(F) else np.zeros(0, np.int32)
    return {"image_ids": ids, "features": np.ascontiguousarray(F, dtype=np.float32), "pred_class": pred,
            "pred_logit": logits[np.arange(len(F)), pred].astype(np.float32) if len(F) else np.zeros(0, np.float32),
            "skipped": skipped}


def extract_clip(space, image_ids: Sequence[str], root, *, batch_size: int = 64, precision: str = "fp32",
                 device="auto", num_workers: int = 0, on_bad_image: str = "fail", channels_last: bool = False,
                 progress=None, desc: str | None = None) -> dict:
    """Unnormalised CLIP image embeddings: {"image_ids", "features": float32 N×d, "skipped"}."""
    ids, F, skipped = _encode_all(space, space.encode_images, space.dim, image_ids, root, device=device,
                                  channels_last=channels_last, desc=desc, batch_size=batch_size,
                                  precision=precision, num_workers=num_workers, on_bad_image=on_bad_image,
                                  progress=progress)
    return {"image_ids": ids, "features": np.ascontiguousarray(F, dtype=np.float32), "skipped": skipped}


# ---------------------------------------------------------------- whole jobs (called by the workflow scripts)
def run_extraction(kind: str, key: str, entry: dict, *, imagenet_root, wnids: Sequence[str], sample: dict, out,
                   mode: str = "per_class", batch_size: int = 64, precision: str = "fp32", device="auto",
                   num_workers: int = 0, on_bad_image: str = "fail", channels_last: bool = False,
                   weights: WeightsCache | None = None, provenance: dict | None = None, progress=None,
                   head_out=None) -> dict:
    """Sample images, load the model once, extract, write parquet file(s).

    kind: "classifier" (spec of a :class:`sing.registry.ModelEntry`, built by sing.models.classifiers) or "clip"
    (spec of a :class:`sing.registry.SpaceEntry`, sing.models.clip_spaces); ``weights``: the job's weight cache.
    sample: {"split": "val", "per_class": 50 | "all", "seed": 0, "take_all_if_fewer": false}.
    mode "per_class": ``out`` is a directory with one ``{wnid}.parquet`` per class (+ ``skipped.parquet`` when
    bad images were skipped); mode "single": ``out`` is one parquet of all classes (skipped images go to
    ``<out without .parquet>.skipped.parquet``). ``head_out`` (classifiers): also write the self-checked head
    (see :func:`write_head`) from the same model load. Returns a small summary dict.
    """
    if kind not in ("classifier", "clip"):
        raise ValueError(f"kind must be 'classifier' or 'clip', got {kind!r}")
    if mode not in ("per_class", "single"):
        raise ValueError(f"mode must be 'per_class' or 'single', got {mode!r}")
    unknown = set(sample) - {"split", "per_class", "seed", "take_all_if_fewer"}
    if unknown:
        raise ValueError(f"unknown sample setting(s) {sorted(unknown)}")
    split = sample.get("split", "val")
    wnids = list(dict.fromkeys(wnids))
    chosen = sample_images(imagenet_root, split, wnids, sample.get("per_class", "all"), int(sample.get("seed", 0)),
                           bool(sample.get("take_all_if_fewer", False)))
    ids = [i for w in wnids for i in chosen[w]]
    wnid_of = {i: w for w in wnids for i in chosen[w]}
    log.info("%s %s: %d classes, %d images (%s)", kind, key, len(wnids), len(ids), sample)

    model = None
    res = None
    if ids:
        if kind == "classifier":
            model = load_classifier(key, entry, device=resolve_device(device), weights=weights,
                                    self_check=head_out is None)  # write_head runs the same check
            if head_out is not None:
                write_head(model, head_out, provenance=build_provenance(entry, **(provenance or {})))
            res = extract_classifier(model, ids, imagenet_root, batch_size=batch_size, precision=precision,
                                     device=device, num_workers=num_workers, on_bad_image=on_bad_image,
                                     channels_last=channels_last, progress=progress, desc=key)
        else:
            model = load_space(key, entry, device=resolve_device(device), weights=weights)
            res = extract_clip(model, ids, imagenet_root, batch_size=batch_size, precision=precision,
                               device=device, num_workers=num_workers, on_bad_image=on_bad_image,
                               channels_last=channels_last, progress=progress, desc=key)
    meta = {"kind": kind, "model": key, "weights_id": model.weights_id if model else None,
            "preprocess": model.preprocess if model else None, "precision": precision,
            "versions": package_versions(),
            "provenance": build_provenance(
                {"entry": entry, "sample": sample, "wnids": wnids, "precision": precision},
                entry=entry, sample=sample, on_bad_image=on_bad_image, batch_size=batch_size,
                channels_last=channels_last, **(provenance or {}))}

    def write(path, rows):
        F = res["features"][rows] if res is not None else np.zeros((0, 1), np.float32)
        rid = [res["image_ids"][r] for r in rows] if res is not None else []
        cidx = [class_index(wnid_of[i]) for i in rid]
        extra = None
        if kind == "classifier":
            pc = res["pred_class"][rows] if res is not None else np.zeros(0, np.int32)
            extra = {"pred_class": pc,
                     "pred_logit": res["pred_logit"][rows] if res is not None else np.zeros(0, np.float32),
                     "correct": np.asarray(pc) == np.asarray(cidx, dtype=np.int64)}
        write_embeddings(path, image_ids=rid, split=split, class_index=np.asarray(cidx, np.int64),
                         wnid=[wnid_of[i] for i in rid], features=F, extra_columns=extra, metadata=meta)

    skipped = [dict(r, wnid=wnid_of[r["image_id"]]) for r in (res["skipped"] if res else [])]
    pos = {}
    if res is not None:
        for r, i in enumerate(res["image_ids"]):
            pos.setdefault(wnid_of[i], []).append(r)
    out = Path(out)
    if mode == "single":
        write(out, [r for w in wnids for r in pos.get(w, [])])
        if skipped:
            write_skipped(out.with_name(out.name.removesuffix(".parquet") + ".skipped.parquet"), skipped)
    else:
        with atomic_path(out) as tmp:
            tmp.mkdir(parents=True)
            for w in wnids:
                write(tmp / f"{w}.parquet", pos.get(w, []))
            if skipped:
                write_skipped(tmp / "skipped.parquet", skipped)
    return {"images": len(ids), "written": len(res["image_ids"]) if res else 0, "skipped": len(skipped)}


def write_head(adapter, out, provenance: dict | None = None) -> dict:
    """Self-check a loaded classifier, then write head.safetensors: ``weight`` (c×m) and ``bias`` (c), float32, and
    one JSON metadata entry (:func:`sing.core.files.write_safetensors`, so the file is byte-identical between
    runs; safetensors serialises several metadata keys in a random order): kind "head", sha256 (of W),
    head_sha256 (of W and b), model, weights_id, in_dim, num_classes, self_check_max_abs_error, provenance."""
    err = adapter.self_check()
    W, b = adapter.head()
    meta = {"kind": "head", "sha256": weight_sha256(W), "head_sha256": weight_sha256(W, b), "model": adapter.key,
            "weights_id": str(adapter.weights_id), "in_dim": int(adapter.in_dim),
            "num_classes": int(adapter.num_classes), "self_check_max_abs_error": float(f"{err:.3g}"),
            "provenance": provenance or {}}
    log.info("model %s: self-check max |W f + b - logits| = %.3g", adapter.key, err)
    write_safetensors(out, {"weight": W, "bias": b}, meta)
    return meta
