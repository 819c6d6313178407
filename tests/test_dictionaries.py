"""Concept dictionaries (sing.data.dictionaries) and the built-in vocabulary (sing.data.vocabulary): the authors' real
npz, parquet round trips, the dimension and fingerprint checks against a (tiny, random-weight) CLIP space."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from artifacts import ARTIFACTS, need_artifacts

from sing.data import dictionaries as dic
from sing.data.vocabulary import CATEGORIES, CONCEPT_TEMPLATES, builtin_vocabulary, vocabulary_prompts

NPZ = Path(ARTIFACTS or ".") / "embeddings" / "attribute_embeddings_broden_style_fp16.npz"
#: a random-weight open_clip space with a 768-d joint embedding (Karlo's dimension) and a one-layer text tower: the
#: real CLIP BPE tokenizer, built in about a second
TINY_768 = {"model": "ViT-S-32", "pretrained": None, "seed": 0, "model_kwargs": {
    "embed_dim": 768, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32}}}


@pytest.fixture(scope="module")
def space():
    import torch

    from sing.models.clip_spaces import load_space

    torch.set_num_threads(2)
    return load_space("tiny768", TINY_768)


@need_artifacts()
def test_authors_npz_reads_with_the_mean_row():
    d = dic.read_npz_dictionary(NPZ)
    assert len(d) == 173 and d.dim == 768 and d.row == "mean" and d.name == NPZ.stem
    assert d.labels[:3] == ("black", "blue", "brown") and "polka-dotted" in d.labels
    assert d.templates is None  # prompt1..prompt5: the file does not say which prompts
    with zipfile.ZipFile(NPZ) as zf, zf.open("embeddings.npy") as fh:
        raw = np.lib.format.read_array(fh)
    assert raw.dtype == np.float16 and raw.shape == (173, 6, 768)
    assert np.array_equal(d.embeddings, raw[:, 5].astype(np.float64))  # exact widening of the stored values
    avg = dic.read_npz_dictionary(NPZ, row="average")
    assert avg.row == "average"
    cos = np.einsum("ij,ij->i", avg.embeddings, d.embeddings) / np.linalg.norm(avg.embeddings, axis=1) / \
        np.linalg.norm(d.embeddings, axis=1)
    assert cos.min() > 0.99999  # their mean row is the average of the unit-norm prompt rows
    one = dic.read_npz_dictionary(NPZ, row="prompt3", templates=[f"t{i} {{}}" for i in range(1, 6)])
    assert np.array_equal(one.embeddings, raw[:, 2].astype(np.float64)) and one.templates == ("t3 {}",)
    with pytest.raises(dic.DictionaryError, match="row 'prompt9' is not"):
        dic.read_npz_dictionary(NPZ, row="prompt9")
    assert d.select(["red", "wood"]).labels == ("red", "wood")
    with pytest.raises(dic.DictionaryError, match="no label"):
        d.select(["unicorn"])


def test_npz_pickles_other_than_string_arrays_are_refused(tmp_path):
    E = np.ones((2, 1, 4), np.float16)
    good = tmp_path / "good.npz"
    np.savez(good, classes=np.array(["a", "b"], dtype=object), prompts=np.array(["a photo of {}."], dtype=object),
             embeddings=E)
    d = dic.read_npz_dictionary(good)
    assert d.labels == ("a", "b") and d.templates == ("a photo of {}.",) and d.row == "a photo of {}."
    evil = tmp_path / "evil.npz"  # an object array whose pickle names another global (pathlib): never resolved
    np.savez(evil, classes=np.array([Path("x"), Path("y")], dtype=object), embeddings=E[:, 0])
    with pytest.raises(dic.DictionaryError, match="classes.*not a plain array of strings"):
        dic.read_npz_dictionary(evil)
    with pytest.raises(dic.DictionaryError, match="no array 'embeddings'"):
        np.savez(tmp_path / "partial.npz", classes=np.array(["a"]))
        dic.read_npz_dictionary(tmp_path / "partial.npz")
    with pytest.raises(dic.DictionaryError, match="unknown format"):
        dic.read_dictionary(tmp_path / "x.csv")


def test_parquet_round_trip_and_checks(tmp_path):
    rng = np.random.default_rng(0)
    d = dic.ConceptDictionary("mine", ("desert", "snow", "a hump"), rng.standard_normal((3, 8)),
                              templates=("a photo of {}.",), space="sp")
    dic.write_dictionary(tmp_path / "d.parquet", d, provenance={"by": "test"})
    back = dic.read_dictionary(tmp_path / "d.parquet")
    assert back.labels == d.labels and back.templates == d.templates and back.space == "sp"
    assert np.array_equal(back.embeddings, d.embeddings.astype(np.float32).astype(np.float64))
    assert dic.check_dimension(back, "sp", 8).checks["dimension"] == {"space": "sp", "dim": 8}
    with pytest.raises(dic.DictionaryError, match=r"'d' .*d.parquet.*dimension 8 but space 'big' .* 768"):
        dic.check_dimension(back, "big", 768)
    with pytest.raises(dic.DictionaryError, match="duplicate labels"):
        dic.ConceptDictionary("x", ("a", "a"), np.ones((2, 2)))
    with pytest.raises(dic.DictionaryError, match="zero embedding"):
        dic.ConceptDictionary("x", ("a", "b"), np.array([[1.0, 0], [0, 0]]))


def test_fingerprint_passes_for_a_dictionary_the_space_embedded_itself(space, tmp_path):
    labels = ["the color red", "a striped pattern", "wood", "a forest", "a wheel"]
    made = dic.embed_dictionary(space, labels, CONCEPT_TEMPLATES[:2], name="own")
    dic.write_dictionary(tmp_path / "own.parquet", made)
    read = dic.read_dictionary(tmp_path / "own.parquet")  # float32 on disk
    checked = dic.check_fingerprint(read, space)
    fp = checked.checks["fingerprint"]
    assert fp["labels"] == ["the color red", "wood", "a wheel"] and min(fp["cosines"]) > 0.9999
    # the same labels with other prompts, or no prompts known: refused
    with pytest.raises(dic.DictionaryError, match="labels 'the color red' \\(cosine"):
        dic.check_fingerprint(read, space, templates=["a drawing of {}."])
    with pytest.raises(dic.DictionaryError, match="does not record the prompt templates"):
        dic.check_fingerprint(dic.ConceptDictionary("bare", read.labels, read.embeddings), space)


@need_artifacts()
def test_fingerprint_refuses_the_authors_dictionary_in_a_random_space(space):
    d = dic.check_dimension(dic.read_npz_dictionary(NPZ), "tiny768", space.dim)  # dimensions agree: 768
    with pytest.raises(dic.DictionaryError) as e:
        dic.check_fingerprint(d, space, templates=["a photo of {}.", "an image of {}.", "a picture of {}.",
                                                   "a photo of something {}.", "a close-up of {}."])
    msg = str(e.value)
    assert all(f"'{lab}' (cosine" in msg for lab in ("black", "alley", "monochrome"))  # first, middle, last
    assert "tiny768" in msg and str(NPZ) in msg


def test_builtin_vocabulary_is_curated_and_fits_the_text_tower(space):
    rows = builtin_vocabulary()
    assert 500 <= len(rows) <= 700
    phrases = [p for _, p in rows]
    assert len({p.lower() for p in phrases}) == len(phrases)
    assert [c for c in CATEGORIES if c not in {c for c, _ in rows}] == []
    counts = {c: sum(1 for r in rows if r[0] == c) for c in CATEGORIES}
    assert all(counts[c] >= 30 for c in ("colour", "texture", "material", "scene", "part", "object")), counts
    assert builtin_vocabulary(["colour"])[0] == ("colour", "the color red")
    with pytest.raises(ValueError, match="unknown"):
        builtin_vocabulary(["smells"])
    from sing.models.prompts import check_prompts

    check_prompts(space.tokenizer, {"text.vocabulary": vocabulary_prompts(phrases)})  # none over 77 tokens
    # the authors' labels are not copied: most of theirs are bare adjectives, ours are phrases
    if ARTIFACTS is not None:
        theirs = set(dic.read_npz_dictionary(NPZ).labels)
        assert len(theirs & set(phrases)) < 40


def test_vocabulary_embeds_with_any_space(space):
    from sing.data.vocabulary import embed_vocabulary

    d = embed_vocabulary(space, ["colour", "shape"])
    assert len(d) == len(builtin_vocabulary(["colour", "shape"])) and d.dim == 768
    assert d.templates == CONCEPT_TEMPLATES and d.row == "average" and d.space == "tiny768"
    assert dic.check_fingerprint(d, space).checks["fingerprint"]["min_cosine"] == 0.99
