"""Concept dictionaries: precomputed CLIP text embeddings of concept labels, read from a file, checked against a
CLIP space, and used as the vocabulary of the open-vocabulary analysis and of ``sing explain``.

Formats (:func:`read_dictionary` picks by suffix):

``.npz`` — the SING authors' layout (their ``misc/convert_csv_to_npz.py``; e.g.
    ``attribute_embeddings_broden_style_fp16.npz``): ``classes`` (n,) labels, ``prompts`` (P,) prompt names,
    ``embeddings`` (n, P, d) float16. Their labels and prompt names are saved as numpy *object* arrays, i.e.
    pickles: they are read with a restricted unpickler that rebuilds only numpy arrays of ``str`` (no other
    object can be created, no code runs), never with ``allow_pickle=True``. A prompt named ``mean`` holds the
    mean of the unit-norm prompt rows (not renormalised).

    Which row: ``row="mean"`` (default) takes the ``mean`` row — what the authors' notebook
    (``notebooks/01_single_image_quickstart.ipynb``) scores against; a file without one is averaged
    (``row="average"``: the mean of the L2-normalised prompt rows, the direction of their ``mean`` row up to
    float16 rounding; measured on their file: max |difference| 2.4e-4). ``row=<prompt name>`` takes one prompt.
    Angles (AS, IS) depend on directions only, so the mean row's norm (≈0.95) does not matter.

``.parquet`` — one row per concept: a string column ``label`` and a list/fixed-size-list float column
    ``embedding`` (names configurable). sing writes its own dictionaries this way (:func:`write_dictionary`)
    with JSON metadata under the schema key ``sing.dictionary`` (templates, space, provenance).

Checks before any scoring: :func:`check_dimension` (the dictionary's d against the space's) and
:func:`check_fingerprint` (three labels re-embedded with the space's text tower and the dictionary's prompt
templates must have cosine ≥ 0.99 with the stored rows; else the dictionary was made with another CLIP model or
other prompts, and it is refused naming the labels). Both raise :class:`DictionaryError`.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.files import file_sha256

__all__ = ["ConceptDictionary", "DictionaryError", "check_dimension", "check_fingerprint", "checked_dictionary",
           "embed_dictionary", "fingerprint_labels", "read_dictionary", "read_npz_dictionary",
           "read_parquet_dictionary", "write_dictionary"]

MIN_COSINE = 0.99
META_KEY = b"sing.dictionary"


class DictionaryError(ValueError):
    """A concept dictionary cannot be read, or does not belong to the CLIP space it is used with."""


@dataclass(frozen=True, eq=False)
class ConceptDictionary:
    """Concept labels and one text embedding per label.

    ``labels``: n distinct strings; ``embeddings``: (n, d) float64 (the stored values widened exactly); ``name``:
    how configs and outputs call it; ``templates``: the prompt templates (one ``{}`` each) the embeddings were made
    with — one template, or several whose unit-norm embeddings were averaged — or None when the file does not say;
    ``row``: which stored row was taken ("mean", "average", a prompt name, or "" for one row per label);
    ``file`` / ``sha256``: the file read (None when built in memory); ``space``: the CLIP space key it says it
    belongs to (or None); ``checks``: results of :func:`check_dimension` / :func:`check_fingerprint`.
    """

    name: str
    labels: tuple[str, ...]
    embeddings: np.ndarray
    templates: tuple[str, ...] | None = None
    row: str = ""
    file: Path | None = None
    sha256: str | None = None
    space: str | None = None
    checks: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        E = np.asarray(self.embeddings)
        if E.ndim != 2 or E.shape[0] != len(self.labels) or E.shape[0] == 0:
            raise DictionaryError(f"dictionary {self.name!r}: expected embeddings (n, d) with n = {len(self.labels)} "
                                  f"labels (n > 0), got shape {E.shape}")
        if not np.isfinite(E).all():
            raise DictionaryError(f"dictionary {self.name!r}: embeddings contain NaN or Inf values")
        dup = sorted({lab for lab in self.labels if self.labels.count(lab) > 1})
        if dup:
            raise DictionaryError(f"dictionary {self.name!r}: duplicate labels {dup[:10]}")
        norms = np.linalg.norm(E, axis=1)
        if np.any(norms == 0):
            zero = [self.labels[i] for i in np.flatnonzero(norms == 0)[:10]]
            raise DictionaryError(f"dictionary {self.name!r}: zero embedding for {zero} (no direction)")
        object.__setattr__(self, "embeddings", np.ascontiguousarray(E, dtype=np.float64))
        object.__setattr__(self, "labels", tuple(str(lab) for lab in self.labels))

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"ConceptDictionary({self.name!r}, n={len(self)}, d={self.dim}, row={self.row!r}, space={self.space!r})"

    def provenance(self) -> dict[str, Any]:
        """JSON-serialisable description: name, file, sha256, n, d, row, templates, space, checks."""
        return {"name": self.name, "file": None if self.file is None else str(self.file), "sha256": self.sha256,
                "n": len(self), "dim": self.dim, "row": self.row,
                "templates": None if self.templates is None else list(self.templates), "space": self.space,
                "checks": dict(self.checks)}

    @property
    def caveats(self) -> list[str]:
        """What a reader of results computed with this dictionary must know: that it was not fingerprinted against
        its space (neither checked by :func:`check_fingerprint` nor embedded by sing), else nothing."""
        if "fingerprint" in self.checks or "embedded_with" in self.checks:
            return []
        return [f"dictionary {self.name!r} was not fingerprinted against space {self.space!r}: its embeddings are "
                "trusted to come from this space's text tower and prompts"]

    def select(self, labels: Sequence[str]) -> "ConceptDictionary":
        """The sub-dictionary of ``labels`` (in that order); DictionaryError naming the missing ones."""
        index = {lab: i for i, lab in enumerate(self.labels)}
        missing = [lab for lab in labels if lab not in index]
        if missing:
            raise DictionaryError(f"dictionary {self.name!r}: no label(s) {missing[:10]}")
        rows = [index[lab] for lab in labels]
        return replace(self, labels=tuple(labels), embeddings=self.embeddings[rows])


# --------------------------------------------------------------------------------------------- npz
class _StringArrayUnpickler(pickle.Unpickler):
    """Rebuilds a numpy object array (how ``np.save`` pickles one) and nothing else: the only globals it resolves
    are numpy's array reconstructor, ``ndarray`` and ``dtype``. Every other global is refused."""

    def find_class(self, module: str, name: str):
        from numpy._core import multiarray

        allowed = {("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
                   ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
                   ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a string array")
        return allowed[(module, name)]


def _npz_member(path: Path, zf: zipfile.ZipFile, name: str) -> np.ndarray:
    member = f"{name}.npy"
    if member not in zf.namelist():
        raise DictionaryError(f"{path}: no array {name!r} (has {sorted(n.removesuffix('.npy') for n in zf.namelist())};"
                              " the authors' layout is classes, prompts, embeddings)")
    with zf.open(member) as fh:
        version = np.lib.format.read_magic(fh)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(fh)
        if dtype.hasobject:
            try:
                arr = _StringArrayUnpickler(fh).load()
            except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as e:
                raise DictionaryError(f"{path}: array {name!r} is a pickle that is not a plain array of strings "
                                      f"({e}); refused") from None
            if not (isinstance(arr, np.ndarray) and arr.shape == tuple(shape)
                    and all(isinstance(x, str) for x in arr.ravel())):
                raise DictionaryError(f"{path}: array {name!r} must hold strings only")
            return arr.astype(str)
    with zf.open(member) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def read_npz_dictionary(path: str | os.PathLike, *, row: str = "mean", templates: Sequence[str] | None = None,
                        name: str | None = None, space: str | None = None) -> ConceptDictionary:
    """Read the authors' npz layout (module docstring): ``classes`` (n,), ``prompts`` (P,), ``embeddings`` (n, P, d)
    — or (n, d) with no ``prompts`` — of any float dtype.

    ``row``: "mean" (default; the ``mean`` prompt row, or the average when there is none), "average" (mean of the
    unit-normalised prompt rows other than ``mean``) or a prompt name. ``templates``: the prompt templates the
    rows were made with, when the file's prompt names are not templates themselves (a prompt name with one ``{}``
    is taken as its template) — needed by :func:`check_fingerprint`. Raises FileNotFoundError, DictionaryError
    naming the file for a missing array, a pickle that is not an array of strings, inconsistent shapes or an
    unknown ``row``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"concept dictionary {p}: no such file")
    try:
        zf = zipfile.ZipFile(p)
    except zipfile.BadZipFile:
        raise DictionaryError(f"{p}: not an npz (zip) file") from None
    with zf:
        labels = [str(x) for x in _npz_member(p, zf, "classes").ravel()]
        E = _npz_member(p, zf, "embeddings")
        prompts = ([str(x) for x in _npz_member(p, zf, "prompts").ravel()] if "prompts.npy" in zf.namelist()
                   else [])
    if not np.issubdtype(E.dtype, np.floating):
        raise DictionaryError(f"{p}: embeddings have dtype {E.dtype}, expected floating point")
    if E.ndim == 2:
        E = E[:, None, :]
        prompts = prompts or ["prompt"]
    if E.ndim != 3 or E.shape[0] != len(labels) or E.shape[1] != len(prompts):
        raise DictionaryError(f"{p}: embeddings have shape {E.shape}, expected (classes {len(labels)}, prompts "
                              f"{len(prompts)}, d)")
    E = E.astype(np.float64)
    per_prompt = [i for i, q in enumerate(prompts) if q != "mean"]
    if row == "mean" and "mean" in prompts:
        chosen, used = E[:, prompts.index("mean")], "mean"
    elif row in ("mean", "average"):
        if not per_prompt:
            raise DictionaryError(f"{p}: no prompt rows to average")
        rows = E[:, per_prompt]
        chosen, used = (rows / np.linalg.norm(rows, axis=2, keepdims=True)).mean(axis=1), "average"
        if len(per_prompt) == 1:
            chosen, used = E[:, per_prompt[0]], prompts[per_prompt[0]]
    elif row in prompts:
        chosen, used = E[:, prompts.index(row)], row
    else:
        raise DictionaryError(f"{p}: row {row!r} is not 'mean', 'average' or one of its prompts {prompts}")
    if templates is None:
        named = [prompts[i] for i in per_prompt]
        if named and all(q.count("{}") == 1 for q in named):
            templates = named if used in ("mean", "average") else [used]
    elif used not in ("mean", "average") and len(templates) == len(per_prompt):
        templates = [templates[per_prompt.index(prompts.index(used))]]
    return ConceptDictionary(name=name or p.stem, labels=tuple(labels), embeddings=chosen,
                             templates=None if templates is None else tuple(templates), row=used, file=p,
                             sha256=file_sha256(p), space=space)


# --------------------------------------------------------------------------------------------- parquet
def read_parquet_dictionary(path: str | os.PathLike, *, label_column: str = "label",
                            embedding_column: str = "embedding", templates: Sequence[str] | None = None,
                            name: str | None = None, space: str | None = None) -> ConceptDictionary:
    """Read a parquet dictionary: ``label_column`` (strings) and ``embedding_column`` (list or fixed-size list of
    floats, all of one length). The templates and space recorded by :func:`write_dictionary` (schema metadata
    ``sing.dictionary``) are used unless given. Raises FileNotFoundError, DictionaryError naming the file and the
    column for a missing column, null labels or embeddings of unequal length."""
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"concept dictionary {p}: no such file")
    try:
        table = pq.read_table(p)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several kinds for a non-parquet file
        raise DictionaryError(f"{p}: not a parquet file ({type(e).__name__}: {e})") from None
    for col in (label_column, embedding_column):
        if col not in table.column_names:
            raise DictionaryError(f"{p}: no column {col!r} (columns: {table.column_names})")
    labels = table.column(label_column).to_pylist()
    if any(lab is None for lab in labels):
        raise DictionaryError(f"{p}: column {label_column!r} has null labels")
    vectors = table.column(embedding_column).to_pylist()
    lengths = {len(v) if v is not None else 0 for v in vectors}
    if len(lengths) != 1 or 0 in lengths:
        raise DictionaryError(f"{p}: column {embedding_column!r} holds embeddings of lengths {sorted(lengths)[:5]}; "
                              "expected one length > 0")
    meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
    if templates is None and meta.get("templates"):
        templates = meta["templates"]
    return ConceptDictionary(name=name or p.stem, labels=tuple(str(x) for x in labels),
                             embeddings=np.asarray(vectors, dtype=np.float64),
                             templates=None if templates is None else tuple(templates), row="", file=p,
                             sha256=file_sha256(p), space=space or meta.get("space"), checks=meta.get("checks") or {})


def write_dictionary(path: str | os.PathLike, dictionary: ConceptDictionary,
                     provenance: Mapping[str, Any] | None = None) -> None:
    """Write a dictionary as parquet (``label`` string, ``embedding`` fixed-size list of float32) with its
    templates, space and ``provenance`` in the schema metadata, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..core.files import atomic_path

    E = dictionary.embeddings.astype(np.float32)
    flat = pa.array(E.ravel(), pa.float32())
    table = pa.table({"label": pa.array(list(dictionary.labels), pa.string()),
                      "embedding": pa.FixedSizeListArray.from_arrays(flat, E.shape[1])})
    meta = {"name": dictionary.name, "templates": None if dictionary.templates is None else list(dictionary.templates),
            "space": dictionary.space, "row": dictionary.row, "checks": dict(dictionary.checks),
            "provenance": dict(provenance or {})}
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta, sort_keys=True).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_dictionary(path: str | os.PathLike, **kwargs: Any) -> ConceptDictionary:
    """:func:`read_npz_dictionary` for ``.npz``, :func:`read_parquet_dictionary` for ``.parquet``; DictionaryError
    naming the file for another suffix. ``kwargs`` go to the reader (``row`` is for npz only)."""
    p = Path(path)
    if p.suffix == ".npz":
        return read_npz_dictionary(p, **kwargs)
    if p.suffix == ".parquet":
        kwargs.pop("row", None)
        return read_parquet_dictionary(p, **kwargs)
    raise DictionaryError(f"concept dictionary {p}: unknown format {p.suffix!r} (.npz in the SING authors' layout, "
                          "or .parquet with label and embedding columns)")


# --------------------------------------------------------------------------------------------- checks
def check_dimension(dictionary: ConceptDictionary, space: str, dim: int) -> ConceptDictionary:
    """The dictionary with ``checks["dimension"]`` set when its embedding dimension is the space's ``dim``;
    DictionaryError naming the dictionary, its file, the space and both numbers otherwise."""
    if dictionary.dim != int(dim):
        raise DictionaryError(f"dictionary {dictionary.name!r} ({dictionary.file}): embeddings have dimension "
                              f"{dictionary.dim} but space {space!r} embeds in dimension {int(dim)}")
    return replace(dictionary, checks={**dictionary.checks, "dimension": {"space": space, "dim": int(dim)}})


def checked_dictionary(dictionary: ConceptDictionary, space: Any, *, fingerprint: bool = True
                       ) -> tuple[ConceptDictionary, list[str]]:
    """A dictionary checked against a loaded space (:class:`sing.models.clip_spaces.ClipSpace`): its dimension
    (:func:`check_dimension`) and, with ``fingerprint``, :func:`check_fingerprint`; returns (dictionary with its
    ``checks``, caveats). Without the fingerprint the caveat says the embeddings are trusted to come from this
    space. Raises DictionaryError as those two."""
    dictionary = replace(check_dimension(dictionary, space.key, space.dim), space=space.key)
    if fingerprint:
        dictionary = check_fingerprint(dictionary, space)
    return dictionary, dictionary.caveats


def fingerprint_labels(labels: Sequence[str], n: int = 3) -> list[str]:
    """``n`` labels spread over the dictionary (first, middle, last, ...): deterministic, independent of
    anything but the label order."""
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    if len(labels) <= n:
        return list(labels)
    idx = np.unique(np.round(np.linspace(0, len(labels) - 1, n)).astype(int))
    return [labels[i] for i in idx]


def _embed(space: Any, labels: Sequence[str], templates: Sequence[str], source: str) -> np.ndarray:
    """(len(labels), d) float64 text embeddings: one template -> its embedding; several -> the mean of the
    unit-norm embeddings rescaled to their mean norm (the ensemble of
    :meth:`sing.models.clip_spaces.ClipSpace.encode_prompts`), computed here with every prompt of every label in
    the same batches (one forward pass per 256 prompts instead of one per label: ~60× faster on a CPU for the
    built-in vocabulary). Every prompt is checked against the tokenizer first (errors name ``source``)."""
    labels, templates = list(labels), list(templates)
    if not templates or not all(isinstance(t, str) and t.count("{}") == 1 for t in templates):
        raise DictionaryError(f"{source}: expected templates with exactly one {{}} each, got {templates!r}")
    prompts = [t.format(lab) for lab in labels for t in templates]
    E = np.asarray(space.encode_text(prompts, source=source), dtype=np.float64)
    if len(templates) == 1:
        return E
    E = E.reshape(len(labels), len(templates), -1)
    norms = np.linalg.norm(E, axis=2, keepdims=True)
    m = (E / np.maximum(norms, 1e-12)).mean(axis=1)
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12) * norms.mean(axis=1)


def check_fingerprint(dictionary: ConceptDictionary, space: Any, *, labels: Sequence[str] | None = None,
                      n: int = 3, min_cosine: float = MIN_COSINE, templates: Sequence[str] | None = None
                      ) -> ConceptDictionary:
    """Check the dictionary was embedded with ``space`` (a loaded :class:`sing.models.clip_spaces.ClipSpace`):
    re-embed ``labels`` (default :func:`fingerprint_labels`, 3) with its text tower and the dictionary's
    ``templates`` (or the ones given) and compare with the stored rows by cosine similarity.

    Returns the dictionary with ``checks["fingerprint"]`` = {space, labels, cosines, min_cosine, templates}.
    Raises DictionaryError naming the dictionary, its file and the space: every label under ``min_cosine`` (with
    its cosine: another CLIP model, or other prompts), or no templates to re-embed with (give them, or skip the
    check knowingly); plus the prompt errors of :meth:`ClipSpace.encode_text` (a prompt over 77 tokens).
    """
    tpls = list(templates) if templates is not None else (list(dictionary.templates) if dictionary.templates
                                                           else None)
    where = f"dictionary {dictionary.name!r} ({dictionary.file})"
    if not tpls:
        raise DictionaryError(f"{where}: does not record the prompt templates its embeddings were made with (its "
                              f"rows are {dictionary.row or 'one per label'}), so it cannot be checked against space "
                              f"{space.key!r}: give them (config text.dictionaries.<name>.templates) or turn the "
                              "check off (fingerprint: false; its results then carry a caveat)")
    chosen = list(labels) if labels is not None else fingerprint_labels(dictionary.labels, n)
    sub = dictionary.select(chosen)
    if sub.dim != space.dim:
        raise DictionaryError(f"{where}: embeddings have dimension {sub.dim} but space {space.key!r} embeds in "
                              f"dimension {space.dim}")
    Z = _embed(space, chosen, tpls, source=f"text.dictionaries.{dictionary.name}.templates")
    cos = np.einsum("ij,ij->i", Z, sub.embeddings) / (np.linalg.norm(Z, axis=1)
                                                      * np.linalg.norm(sub.embeddings, axis=1))
    bad = [f"{lab!r} (cosine {c:.4f})" for lab, c in zip(chosen, cos) if not c >= min_cosine]
    if bad:
        raise DictionaryError(
            f"{where}: labels {', '.join(bad)} re-embedded with space {space.key!r} "
            f"({getattr(space, 'weights_id', '')}) and templates {tpls} have cosine < {min_cosine} with the stored "
            "embeddings: the dictionary was made with another CLIP model or other prompts; refused")
    record = {"space": space.key, "weights_id": getattr(space, "weights_id", None), "labels": chosen,
              "cosines": [float(c) for c in cos], "min_cosine": float(min_cosine), "templates": tpls}
    return replace(dictionary, checks={**dictionary.checks, "fingerprint": record})


def embed_dictionary(space: Any, labels: Sequence[str], templates: Sequence[str], *, name: str,
                     source: str = "text.vocabulary") -> ConceptDictionary:
    """A dictionary embedded with ``space``'s text tower: one row per label, the template ensemble of
    ``templates`` (one template: its embedding; several: the mean of the unit-norm embeddings rescaled to their
    mean norm, as :meth:`ClipSpace.encode_prompts`). Every prompt is checked against the tokenizer first (errors
    name ``source``)."""
    labels = list(dict.fromkeys(labels))
    if not labels:
        raise DictionaryError(f"dictionary {name!r}: no labels to embed")
    Z = _embed(space, labels, list(templates), source=source)
    return ConceptDictionary(name=name, labels=tuple(labels), embeddings=Z, templates=tuple(templates),
                             row="" if len(templates) == 1 else "average", space=space.key,
                             checks={"embedded_with": {"space": space.key,
                                                       "weights_id": getattr(space, "weights_id", None)}})
