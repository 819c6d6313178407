"""Data layer: class metadata, layouts, class-local sampling, every bad-image kind, synthetic determinism."""

import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from sing.data import imagenet as data
from sing.data.classes import class_index
from sing.data.imagenet import class_files
from sing.data.images import BadImageError, load_rgb, sample_class
from sing.data.synthetic import BAD_KINDS, DEFAULT_WNIDS, SPECIAL_KINDS, _encode, _render, make_synthetic_imagenet

A, B, C = "n01440764", "n02123045", "n03888257"


def test_imagenet_classes():
    df = data.imagenet_classes()
    assert df.height == 1000 and df["wnid"].n_unique() == 1000
    assert df.row(0)[:3] == (0, "n01440764", "tench")
    assert class_index("n15075141") == 999 and data.index_to_wnid(999) == "n15075141"
    assert data.class_name("n02123045") == "tabby cat"
    for w in DEFAULT_WNIDS:
        class_index(w)
    with pytest.raises(ValueError, match="n00000000"):
        class_index("n00000000")


def _digest(root):
    h = hashlib.sha256()
    for dp, _, fs in sorted(os.walk(root)):
        for f in sorted(fs):
            p = os.path.join(dp, f)
            h.update(os.path.relpath(p, root).encode())
            h.update(open(p, "rb").read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    make_synthetic_imagenet(root, {"classes": [A, B], "train_per_class": 8, "val_per_class": 4, "image_size": 24,
                                   "special_every": 1, "seed": 0})
    return root


def test_synthetic_deterministic_and_kinds(ds, tmp_path):
    make_synthetic_imagenet(tmp_path, {"classes": [A, B], "train_per_class": 8, "val_per_class": 4,
                                       "image_size": 24, "special_every": 1, "seed": 0})
    assert _digest(ds) == _digest(tmp_path)  # byte-identical reruns
    import json

    kinds = {f["kind"] for f in json.loads((ds / "synthetic.json").read_text())["files"]["train"]}
    assert kinds == set(SPECIAL_KINDS)
    with pytest.raises(ValueError, match="unknown synthetic dataset settings"):
        make_synthetic_imagenet(tmp_path / "x", {"bogus": 1})


def test_synthetic_content_depends_on_class():
    a, b = _render(A, 0, 0, 32, 32).astype(float), _render(B, 0, 0, 32, 32).astype(float)
    assert np.abs(a.mean((0, 1)) - b.mean((0, 1))).max() > 10


def test_class_files_folder_layout(ds):
    files = class_files(ds, "train", A)
    assert files == sorted(files) and len(files) == 8 and all(f.startswith(f"train/{A}/") for f in files)
    with pytest.raises(FileNotFoundError, match=f"class {C}.*{C}"):
        class_files(ds, "train", C)


def test_flat_val_layout_gives_same_sample(ds, tmp_path):
    make_synthetic_imagenet(tmp_path, {"classes": [A, B], "train_per_class": 8, "val_per_class": 4,
                                       "image_size": 24, "special_every": 1, "seed": 0, "flat_val": True})
    assert (tmp_path / "LOC_val_solution.csv").is_file() and not (tmp_path / "val" / A).exists()
    flat, folders = class_files(tmp_path, "val", A), class_files(ds, "val", A)
    assert [f.split("/")[-1] for f in flat] == [f.split("/")[-1] for f in folders]
    assert all(f.startswith("val/ILSVRC2012_val_") for f in flat)
    assert [f.split("/")[-1] for f in sample_class(flat, 3, 0, A)] == \
        [f.split("/")[-1] for f in sample_class(folders, 3, 0, A)]
    for f in flat:
        assert load_rgb(tmp_path / f).mode == "RGB"
    with pytest.raises(FileNotFoundError, match=f"class {C}.*LOC_val_solution"):
        class_files(tmp_path, "val", C)


def test_sampling_is_class_local(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    s = {"train_per_class": 10, "val_per_class": 2, "image_size": 16, "special_every": 0}
    make_synthetic_imagenet(one, {**s, "classes": [A]})
    make_synthetic_imagenet(two, {**s, "classes": [A, B]})  # a class added
    pick = lambda root: sample_class(class_files(root, "train", A), 4, 7, A)
    assert pick(one) == pick(two)
    assert class_files(one, "val", A) == class_files(two, "val", A)  # val ids do not depend on other classes
    # other classes' files change: A unaffected
    for f in class_files(two, "train", B)[:5]:
        os.remove(two / f)
    (two / "train" / B / "extra.JPEG").write_bytes(b"x")
    assert pick(one) == pick(two)
    # depends on the seed; prefix property; listing order irrelevant
    files = class_files(one, "train", A)
    assert sample_class(files, 4, 8, A) != pick(one)
    assert sample_class(files, 5, 7, A)[:4] == pick(one)
    assert sample_class(list(reversed(files)), 4, 7, A) == pick(one)
    assert sorted(sample_class(files, "all", 7, A)) == files


def test_too_few_images():
    files = [f"val/{A}/{i}.JPEG" for i in range(3)]
    with pytest.raises(ValueError, match=f"class {A}: asked for 5 images but only 3 exist in /data/val/{A}"):
        sample_class(files, 5, 0, A, folder=f"/data/val/{A}")
    assert sorted(sample_class(files, 5, 0, A, take_all_if_fewer=True)) == files


# ---------------------------------------------------------------- decoding
@pytest.fixture(scope="module")
def kinds_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("kinds")
    arr = _render(A, 0, 0, 40, 30)
    for k in ("jpeg",) + SPECIAL_KINDS + BAD_KINDS:
        (d / f"{k}.JPEG").write_bytes(_encode(arr if k not in ("tiny", "large") else _render(A, 1, 0, *(
            (5, 3) if k == "tiny" else (1100, 800))), k, 0))
    return d, arr


@pytest.mark.parametrize("kind", ("jpeg",) + SPECIAL_KINDS)
def test_convertible_kinds_become_rgb(kinds_dir, kind):
    d, arr = kinds_dir
    raw = Image.open(d / f"{kind}.JPEG")
    expected_mode = {"png": "RGB", "gray_jpeg": "L", "cmyk_jpeg": "CMYK", "palette_png": "P", "rgba_png": "RGBA"}
    if kind in expected_mode:
        assert raw.mode == expected_mode[kind]
    if kind == "png16":
        assert raw.mode.startswith("I")
    im = load_rgb(d / f"{kind}.JPEG")
    assert im.mode == "RGB"
    if kind in ("tiny", "large"):
        assert im.size == ((5, 3) if kind == "tiny" else (1100, 800))
        return
    assert im.size == (40, 30)
    got = np.asarray(im).astype(float)
    if kind in ("png", "rgba_png"):
        np.testing.assert_array_equal(got, arr)
    elif kind == "png16":  # 16-bit scaled to 8-bit: equals the 8-bit grayscale it was made from
        gray = np.asarray(Image.fromarray(arr).convert("L")).astype(float)
        assert np.abs(got[..., 0] - gray).max() <= 1 and (got[..., 0] == got[..., 1]).all()
    else:
        assert np.abs(got.mean() - arr.mean()) < 25


@pytest.mark.parametrize("kind", BAD_KINDS + ("missing", "directory"))
def test_unreadable_raise_bad_image_error_with_path(kinds_dir, kind, tmp_path):
    d, _ = kinds_dir
    path = {"missing": tmp_path / "nope.JPEG", "directory": tmp_path}.get(kind, d / f"{kind}.JPEG")
    with pytest.raises(BadImageError) as ei:
        load_rgb(path)
    assert str(path) in str(ei.value) and ei.value.path == str(path)


def test_too_many_pixels(kinds_dir):
    d, _ = kinds_dir
    with pytest.raises(BadImageError, match="outside"):
        load_rgb(d / "large.JPEG", max_pixels=1000)
    assert Image.MAX_IMAGE_PIXELS is not None  # global limit restored


def test_bad_image_error_pickles():
    import pickle

    e = pickle.loads(pickle.dumps(BadImageError("/x/y.JPEG", "truncated")))
    assert e.path == "/x/y.JPEG" and "truncated" in str(e)
