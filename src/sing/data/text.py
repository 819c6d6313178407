"""Text embeddings of one CLIP space: the class prompts, the open-vocabulary concepts and the steering targets,
in one table per space (schema: :func:`sing.io.storage.write_text_embeddings`).

Kept in ``sing.data`` rather than beside the CLIP space code because it needs the ImageNet class names
(:mod:`sing.data.imagenet`), and ``sing.models`` sits below ``sing.data`` in the import layers.
"""

from __future__ import annotations

import numpy as np

from ..io.provenance import package_versions
from ..io.storage import write_text_embeddings
from ..models.clip_spaces import load_space
from ..models.devices import resolve_device
from ..models.weights import WeightsCache
from .imagenet import class_index, class_rows

__all__ = ["CLASS_PROMPT", "CONCEPT_PROMPT", "embed_text_table"]

#: library defaults (the workflow passes its config's ``text.class_prompt`` / ``text.concept_prompt``)
CLASS_PROMPT = "an image of a {}"
CONCEPT_PROMPT = "an image of {}"


def embed_text_table(key: str, entry: dict, text: dict, out, *, device="auto",
                     weights: WeightsCache | None = None, provenance: dict | None = None) -> int:
    """Write the text-embedding table of one CLIP space; returns the number of rows.

    text: {"class_prompt": "an image of a {}" (the paper's), "templates": None | "openai" | "simple" (an ensemble
    for the class prompts only), "classes": "all" | [wnids] (default all 1000), "concepts": [str] or {key: [str]}
    (concept phrases, e.g. "sand dunes", "a hump"), "concept_prompt": template of every concept (default
    "an image of {}": a concept carries its own article, if any), "targets": [full prompts, used verbatim]}.
    Rows: kind "class" (key wnid, class_index), "concept" (key = concept), "target" (key = prompt text).
    ValueError naming the setting for an unknown setting or a template without ``{}``.
    ``provenance``: extra entries for the file's provenance block (e.g. the weights lock entry).
    """
    allowed = {"class_prompt", "templates", "classes", "concepts", "concept_prompt", "targets"}
    unknown = set(text) - allowed
    if unknown:
        raise ValueError(f"unknown text setting(s) {sorted(unknown)} (known: {sorted(allowed)})")
    cp = text.get("class_prompt") or CLASS_PROMPT
    concept_prompt = text.get("concept_prompt") or CONCEPT_PROMPT
    for name, template in (("class_prompt", cp), ("concept_prompt", concept_prompt)):
        if "{}" not in template:
            raise ValueError(f"text {name} must contain '{{}}', got {template!r}")
    ens = text.get("templates")
    sel = text.get("classes", "all")
    rows = class_rows()
    if sel in (None, "all"):
        classes = [(r[0], r[1], r[2]) for r in rows]
    else:
        classes = [(class_index(w), w, rows[class_index(w)][2]) for w in sel]
    concepts = text.get("concepts") or []
    if isinstance(concepts, dict):
        concepts = list(dict.fromkeys(c for v in concepts.values() for c in ([v] if isinstance(v, str) else v)))
    concepts = list(dict.fromkeys(concepts))
    targets = list(dict.fromkeys(text.get("targets") or []))

    space = load_space(key, entry, device=resolve_device(device), weights=weights)
    e_cls, p_cls = space.encode_prompts([c[2] for c in classes], cp, ens)
    e_con, p_con = space.encode_prompts(concepts, concept_prompt, None)  # concepts: one template, no ensemble
    e_tgt = space.encode_text(targets)
    kinds = ["class"] * len(classes) + ["concept"] * len(concepts) + ["target"] * len(targets)
    keys = [c[1] for c in classes] + concepts + targets
    prompts = p_cls + p_con + targets
    cidx = [c[0] for c in classes] + [-1] * (len(concepts) + len(targets))
    E = np.concatenate([e.reshape(-1, space.dim) for e in (e_cls, e_con, e_tgt)]).astype(np.float32)
    meta = {"kind": "text", "model": key, "weights_id": space.weights_id, "preprocess": {"tokenizer": entry.get("model")},
            "precision": "fp32", "versions": package_versions(),
            "provenance": {"entry": entry, "class_prompt": cp, "templates": ens, "concept_prompt": concept_prompt,
                           **(provenance or {})}}
    write_text_embeddings(out, kind=kinds, key=keys, prompt=prompts, class_index=cidx, embeddings=E, metadata=meta)
    return len(keys)
