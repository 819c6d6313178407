"""The settings dict every figure function takes, from the figures job's settings (its manifest /
``params.settings``: ``figures``, ``run_models``, ``run_spaces``, ``models``, ``spaces``, ``analyses.steering``,
``dataset.class_names`` and the ``weights`` lock entries)."""

from __future__ import annotations

from typing import Any, Mapping

from ..models.lock import random_weight_keys

__all__ = ["figure_settings"]


def figure_settings(job: Mapping[str, Any]) -> dict[str, Any]:
    """Figure settings of a figures job: ``figures.*`` (paper_models, formats), ``models`` / ``spaces`` (the run
    lists), ``display`` / ``space_display`` (key -> display name), ``steering_{target, target_is_deg,
    calibration}``, ``class_names`` (class id -> display name) and ``random_weights`` ({"models", "spaces"}
    with random weights, :func:`sing.models.lock.random_weight_keys` of ``job["weights"]``: every figure drawing
    one of them says so in its subtitle)."""
    steering = job["analyses"]["steering"]
    return {**job["figures"], "models": list(job["run_models"]), "spaces": list(job["run_spaces"]),
            "display": {key: entry["display"] for key, entry in job["models"].items()},
            "space_display": {key: entry["display"] for key, entry in job["spaces"].items()},
            **{f"steering_{key}": steering[key] for key in ("target", "target_is_deg", "calibration")},
            "class_names": dict(job["dataset"]["class_names"]),
            "random_weights": random_weight_keys(job.get("weights"))}
