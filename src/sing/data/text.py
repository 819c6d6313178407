"""Text embeddings of one CLIP space: the class prompts, the open-vocabulary concepts and the steering targets,
in one table per space (schema: :func:`sing.io.storage.write_text_embeddings`).

The class prompts are built from the dataset's prompt names (:meth:`sing.data.classes.ClassCatalog.name`):
open_clip's names on ImageNet, the ``class_names`` file or the folder names on a folder dataset.
"""

from __future__ import annotations

import numpy as np

from ..io.provenance import package_versions
from ..io.storage import write_text_embeddings
from ..models.clip_spaces import load_space
from ..models.devices import resolve_device
from ..models.weights import WeightsCache

__all__ = ["embed_text_table"]


def embed_text_table(key: str, entry: dict, text: dict, out, *, device="auto",
                     weights: WeightsCache | None = None) -> int:
    """Write the text-embedding table of one CLIP space; returns the number of rows.

    text: {"class_prompt": "an image of a {}", "templates": None | "openai" | "simple",
    "classes": [[class index, class id, prompt name], ...], "concepts": [str] or {key: prompt-less concept},
    "concept_prompt": template for concepts (default class_prompt), "targets": [full prompts]}. Rows: kind "class"
    (key class id, class_index), "concept" (key = concept), "target" (key = prompt text).
    """
    allowed = {"class_prompt", "templates", "classes", "concepts", "concept_prompt", "targets"}
    unknown = set(text) - allowed
    if unknown:
        raise ValueError(f"unknown text setting(s) {sorted(unknown)} (known: {sorted(allowed)})")
    cp = text.get("class_prompt", "an image of a {}")
    if "{}" not in cp:
        raise ValueError(f"text class_prompt must contain '{{}}', got {cp!r}")
    ens = text.get("templates")
    classes = [(int(i), str(c), str(p)) for i, c, p in text.get("classes") or []]
    empty = [c for _, c, p in classes if not p.strip()]
    if empty:
        raise ValueError(f"text classes: empty prompt names for {empty[:10]}")
    concepts = text.get("concepts") or []
    if isinstance(concepts, dict):
        concepts = list(dict.fromkeys(c for v in concepts.values() for c in ([v] if isinstance(v, str) else v)))
    concepts = list(dict.fromkeys(concepts))
    targets = list(dict.fromkeys(text.get("targets") or []))
    concept_prompt = text.get("concept_prompt") or cp

    space = load_space(key, entry, device=resolve_device(device), weights=weights)
    e_cls, p_cls = space.encode_prompts([c[2] for c in classes], cp, ens)
    e_con, p_con = space.encode_prompts(concepts, concept_prompt, ens)
    e_tgt = space.encode_text(targets)
    kinds = ["class"] * len(classes) + ["concept"] * len(concepts) + ["target"] * len(targets)
    keys = [c[1] for c in classes] + concepts + targets
    prompts = p_cls + p_con + targets
    cidx = [c[0] for c in classes] + [-1] * (len(concepts) + len(targets))
    E = np.concatenate([e.reshape(-1, space.dim) for e in (e_cls, e_con, e_tgt)]).astype(np.float32)
    meta = {"kind": "text", "model": key, "weights_id": space.weights_id, "preprocess": {"tokenizer": entry.get("model")},
            "precision": "fp32", "versions": package_versions(),
            "provenance": {"entry": entry, "class_prompt": cp, "templates": ens, "concept_prompt": concept_prompt}}
    write_text_embeddings(out, kind=kinds, key=keys, prompt=prompts, class_index=cidx, embeddings=E, metadata=meta)
    return len(keys)
