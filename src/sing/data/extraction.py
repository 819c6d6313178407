"""Batched feature / embedding extraction: image files -> DataLoader (decode + model transform) -> model.

GPU path: ``torch.inference_mode``, bf16/fp16 autocast on CUDA (fp32 elsewhere), optional channels_last, DataLoader
workers
with pinned memory and prefetching, non-blocking host->device copies. Predictions are always computed in
fp32 from the returned features: pred = argmax(W f + b).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Collection, Mapping, Sequence

import numpy as np
import torch

from ..core.files import atomic_path, write_safetensors
from ..core.geometry import weight_sha256
from ..io.provenance import package_versions
from ..io.provenance import provenance as build_provenance
from ..io.storage import write_embeddings, write_skipped
from ..models.classifiers import load_classifier
from ..models.clip_spaces import load_space
from ..models.devices import autocast_context, effective_precision, resolve_device
from ..models.head_order import HeadClasses
from ..models.weights import WeightsCache
from .classes import file_key
from .imagenet import ON_MISSING
from .images import BadImageError, fewer_images_fix, load_rgb_noting, per_class_note, sample_class, sample_order

log = logging.getLogger(__name__)

ON_BAD = ("fail", "skip")


class ImageFileDataset(torch.utils.data.Dataset):
    """(tensor, position, "", notes) per image id; a bad image yields (None, position, error message, notes).

    ``notes``: the warnings raised while decoding and transforming the image (Pillow's corrupt-EXIF or
    recoverable-truncation warnings, transform warnings), as text: a DataLoader worker is another process, so
    they travel with the item and the job's process logs them (:func:`_run`).
    """

    def __init__(self, root, image_ids: Sequence[str], transform: Callable):
        self.root = os.fspath(root)
        self.image_ids = list(image_ids)
        self.transform = transform

    def __len__(self):
        return len(self.image_ids)

    def __getitem__(self, i):
        path = os.path.join(self.root, self.image_ids[i])
        try:
            img, notes = load_rgb_noting(path)
        except BadImageError as e:
            return None, i, e.reason, []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x = self.transform(img)
        return x, i, "", notes + [f"transform: {w.category.__name__}: {w.message}" for w in caught]


def collate_skip_bad(batch):
    """(batch tensor of the readable images or None, their positions, [(position, error)], decoder notes).

    In a DataLoader worker the batch is stacked straight into shared memory, as torch's ``default_collate`` does:
    one copy less, and a full ``/dev/shm`` raises here, inside the worker, so the error reaches the job. (Stacked in
    ordinary memory, the batch is moved to shared memory later by the worker queue's feeder thread, whose failure
    is only printed: the batch never arrives and the job waited forever.)"""
    good = [b for b in batch if b[0] is not None]
    bad = [(b[1], b[2]) for b in batch if b[0] is None]
    x = None
    if good:
        elem, out = good[0][0], None
        if torch.utils.data.get_worker_info() is not None:
            storage = elem._typed_storage()._new_shared(sum(b[0].numel() for b in good), device=elem.device)
            out = elem.new(storage).resize_(len(good), *elem.shape)
        x = torch.stack([b[0] for b in good], 0, out=out)
    return x, [b[1] for b in good], bad, [n for b in batch for n in b[3]]


#: batches each DataLoader worker prepares ahead (lowered when /dev/shm cannot hold them: :func:`check_shared_memory`)
PREFETCH_FACTOR = 4
#: seconds without a batch from the workers after which the job stops (a stalled loader): a batch of a few hundred
#: images takes seconds to decode even on a slow file system
DEFAULT_LOADER_TIMEOUT = 300.0
SHM_DIR = "/dev/shm"
_SHM_KNOBS = ("set extraction.num_workers: 0 (no shared memory; images decoded in the job's own process), a smaller "
              "extraction.batch_size, or give the job a larger /dev/shm (docker / podman run --shm-size=8g; "
              "Kubernetes: an emptyDir with medium: Memory mounted at /dev/shm; on a cluster, the node's /dev/shm is "
              "the administrators' setting)")


class DataLoaderError(RuntimeError):
    """The image loader failed or stalled; the message names the cause and the settings that change it."""


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def shm_free(shm_dir: str = SHM_DIR) -> tuple[int, int] | None:
    """(free, total) bytes of the shared-memory file system DataLoader workers hand batches through; None when
    there is none (not Linux)."""
    try:
        st = os.statvfs(shm_dir)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


def check_shared_memory(item_bytes: int, batch_size: int, num_workers: int, prefetch_factor: int = PREFETCH_FACTOR,
                        shm_dir: str = SHM_DIR) -> int:
    """The prefetch factor the workers can use without exhausting ``shm_dir``, checked before any worker starts.

    ``num_workers`` workers keep ``prefetch_factor`` batches each in flight, in shared memory, while the job holds
    one more: ``(num_workers · prefetch_factor + 1) · batch_size · item_bytes`` bytes, which must fit in 90 % of
    the free space. Returns ``prefetch_factor``, or a smaller one that fits (logged); raises
    :class:`DataLoaderError` naming the sizes and the knobs (``extraction.num_workers``, ``extraction.batch_size``,
    the shared-memory size) when not even one batch per worker fits. Returns ``prefetch_factor`` unchanged when
    there are no workers or no ``shm_dir``.
    """
    space = shm_free(shm_dir)
    if num_workers <= 0 or space is None or item_bytes <= 0:
        return prefetch_factor
    free, total = space
    batch = int(item_bytes) * int(batch_size)

    def need(p):
        return (num_workers * p + 1) * batch

    fits = [p for p in range(prefetch_factor, 0, -1) if need(p) <= 0.9 * free]
    if not fits:
        raise DataLoaderError(
            f"shared memory: {num_workers} DataLoader worker(s) with batches of {batch_size} images ({_mb(batch)} "
            f"each) need at least {_mb(need(1))} in {shm_dir}, which has {_mb(free)} free of {_mb(total)} (Docker "
            f"and Podman give a container 64 MB). Workers that cannot hand a batch over stall the job: "
            f"{_SHM_KNOBS}")
    if fits[0] < prefetch_factor:
        log.warning("shared memory: %s free in %s holds %d batch(es) of %s per worker, not %d: prefetching %d "
                    "(extraction.num_workers %d, extraction.batch_size %d)", _mb(free), shm_dir, fits[0], _mb(batch),
                    prefetch_factor, fits[0], num_workers, batch_size)
    return fits[0]


def _loader_error(e: RuntimeError, *, num_workers: int, batch_size: int, timeout: float) -> Exception:
    """A DataLoader failure explained (:class:`DataLoaderError`), or ``e`` itself when it is not the loader's."""
    text = str(e)
    space = shm_free()
    shm = f"{SHM_DIR}: {_mb(space[0])} free of {_mb(space[1])}" if space else "no /dev/shm"
    if "shared memory" in text or "No space left on device" in text or "Bus error" in text:
        return DataLoaderError(f"DataLoader workers ran out of shared memory ({shm}; {num_workers} worker(s), "
                               f"batches of {batch_size} images): {text.strip().splitlines()[-1]}. {_SHM_KNOBS}")
    if "timed out after" in text:
        return DataLoaderError(
            f"no batch arrived from the {num_workers} DataLoader worker(s) for {timeout:g} s: a stalled loader, "
            "stopped rather than holding the job's allocation. Usual causes: a worker that failed to hand its batch "
            f"over through shared memory (its error is printed above in this log; {shm}) or an image read hanging "
            "on a file system. Knobs: extraction.num_workers (0: no workers), extraction.batch_size, the shared "
            "memory size, and extraction.loader_timeout (seconds) for a file system that is slow but alive")
    if "killed by signal" in text or "exited unexpectedly" in text:
        return DataLoaderError(
            f"a DataLoader worker died: {text.strip().splitlines()[0]}. 'Killed' is usually the out-of-memory "
            "killer: lower extraction.num_workers or extraction.batch_size, or raise the job's mem_mb; 'Bus error' "
            f"means shared memory ran out ({shm}): {_SHM_KNOBS}")
    return e


def _batches(loader, **context):
    """Iterate ``loader``, turning its failures into :class:`DataLoaderError` (:func:`_loader_error`); errors of
    the caller's own work between batches are left as they are."""
    it = iter(loader)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except RuntimeError as e:
            error = _loader_error(e, **context)
            if error is e:
                raise
            raise error from e
        yield item


def _item_bytes(ds: "ImageFileDataset", tries: int = 8) -> int:
    """Bytes of one transformed image (the first readable of ``tries``), 0 when none is readable."""
    for i in range(min(tries, len(ds))):
        x = ds[i][0]
        if x is not None:
            return int(x.numel() * x.element_size())
    return 0


def make_loader(root, image_ids, transform, *, batch_size: int, num_workers: int, device: torch.device,
                prefetch_factor: int = PREFETCH_FACTOR, timeout: float = DEFAULT_LOADER_TIMEOUT, dataset=None):
    ds = dataset if dataset is not None else ImageFileDataset(root, image_ids, transform)
    kw = dict(batch_size=int(batch_size), shuffle=False, num_workers=int(num_workers), collate_fn=collate_skip_bad,
              pin_memory=device.type == "cuda", drop_last=False)
    if num_workers > 0:
        kw.update(prefetch_factor=prefetch_factor, persistent_workers=False, timeout=float(timeout))
    return torch.utils.data.DataLoader(ds, **kw)


def _run(encode: Callable, transform, image_ids, root, *, batch_size, precision, device, num_workers, on_bad_image,
         channels_last, progress, desc, loader_timeout=DEFAULT_LOADER_TIMEOUT):
    if on_bad_image not in ON_BAD:
        raise ValueError(f"on_bad_image must be one of {ON_BAD}, got {on_bad_image!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not float(loader_timeout) > 0:
        raise ValueError(f"loader_timeout must be > 0 seconds, got {loader_timeout!r}")
    from tqdm import tqdm

    image_ids = list(image_ids)
    ds = ImageFileDataset(root, image_ids, transform)
    prefetch = PREFETCH_FACTOR
    if num_workers > 0 and image_ids:
        prefetch = check_shared_memory(_item_bytes(ds), int(batch_size), int(num_workers))
    loader = make_loader(root, image_ids, transform, batch_size=batch_size, num_workers=num_workers, device=device,
                         prefetch_factor=prefetch, timeout=loader_timeout, dataset=ds)
    feats, order, skipped = [], [], []
    bar = tqdm(total=len(image_ids), desc=desc, file=progress if progress is not None else sys.stderr,
               disable=progress is False, mininterval=0 if progress in (None, sys.stderr) else 10, ascii=True,
               unit="img", dynamic_ncols=False, ncols=100)
    noted: set[str] = set()
    batches = _batches(loader, num_workers=int(num_workers), batch_size=int(batch_size),
                       timeout=float(loader_timeout))
    with torch.inference_mode(), bar:
        for x, pos, bad, notes in batches:
            for note in notes:
                if note not in noted:  # a transform warning would repeat for every image
                    noted.add(note)
                    log.warning("%s", note)
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
                       progress=None, desc: str | None = None,
                       loader_timeout: float = DEFAULT_LOADER_TIMEOUT) -> dict:
    """Features f and W f + b predictions for ``image_ids`` (paths relative to ``root``).

    Returns {"image_ids": [...] (bad ones removed), "features": float32 N×m, "pred_class": int32 N,
    "pred_logit": float32 N, "skipped": [{"image_id", "error"}]}. ``progress``: stream for the tqdm bar
    (e.g. the job log), None = stderr, False = no bar. ``num_workers`` > 0: DataLoader worker processes decode
    the images; the shared memory their batches need is checked before they start (:func:`check_shared_memory`),
    and a worker that dies or no batch for ``loader_timeout`` seconds stops the job with :class:`DataLoaderError`
    naming the cause and the knobs. ``device``: :func:`sing.models.devices.resolve_device` (never a silent CPU).
    """
    ids, F, skipped = _encode_all(adapter, adapter.features, adapter.in_dim, image_ids, root, device=device,
                                  channels_last=channels_last, desc=desc, batch_size=batch_size,
                                  precision=precision, num_workers=num_workers, on_bad_image=on_bad_image,
                                  progress=progress, loader_timeout=loader_timeout)
    W, b = adapter.head()
    logits = F.astype(np.float64) @ W.T.astype(np.float64) + b
    pred = logits.argmax(axis=1).astype(np.int32) if len(F) else np.zeros(0, np.int32)
    return {"image_ids": ids, "features": np.ascontiguousarray(F, dtype=np.float32), "pred_class": pred,
            "pred_logit": logits[np.arange(len(F)), pred].astype(np.float32) if len(F) else np.zeros(0, np.float32),
            "skipped": skipped}


def extract_clip(space, image_ids: Sequence[str], root, *, batch_size: int = 64, precision: str = "fp32",
                 device="auto", num_workers: int = 0, on_bad_image: str = "fail", channels_last: bool = False,
                 progress=None, desc: str | None = None,
                 loader_timeout: float = DEFAULT_LOADER_TIMEOUT) -> dict:
    """Unnormalised CLIP image embeddings: {"image_ids", "features": float32 N×d, "skipped"}."""
    ids, F, skipped = _encode_all(space, space.encode_images, space.dim, image_ids, root, device=device,
                                  channels_last=channels_last, desc=desc, batch_size=batch_size,
                                  precision=precision, num_workers=num_workers, on_bad_image=on_bad_image,
                                  progress=progress, loader_timeout=loader_timeout)
    return {"image_ids": ids, "features": np.ascontiguousarray(F, dtype=np.float32), "skipped": skipped}


# ---------------------------------------------------------------- whole jobs (called by the workflow scripts)
def sample_usable(encode: Callable[[list[str], int], dict], order: dict[str, list[str]], per_class,
                  *, take_all_if_fewer: bool = False, where: dict[str, str] | None = None,
                  setting: str | None = None):
    """Encode a class-local sample in which every slot holds a readable image.

    ``order``: {class: every candidate id in sample order (:func:`sing.data.images.sample_order`)};
    ``per_class``: images per class (None / "all" / -1: every candidate); ``encode(ids, round)``: the result
    dict of :func:`extract_classifier` / :func:`extract_clip` for ``ids``. Round 0 encodes the first
    ``per_class`` candidates of each class; an image skipped as unreadable (``on_bad_image: skip``) is
    replaced by the class's next candidate in later rounds, until the class is full or out of candidates. So a
    sample is "the first ``per_class`` readable images in sample order": deterministic, class-local, and no
    slot is spent on an unreadable file.

    Returns ({class: [ids kept, in sample order]}, {id: (round result, row)}, [skipped rows]). Raises
    ValueError naming the class and its folder (``where``) when a class has no readable image at all, or fewer
    than ``per_class`` and not ``take_all_if_fewer`` (naming the sample's config key ``setting`` when given).
    """
    where = where or {}
    everything = per_class is None or per_class == "all" or (isinstance(per_class, int) and per_class < 0)
    want = {w: len(o) if everything else min(int(per_class), len(o)) for w, o in order.items()}
    taken = dict.fromkeys(order, 0)
    good: dict[str, list[str]] = {w: [] for w in order}
    rows: dict[str, tuple[dict, int]] = {}
    skipped: list[dict] = []
    rnd = 0
    while True:
        batch = []
        for w, candidates in order.items():
            need = want[w] - len(good[w])
            new = candidates[taken[w]:taken[w] + need] if need > 0 else []
            taken[w] += len(new)
            batch += new
        if not batch:
            break
        res = encode(batch, rnd)
        for r, i in enumerate(res["image_ids"]):
            rows[i] = (res, r)
        for w, candidates in order.items():  # sample order: refills come later in the order
            good[w] = [i for i in candidates[:taken[w]] if i in rows]
        skipped += res["skipped"]
        rnd += 1
    for w, candidates in order.items():
        n_bad = taken[w] - len(good[w])
        folder = where.get(w, "")
        if not good[w]:
            raise ValueError(f"class {w}: no readable image in {folder} ({len(candidates)} image file(s), all "
                             f"unreadable; on_bad_image: skip skips files, not whole classes). Fix or remove "
                             f"the files, or remove the class from the configuration")
        if not everything and len(good[w]) < int(per_class) and not take_all_if_fewer:
            raise ValueError(f"class {w}: asked for {per_class} images{per_class_note(setting)} but only "
                             f"{len(good[w])} of the {len(candidates)} image files in {folder} are readable ({n_bad} "
                             f"unreadable, skipped); {fewer_images_fix(setting)}")
    return good, rows, skipped


def run_extraction(kind: str, key: str, entry: dict, *, dataset, classes: Sequence[str], sample: dict, out,
                   class_index: Mapping[str, int] | None = None, head_classes: HeadClasses | None = None,
                   mode: str = "per_class", batch_size: int = 64, precision: str = "fp32", device="auto",
                   num_workers: int = 0, on_bad_image: str = "fail", on_missing_image: str = "fail",
                   channels_last: bool = False, weights: WeightsCache | None = None, provenance: dict | None = None,
                   progress=None, sample_key: str | None = None,
                   loader_timeout: float = DEFAULT_LOADER_TIMEOUT, exclude: Collection[str] = ()) -> dict:
    """List and sample images, load the model once, extract, write parquet file(s).

    kind: "classifier" (spec of a :class:`sing.registry.ModelEntry`, built by sing.models.classifiers) or "clip"
    (spec of a :class:`sing.registry.SpaceEntry`, sing.models.clip_spaces); ``weights``: the job's weight cache.
    dataset: a :class:`sing.data.datasets.Dataset`; classes: the class ids to extract; class_index: their index
    in the dataset's order (default: the dataset's catalog); head_classes: what a classifier's head is checked
    against and ordered by (:func:`sing.models.classifiers.load_classifier`), so ``pred_class`` is a dataset class
    index. sample: {"split": "val", "per_class": 50 | "all", "seed": 0, "take_all_if_fewer": false};
    ``sample_key``: its config key (``samples.robustness``; default: ``samples.<provenance["sample_name"]>``),
    named in the errors about too few images (the workflow checks the counts when it plans:
    :func:`sing.data.availability.check_samples`).

    Before the model is loaded: the classes are listed (:meth:`sing.data.datasets.Dataset.list_classes`: non-image
    files logged and ignored, ``on_missing_image`` for images LOC_val_solution.csv lists but the disk lacks) and
    ``exclude``: image ids never sampled (e.g. the translator sample, so that the translator study evaluates on
    images no translator saw; the order of the remaining ids is unchanged, so this equals
    :func:`sing.analysis.translator_study.study_heldout_sample`); their number is recorded in the provenance.
    Every class must have an image file, and ``per_class`` of them unless ``take_all_if_fewer`` (ValueError
    naming the class and its folder). The sample is then the first ``per_class`` *readable* images of each
    class (:func:`sample_usable`); a class left with no readable image is an error naming it, so a job never
    succeeds with an empty class or 0 images.

    mode "per_class": ``out`` is a directory with one ``<file key>.parquet`` per class
    (:func:`sing.data.classes.file_key`; + ``skipped.parquet`` when images were skipped); mode "single": ``out``
    is one parquet of all classes (skipped images go to ``<out without .parquet>.skipped.parquet``).
    ``precision`` bf16 / fp16 applies on CUDA only: on a CPU
    the job runs fp32, logs it, and records the effective precision as ``sing.precision`` (the requested one as
    ``precision_requested`` in the provenance). Returns a small summary dict.
    """
    if kind not in ("classifier", "clip"):
        raise ValueError(f"kind must be 'classifier' or 'clip', got {kind!r}")
    if mode not in ("per_class", "single"):
        raise ValueError(f"mode must be 'per_class' or 'single', got {mode!r}")
    if on_bad_image not in ON_BAD:
        raise ValueError(f"on_bad_image must be one of {ON_BAD}, got {on_bad_image!r}")
    if on_missing_image not in ON_MISSING:
        raise ValueError(f"on_missing_image must be one of {ON_MISSING}, got {on_missing_image!r}")
    requested, precision = precision, effective_precision(precision, resolve_device(device))
    if precision != requested:
        log.warning("precision %s requested, but reduced precision is used only on CUDA: running %s on %s",
                    requested, precision, resolve_device(device))
    unknown = set(sample) - {"split", "per_class", "seed", "take_all_if_fewer"}
    if unknown:
        raise ValueError(f"unknown sample setting(s) {sorted(unknown)}")
    split = sample.get("split", "val")
    per_class, seed = sample.get("per_class", "all"), int(sample.get("seed", 0))
    take_all = bool(sample.get("take_all_if_fewer", False))
    class_ids = list(dict.fromkeys(classes))
    if not class_ids:
        raise ValueError(f"{kind} {key}: no classes to extract")
    index_of = dict(class_index) if class_index is not None else {c: dataset.catalog.index(c) for c in class_ids}
    root = dataset.root
    listings = dataset.list_classes(split, class_ids, on_missing=on_missing_image)
    where = {w: listing.where for w, listing in listings.items()}
    setting = sample_key or (f"samples.{provenance['sample_name']}" if (provenance or {}).get("sample_name")
                             else None)
    excluded = frozenset(map(str, exclude))
    files = {w: [f for f in listing.files if f not in excluded] if excluded else listing.files
             for w, listing in listings.items()}
    for w, listing in listings.items():  # listing-time checks, before the model is loaded
        sample_class(files[w], per_class, seed, w, take_all_if_fewer=take_all, folder=where[w], setting=setting,
                     ignored=listing.ignored)
    order = {w: sample_order(files[w], seed, w) for w in listings}
    log.info("%s %s: %d classes, %d image files listed (%s)", kind, key, len(class_ids),
             sum(len(o) for o in order.values()), sample)

    run = dict(batch_size=batch_size, precision=precision, device=device, num_workers=num_workers,
               on_bad_image=on_bad_image, channels_last=channels_last, progress=progress,
               loader_timeout=loader_timeout)
    if kind == "classifier":
        model = load_classifier(key, entry, device=resolve_device(device), weights=weights, classes=head_classes)
        extract, dim = extract_classifier, model.in_dim
    else:
        model = load_space(key, entry, device=resolve_device(device), weights=weights)
        extract, dim = extract_clip, model.dim

    def encode(ids, rnd):
        return extract(model, ids, root, desc=key if rnd == 0 else f"{key} (refill {rnd})", **run)

    good, rows, skipped = sample_usable(encode, order, per_class, take_all_if_fewer=take_all, where=where,
                                        setting=setting)
    class_of = {i: w for w in class_ids for i in order[w]}
    skipped = [dict(r, class_id=class_of[r["image_id"]]) for r in skipped]
    unreadable = len(skipped)
    skipped += [{"image_id": m, "error": f"listed in {listings[w].csv} but no image file in {listings[w].folder}",
                 "class_id": w} for w in class_ids for m in listings[w].missing]
    ids = [i for w in class_ids for i in good[w]]
    F = np.zeros((len(ids), dim), np.float32)
    for r, i in enumerate(ids):
        res, j = rows[i]
        F[r] = res["features"][j]
    cls = np.asarray([index_of[class_of[i]] for i in ids], np.int64)
    extra_all = None
    if kind == "classifier":
        pc = np.asarray([rows[i][0]["pred_class"][rows[i][1]] for i in ids], np.int32)
        extra_all = {"pred_class": pc,
                     "pred_logit": np.asarray([rows[i][0]["pred_logit"][rows[i][1]] for i in ids], np.float32),
                     "correct": pc.astype(np.int64) == cls}
    meta = {"kind": kind, "model": key, "weights_id": model.weights_id,
            "preprocess": model.preprocess, "precision": precision,
            "versions": package_versions(),
            "provenance": build_provenance(
                {"entry": entry, "sample": sample, "classes": class_ids, "precision": precision},
                entry=entry, sample=sample, precision_requested=requested, on_bad_image=on_bad_image,
                on_missing_image=on_missing_image,
                batch_size=batch_size, channels_last=channels_last,
                **({"excluded_images": len(excluded)} if excluded else {}), **(provenance or {}))}

    def write(path, sel):
        sel = np.asarray(sel, np.int64)
        extra = {k: v[sel] for k, v in extra_all.items()} if extra_all is not None else None
        write_embeddings(path, image_ids=[ids[r] for r in sel], split=split, class_index=cls[sel],
                         class_id=[class_of[ids[r]] for r in sel], features=F[sel], extra_columns=extra,
                         metadata=meta)

    pos: dict[str, list[int]] = {}
    for r, i in enumerate(ids):
        pos.setdefault(class_of[i], []).append(r)
    out = Path(out)
    if mode == "single":
        write(out, list(range(len(ids))))
        if skipped:
            write_skipped(out.with_name(out.name.removesuffix(".parquet") + ".skipped.parquet"), skipped)
    else:
        with atomic_path(out) as tmp:
            tmp.mkdir(parents=True)
            for w in class_ids:
                write(tmp / f"{file_key(w)}.parquet", pos[w])
            if skipped:
                write_skipped(tmp / "skipped.parquet", skipped)
    return {"images": len(ids) + unreadable, "written": len(ids), "skipped": len(skipped)}


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
