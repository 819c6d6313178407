"""Default open-vocabulary concept lists (paper §4.3, Fig 5 and supp. Figs 15-16).

The paper analyses "Arabian camel" (n02437312) and "jellyfish" (n01910747) against ~30 concepts each,
ranging from strongly related (desert, tentacles) to loosely related or unrelated ones (a spurious
correlation shows up as a small angle or a large |AS| for a loosely related concept). Any other class gets
`GENERIC_CONCEPTS`. The strings are concept phrases, not prompts: the text-embedding step puts each into
``text.concept_prompt`` (default "an image of {}"), so a countable noun carries its article ("a hump",
"an oasis") and an adjective is made a noun phrase ("something translucent", "the color pink"); the phrases
are also the labels of the open-vocabulary figure.

This module is imported by the Snakefile at DAG-build time: keep it free of heavy imports (plain lists;
separate from :mod:`sing.analysis.open_vocabulary` for that reason).
"""

from __future__ import annotations

ARABIAN_CAMEL = "n02437312"
JELLYFISH = "n01910747"

CAMEL_CONCEPTS: tuple[str, ...] = (
    "desert",
    "sand dunes",
    "a hump",
    "a dromedary",
    "a caravan",
    "a saddle",
    "a Bedouin",
    "an oasis",
    "a palm tree",
    "pyramids",
    "the Sahara",
    "a long neck",
    "fur",
    "hooves",
    "a rider",
    "a rope halter",
    "dry heat",
    "a blue sky",
    "a sunset",
    "a tent",
    "a horse",
    "a llama",
    "a giraffe",
    "a cow",
    "a zoo",
    "a fence",
    "a road",
    "snow",
    "the ocean",
    "a city street",
)

JELLYFISH_CONCEPTS: tuple[str, ...] = (
    "tentacles",
    "the ocean",
    "an underwater scene",
    "the deep sea",
    "something translucent",
    "bioluminescence",
    "a glowing light",
    "an aquarium",
    "blue water",
    "a coral reef",
    "plankton",
    "a sting",
    "a medusa",
    "a bell shape",
    "something floating",
    "a sea anemone",
    "an octopus",
    "a squid",
    "a fish",
    "a starfish",
    "bubbles",
    "darkness",
    "the color pink",
    "the color purple",
    "a beach",
    "a plastic bag",
    "a balloon",
    "a lamp",
    "a desert",
    "a car",
)

GENERIC_CONCEPTS: tuple[str, ...] = (
    "the outdoors",
    "an indoor scene",
    "grass",
    "water",
    "the sky",
    "snow",
    "sand",
    "a forest",
    "a city",
    "a road",
    "a person",
    "a hand",
    "a dog",
    "a car",
    "text",
    "darkness",
    "bright light",
    "a close-up",
    "a blurry photo",
    "a drawing",
)

DEFAULT_CONCEPTS: dict[str, tuple[str, ...]] = {
    ARABIAN_CAMEL: CAMEL_CONCEPTS,
    JELLYFISH: JELLYFISH_CONCEPTS,
}


def default_concepts(class_ids=None) -> dict[str, list[str]]:
    """Concept list per WordNet id: the curated list where one exists, else `GENERIC_CONCEPTS`.

    `class_ids`: iterable of class ids (default: the two ImageNet classes of the paper); a class of any dataset
    other than those two gets the generic list. Returns a new dict of new lists in the order of `class_ids`.
    """
    if class_ids is None:
        class_ids = list(DEFAULT_CONCEPTS)
    if isinstance(class_ids, str):
        class_ids = [class_ids]
    out: dict[str, list[str]] = {}
    for class_id in class_ids:
        if not isinstance(class_id, str) or not class_id:
            raise ValueError(f"default_concepts: class ids must be non-empty strings, got {class_id!r}")
        out[class_id] = list(DEFAULT_CONCEPTS.get(class_id, GENERIC_CONCEPTS))
    return out


def all_default_concepts() -> list[str]:
    """Every distinct default concept (sorted): what the text-embedding step may embed up front."""
    seen = set(GENERIC_CONCEPTS)
    for concepts in DEFAULT_CONCEPTS.values():
        seen.update(concepts)
    return sorted(seen)
