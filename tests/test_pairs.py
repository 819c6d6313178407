"""sing.pairs (feature/CLIP alignment, translator fit from pairs), sing.classes and sing.provenance."""

import numpy as np
import pytest

from sing.analysis.translation import fit_translator_from_pairs, translation_errors
from sing.core.translator import fit_ridge
from sing.data.classes import ClassCatalog, class_index, imagenet_wnids
from sing.io.pairs import align_pairs
from sing.io.provenance import provenance, settings_hash


def _pairs(n=60, m=12, d=5, seed=0):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, m))
    A = rng.normal(size=(d, m))
    Z = F @ A.T + 0.5 + 0.01 * rng.normal(size=(n, d))
    ids = [f"val/n0/img_{i:03d}.JPEG" for i in range(n)]
    return ids, F, Z, A


def test_align_pairs_joins_by_id_whatever_the_row_order():
    ids, F, Z, _ = _pairs()
    perm = np.random.default_rng(1).permutation(len(ids))
    out_ids, F2, Z2 = align_pairs([ids[i] for i in perm], F[perm], ids[5:], Z[5:])  # 5 images lack a CLIP row
    assert out_ids == sorted(ids[5:])
    np.testing.assert_array_equal(F2, F[5:])
    np.testing.assert_array_equal(Z2, Z[5:])


@pytest.mark.parametrize(
    ("feature_ids", "target_ids", "message"),
    [(["a", "a"], ["a", "b"], "feature_ids: duplicated"), (["a", "b"], ["c", "d"], "share no image id"),
     (["a"], ["a", "b"], "feature_ids: 1 ids for 2 rows")],
)
def test_align_pairs_rejects_bad_keys(feature_ids, target_ids, message):
    with pytest.raises(ValueError, match=message):
        align_pairs(feature_ids, np.zeros((2, 3)), target_ids, np.zeros((2, 3)))


def test_fit_from_pairs_equals_fit_ridge_keyed_by_image_id_and_recovers_the_map():
    ids, F, Z, A = _pairs()
    perm = np.random.default_rng(2).permutation(len(ids))
    alphas = [1e-3, 1e-1, 10.0]
    translator = fit_translator_from_pairs(feature_ids=[ids[i] for i in perm], features=F[perm],
                                           target_ids=ids, targets=Z, alphas=alphas, folds=4, seed=3)
    reference = fit_ridge(F, Z, alphas, folds=4, seed=3, keys=ids)
    np.testing.assert_allclose(translator.weight, reference.weight, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(translator.weight, A, atol=0.02)  # planted map
    assert translator.metrics["n_train"] == len(ids) and translator.metrics["heldout_r2"] > 0.99


def test_translation_errors_match_numpy():
    ids, F, Z, _ = _pairs()
    translator = fit_ridge(F, Z, [1.0], folds=1)
    errors = translation_errors(translator, F, Z)
    P = F @ translator.weight.T + translator.bias
    cos = np.sum(P * Z, 1) / np.linalg.norm(P, axis=1) / np.linalg.norm(Z, axis=1)
    np.testing.assert_allclose(errors["cosine"], cos, rtol=1e-12)
    np.testing.assert_allclose(errors["squared_error"], np.sum((P - Z) ** 2, 1), rtol=1e-12)
    with pytest.raises(ValueError, match="zero-norm"):
        translation_errors(translator, F, np.zeros_like(Z))


def test_imagenet_classes_and_chunks():
    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and wnids[0] == "n01440764" and wnids[999] == "n15075141"
    assert class_index("n04285008") == 817
    catalog = ClassCatalog("imagenet", wnids, "/data", chunk_size=100)
    assert catalog.chunk_of("n04285008") == 8
    assert ClassCatalog("imagenet", wnids, "/data", chunk_size=1000).chunk_of("n04285008") == 0
    assert catalog.group_by_chunk(["n04285008", "n01440764", "n01910747"]) == {0: ["n01440764"], 1: ["n01910747"],
                                                                               8: ["n04285008"]}
    assert catalog.select(["n04285008", "n01440764"]) == ["n01440764", "n04285008"]
    assert len(catalog.select("all")) == 1000
    assert all(catalog.file_key(w) == w for w in wnids)  # existing ImageNet result paths are unchanged
    with pytest.raises(ValueError, match="config classes: 'n0000' is not an ImageNet-1k"):
        catalog.select(["n0000"], what="config classes")
    with pytest.raises(ValueError, match="duplicate"):
        catalog.select(["n01440764", "n01440764"])


def test_provenance_is_deterministic_and_keyed_by_settings():
    a = provenance({"alpha": 1, "b": [1, 2]})
    assert a == provenance({"b": [1, 2], "alpha": 1})  # key order does not matter
    assert settings_hash({"alpha": 1}) != settings_hash({"alpha": 2})
    assert set(a) >= {"settings_sha256", "git_commit", "versions"} and "numpy" in a["versions"]
