"""Text embeddings of one CLIP space: the class prompts, the open-vocabulary concepts and the steering targets,
in one table per space (schema: :func:`sing.io.storage.write_text_embeddings`). Every prompt is checked
against the space's tokenizer before the model is loaded (and, for the whole run, before any job by
:func:`sing.data.preflight.check_text_settings`).

The class prompts are built from the dataset's prompt names, which the workflow resolves when it plans
(:meth:`sing.data.classes.ClassCatalog.name`: open_clip's names on ImageNet, the ``class_names`` file or the folder
names on a folder dataset) and passes as ``[class index, class id, prompt name]`` per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..io.provenance import package_versions
from ..io.storage import write_text_embeddings
from ..models.clip_spaces import load_space, load_tokenizer, templates
from ..models.devices import resolve_device
from ..models.prompts import check_prompts, check_template
from ..models.weights import WeightsCache

__all__ = ["CLASS_PROMPT", "CONCEPT_PROMPT", "TextPlan", "embed_text_table", "plan_text"]

#: library defaults (the workflow passes its config's ``text.class_prompt`` / ``text.concept_prompt``)
CLASS_PROMPT = "an image of a {}"
CONCEPT_PROMPT = "an image of {}"

#: the config key each kind of prompt comes from (named in errors)
SOURCES = {"class": "text.class_prompt", "templates": "text.templates",
           "concept": "analyses.open_vocabulary.concepts", "target": "targets"}
ALLOWED = {"class_prompt", "templates", "classes", "concepts", "concept_prompt", "targets"}


@dataclass(frozen=True)
class TextPlan:
    """What one text table embeds: ``classes`` [(index, class id, prompt name)], ``concepts``, ``targets`` (prompt
    texts), the class / concept templates and the class-prompt ensemble name (concepts take one template), and
    ``target_sources`` {prompt: config key}."""

    class_prompt: str
    ensemble: str | None
    concept_prompt: str
    classes: tuple[tuple[int, str, str], ...]
    concepts: tuple[str, ...]
    targets: tuple[str, ...]
    target_sources: Mapping[str, str]

    def prompts(self) -> dict[str, list[str]]:
        """Every text the table's embeddings are computed from, by the config key it comes from (a template
        ensemble expanded: each template applied to each class; concepts always take ``concept_prompt``)."""
        tpls = templates(self.ensemble)
        names = [c[2] for c in self.classes]
        if tpls is None:
            out = {SOURCES["class"]: [self.class_prompt.format(n) for n in names],
                   SOURCES["concept"]: [self.concept_prompt.format(c) for c in self.concepts]}
        else:
            out = {SOURCES["templates"]: [t(n) for n in names for t in tpls],
                   SOURCES["concept"]: [self.concept_prompt.format(c) for c in self.concepts]}
        for prompt, source in self.target_sources.items():
            out.setdefault(source, []).append(prompt)
        return out


def plan_text(text: dict) -> TextPlan:
    """Parse the text settings of a table (see :func:`embed_text_table`).

    Raises ValueError naming the setting for an unknown key, a class prompt without ``{}``, or an empty prompt
    name, concept or target (an empty string would embed as a meaningless prompt).
    """
    unknown = set(text) - ALLOWED
    if unknown:
        raise ValueError(f"unknown text setting(s) {sorted(unknown)} (known: {sorted(ALLOWED)})")
    cp = text.get("class_prompt") or CLASS_PROMPT
    concept_prompt = text.get("concept_prompt") or CONCEPT_PROMPT
    for name, template in (("class_prompt", cp), ("concept_prompt", concept_prompt)):
        check_template(template, f"text.{name}")
    classes = tuple((int(i), str(c), str(p)) for i, c, p in text.get("classes") or [])
    concepts = text.get("concepts") or []
    if isinstance(concepts, dict):
        concepts = [c for v in concepts.values() for c in ([v] if isinstance(v, str) else v)]
    concepts = list(dict.fromkeys(concepts))
    targets = text.get("targets") or []
    by_key = dict(targets) if isinstance(targets, dict) else {SOURCES["target"]: list(targets)}
    sources: dict[str, str] = {}
    for key, prompts in by_key.items():
        for p in prompts:
            sources.setdefault(p, key)
    empty = [f"dataset.class_names: prompt name of {c!r}" for _, c, p in classes if not p.strip()]
    empty += [f"{SOURCES['concept']}: {c!r}" for c in concepts if not isinstance(c, str) or not c.strip()]
    empty += [f"{k}: {p!r}" for p, k in sources.items() if not isinstance(p, str) or not p.strip()]
    if empty:
        raise ValueError(f"empty prompt(s): {'; '.join(empty)}")
    return TextPlan(cp, text.get("templates"), concept_prompt, classes, tuple(concepts),
                    tuple(sources), sources)


def embed_text_table(key: str, entry: dict, text: dict, out, *, device="auto",
                     weights: WeightsCache | None = None, provenance: dict | None = None) -> int:
    """Write the text-embedding table of one CLIP space; returns the number of rows.

    text: {"class_prompt": "an image of a {}", "templates": None | "openai" | "simple",
    "classes": [[class index, class id, prompt name], ...], "concepts": [str] or {key: prompt-less concept},
    "concept_prompt": the one template of every concept (default "an image of {}": a concept phrase carries its
    own article, if any; no ensemble), "targets": [full prompts] or
    {config key: [full prompts]} (the key is named in errors)}.
    Rows: kind "class" (key class id, class_index), "concept" (key = concept), "target" (key = prompt text).

    ``provenance``: extra entries for the file's provenance block (e.g. the weights lock entry).

    Every prompt is checked against the space's tokenizer before the model is loaded
    (:func:`sing.models.prompts.check_prompts`): ValueError naming the config key, the prompt and its token
    count for one longer than the context length (77 for CLIP), and for an empty one.
    """
    plan = plan_text(text)
    check_prompts(load_tokenizer(key, entry, weights), plan.prompts(), where=f"space {key}")
    space = load_space(key, entry, device=resolve_device(device), weights=weights)
    ens, cp = plan.ensemble, plan.class_prompt
    e_cls, p_cls = space.encode_prompts([c[2] for c in plan.classes], cp, ens, check=False)
    e_con, p_con = space.encode_prompts(list(plan.concepts), plan.concept_prompt, None, check=False)
    e_tgt = space.encode_text(list(plan.targets), check=False)
    kinds = ["class"] * len(plan.classes) + ["concept"] * len(plan.concepts) + ["target"] * len(plan.targets)
    keys = [c[1] for c in plan.classes] + list(plan.concepts) + list(plan.targets)
    prompts = p_cls + p_con + list(plan.targets)
    cidx = [c[0] for c in plan.classes] + [-1] * (len(plan.concepts) + len(plan.targets))
    E = np.concatenate([e.reshape(-1, space.dim) for e in (e_cls, e_con, e_tgt)]).astype(np.float32)
    meta = {"kind": "text", "model": key, "weights_id": space.weights_id,
            "preprocess": {"tokenizer": entry.get("model")},
            "precision": "fp32", "versions": package_versions(),
            "provenance": {"entry": entry, "class_prompt": cp, "templates": ens, "concept_prompt": plan.concept_prompt,
                           **(provenance or {})}}
    write_text_embeddings(out, kind=kinds, key=keys, prompt=prompts, class_index=cidx, embeddings=E, metadata=meta)
    return len(keys)
