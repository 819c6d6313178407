"""What the report tests check against: results/README.md's table rows and heading anchors."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "results" / "README.md").read_text()


def readme_tables() -> list[str]:
    """The global tables results/README.md documents (its `| `tables/<name>.parquet` |` rows)."""
    return sorted(set(re.findall(r"^\| `tables/(\w+)\.parquet`", README, flags=re.M)))


def readme_anchors() -> set[str]:
    """GitHub's anchors of the README's headings: lower case, punctuation but - and _ dropped, spaces to -."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", README, flags=re.M)}


def named_anchors(text: str) -> set[str]:
    """The `results/README.md#<anchor>` references in a caption."""
    return set(re.findall(r"results/README\.md#([\w-]+)", text))
