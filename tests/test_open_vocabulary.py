"""Open vocabulary over a dictionary and every class (sing.analysis.open_vocabulary): planted ground truth — each
class's null component carries a known concept — and the aggregates against plain numpy."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from sing.analysis.open_vocabulary import (
    CLASS_CONCEPT_COLUMNS,
    MODEL_CONCEPT_COLUMNS,
    class_concepts,
    class_concepts_table,
    model_concepts,
)
from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator
from sing.data.dictionaries import ConceptDictionary


def planted(seed=0):
    """Head W (3×6) with principal space span(e0..e2) and null space span(e3..e5). The translator maps e0 -> c0
    (concept 'principal'), the null directions e3 -> c1 ('carried by A') and e4 -> c2 ('carried by B'); c3, c4 are
    untouched concepts. Class A features: principal part + null part along e3; class B: along e4."""
    rng = np.random.default_rng(seed)
    W = np.zeros((3, 6))
    W[:, :3] = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    WT = np.zeros((5, 6))
    WT[0, 0], WT[1, 3], WT[2, 4] = 1.0, 1.0, 1.0
    WT[3, 1], WT[4, 2] = 0.01, 0.01  # c3, c4: faint principal directions orthogonal to everything planted
    T = LinearTranslator(WT, np.zeros(5))
    n = 8
    FA = np.zeros((n, 6))
    FA[:, 0] = 1 + rng.random(n)
    FA[:, 3] = 2 + rng.random(n)
    FB = np.zeros((n, 6))
    FB[:, 0] = 1 + rng.random(n)
    FB[:, 4] = 0.5 + 0.1 * rng.random(n)
    labels = ("principal", "carried by A", "carried by B", "other 1", "other 2")
    return W, T, {"A": FA, "B": FB}, ConceptDictionary("planted", labels, np.eye(5))


def angle(a, b):
    c = np.einsum("ij,j->i", a, b) / np.linalg.norm(a, axis=1) / np.linalg.norm(b)
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def test_class_concepts_rank_the_concept_the_null_space_carries():
    W, T, F, d = planted()
    g = head_geometry(W)
    assert g.nullity == 3
    A = class_concepts(F["A"], g, T, d.embeddings, list(d.labels), class_id="A")
    # removing e3 takes T f from between c0 and c1 onto c0: c1 lost (AS < 0), c0 gained (AS > 0), same |AS|
    assert A["concept"].to_list()[:2] in (["carried by A", "principal"], ["principal", "carried by A"])
    top = A.row(0, named=True)
    assert A["rank"].to_list() == [1, 2, 3, 4, 5]
    carried = A.filter(pl.col("concept") == "carried by A").row(0, named=True)
    assert carried["as_mean"] < -30  # the null component carried it: lost on removal
    assert A.filter(pl.col("concept") == "principal")["as_mean"][0] > 30
    assert A.filter(pl.col("concept") == "carried by B")["abs_as_mean"][0] == pytest.approx(0, abs=1e-9)
    # brute force: angles of T f and T f̃ = T(f - Π_n f) to each concept
    z, z_eq = F["A"] @ T.weight.T, g.remove_null(F["A"]) @ T.weight.T
    for row in A.iter_rows(named=True):
        c = d.embeddings[d.labels.index(row["concept"])]
        AS = angle(z, c) - angle(z_eq, c)
        assert row["as_mean"] == pytest.approx(AS.mean(), abs=1e-9)
        assert row["abs_as_mean"] == pytest.approx(np.abs(AS).mean(), abs=1e-9)
    assert top["abs_as_mean"] == pytest.approx(A["abs_as_mean"].max())
    assert class_concepts(F["A"], g, T, d.embeddings, list(d.labels), class_id="A", top=2).height == 2
    with pytest.raises(ValueError, match="top"):
        class_concepts(F["A"], g, T, d.embeddings, list(d.labels), class_id="A", top=0)


def test_class_table_from_feature_files_and_the_model_table(tmp_path):
    from sing.data.classes import file_key
    from sing.io.storage import write_embeddings

    W, T, F, d = planted()
    g = head_geometry(W)
    meta = {"kind": "features", "model": "toy", "weights_id": "planted", "preprocess": {}, "precision": "fp32"}
    for cid, X in F.items():
        write_embeddings(tmp_path / f"{file_key(cid)}.parquet", image_ids=[f"{cid}{i}" for i in range(len(X))],
                         split="val", class_index=0, class_id=cid, features=X.astype(np.float32), metadata=meta)
    table = class_concepts_table([tmp_path / "missing", tmp_path], ["B", "A"], g, T, d, model="toy", space="sp")
    assert tuple(table.columns) == CLASS_CONCEPT_COLUMNS and table.height == 10
    assert table["class_id"].to_list() == ["A"] * 5 + ["B"] * 5
    assert set(table.filter(pl.col("class_id") == "B")["concept"].to_list()[:2]) == {"carried by B", "principal"}
    model = model_concepts(table, top=2)
    assert tuple(model.columns) == MODEL_CONCEPT_COLUMNS and model.height == 5
    # against plain numpy over the class table
    for row in model.iter_rows(named=True):
        per = table.filter(pl.col("concept") == row["concept"]).sort("class_id")
        assert row["abs_as_mean"] == pytest.approx(per["abs_as_mean"].mean())
        assert row["abs_as_max"] == pytest.approx(per["abs_as_mean"].max())
        assert row["class_of_max"] == per["class_id"][int(np.argmax(per["abs_as_mean"].to_numpy()))]
        assert row["as_mean"] == pytest.approx(per["as_mean"].mean())
        assert row["n_top"] == int((per["rank"] <= 2).sum()) and row["n_classes"] == 2
    assert model["concept"][0] == "principal" and model["n_top"][0] == 2  # the concept every class's removal moves
    assert model["abs_as_mean"].to_list() == sorted(model["abs_as_mean"].to_list(), reverse=True)
    assert set(model["concept"].to_list()[1:3]) == {"carried by A", "carried by B"}
    with pytest.raises(ValueError, match="every class must hold every concept"):
        model_concepts(class_concepts_table([tmp_path], ["A", "B"], g, T, d, model="toy", space="sp", top=2))
    with pytest.raises(FileNotFoundError, match="'C'"):
        class_concepts_table([tmp_path], ["C"], g, T, d, model="toy", space="sp")
    small = ConceptDictionary("small", ("x",), np.ones((1, 3)))
    with pytest.raises(ValueError, match="dimension 3 but the translator .* dimension 5"):
        class_concepts_table([tmp_path], ["A"], g, T, small, model="toy", space="sp")
