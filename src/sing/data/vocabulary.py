"""sing's built-in concept vocabulary: several hundred concept phrases in eight categories — colours, textures and
patterns, materials, scenes, parts, objects, shapes, and photographic properties — curated for sing (package data
``sing/data/vocabulary.tsv``: one ``<category>\\t<phrase>`` a line), embedded with any CLIP space and a prompt
ensemble (:data:`CONCEPT_TEMPLATES`) into a :class:`~sing.data.dictionaries.ConceptDictionary`.

A phrase is a noun phrase ready for the templates: a countable noun carries its article ("a wheel"), a colour is
"the color red", a material or mass noun stands alone ("wood", "snow"); phrases are also the labels of tables and
figures. The list is deduplicated case-insensitively (checked on load). It overlaps in spirit with the Broden
concept categories the SING authors' dictionary follows (colours, textures, materials, scenes, parts), but is
sing's own wording and a larger, broader set (objects, shapes, photo properties: spurious cues a classifier's null
space may carry).
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Sequence

__all__ = ["CATEGORIES", "CONCEPT_TEMPLATES", "builtin_vocabulary", "embed_vocabulary", "vocabulary_prompts"]

#: the categories of the built-in vocabulary, in file order
CATEGORIES = ("colour", "texture", "material", "scene", "part", "object", "shape", "photo")

#: the prompt ensemble the vocabulary is embedded with: every phrase goes into each template, the unit-norm text
#: embeddings are averaged (CLIP's zero-shot ensembling). Phrase-neutral wording: the phrases carry articles.
CONCEPT_TEMPLATES = ("a photo of {}.", "an image of {}.", "a close-up photo of {}.", "a cropped photo of {}.",
                     "a picture showing {}.")

VOCABULARY_FILE = "vocabulary.tsv"


def builtin_vocabulary(categories: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """``[(category, phrase), ...]`` of the built-in vocabulary in file order, optionally of some ``categories``.

    Raises ValueError naming the line for a malformed line, an unknown category or a duplicate phrase
    (case-insensitive), and naming an unknown category in ``categories``.
    """
    if categories is not None:
        unknown = sorted(set(categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"categories: unknown {unknown} (known: {list(CATEGORIES)})")
    text = resources.files("sing.data").joinpath(VOCABULARY_FILE).read_text(encoding="utf-8")
    rows: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    header = True
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if header:
            if line.split("\t") != ["category", "phrase"]:
                raise ValueError(f"{VOCABULARY_FILE}:{lineno}: expected the header 'category<TAB>phrase'")
            header = False
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[1].strip() or parts[1] != parts[1].strip():
            raise ValueError(f"{VOCABULARY_FILE}:{lineno}: expected '<category><TAB><phrase>', got {line!r}")
        category, phrase = parts
        if category not in CATEGORIES:
            raise ValueError(f"{VOCABULARY_FILE}:{lineno}: unknown category {category!r}")
        key = phrase.lower()
        if key in seen:
            raise ValueError(f"{VOCABULARY_FILE}:{lineno}: {phrase!r} repeats line {seen[key]}")
        seen[key] = lineno
        if categories is None or category in categories:
            rows.append((category, phrase))
    return rows


def vocabulary_prompts(phrases: Sequence[str], templates: Sequence[str] = CONCEPT_TEMPLATES) -> list[str]:
    """Every prompt the vocabulary is embedded from (each template applied to each phrase): what
    :func:`sing.models.prompts.check_prompts` counts against a tokenizer before anything is embedded."""
    return [t.format(p) for p in phrases for t in templates]


def embed_vocabulary(space: Any, categories: Sequence[str] | None = None,
                     templates: Sequence[str] = CONCEPT_TEMPLATES, *, name: str = "builtin"):
    """The built-in vocabulary (or some ``categories`` of it) embedded with ``space`` (a loaded
    :class:`sing.models.clip_spaces.ClipSpace`) and the template ensemble: a
    :class:`~sing.data.dictionaries.ConceptDictionary` of n phrases × d. Every prompt is checked against the space's
    tokenizer first (ValueError naming ``text.vocabulary``, the prompt and its token count)."""
    from .dictionaries import embed_dictionary

    phrases = [p for _, p in builtin_vocabulary(categories)]
    return embed_dictionary(space, phrases, list(templates), name=name, source="text.vocabulary")
