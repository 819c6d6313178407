"""Datasets as they exist on disk (issue 9 items 4-6): junk files in class folders, a flat val whose files do not
match LOC_val_solution.csv, classes with no usable image. Every dataset is built here, a few tiny images each."""

import logging

import numpy as np
import polars as pl
import pytest

from sing.data import extraction
from sing.data.datasets import open_dataset
from sing.data.extraction import run_extraction
from sing.data.imagenet import MissingImagesError, class_files, list_class, list_classes
from sing.data.images import image_extensions, is_image_file, list_image_folder, sample_order
from sing.data.synthetic import _encode, _render
from sing.io.storage import read_embeddings, write_embeddings

A, B = "n01440764", "n02123045"
SMALL = {"source": "timm", "name": "resnet18", "pretrained": False, "seed": 0}  # 512-d
JUNK = {"Thumbs.db": b"\xd0\xcf\x11\xe0junk", "desktop.ini": b"[.ShellClassInfo]\n", "notes.txt": b"hello\n",
        ".DS_Store": b"\x00\x00\x00\x01Bud1"}


def _jpeg(wnid, i, size=32):
    return _encode(_render(wnid, i, 0, size, size), "jpeg", 0)


def _folder(root, split, wnid, n, junk=JUNK, ext=".JPEG"):
    d = root / split / wnid
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (d / f"{wnid}_{i}{ext}").write_bytes(_jpeg(wnid, i))
    for name, data in junk.items():
        (d / name).write_bytes(data)
    return d


def _extract(root, out, wnids, per_class="all", split="train", take_all=False, **kw):
    return run_extraction("classifier", "r18", SMALL, dataset=open_dataset({"kind": "imagenet", "root": str(root)}),
                          classes=wnids, out=out,
                          sample={"split": split, "per_class": per_class, "seed": 0, "take_all_if_fewer": take_all},
                          batch_size=4, device="cpu", progress=False, **kw)


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if a model is loaded: the error must come at listing time, before any expensive work."""
    def refuse(*a, **k):
        raise AssertionError("model loaded before the listing error")

    monkeypatch.setattr(extraction, "load_classifier", refuse)
    monkeypatch.setattr(extraction, "load_space", refuse)


# ---------------------------------------------------------------- item 4: junk files in class folders
def test_image_extensions_come_from_pillow():
    from PIL import Image
    from torchvision.datasets.folder import IMG_EXTENSIONS

    exts = image_extensions()
    assert set(IMG_EXTENSIONS) <= exts  # everything torchvision's ImageFolder accepts
    assert exts <= {e.lower() for e in Image.registered_extensions()}  # nothing Pillow does not know
    assert ".pdf" not in exts and ".h5" not in exts  # save-only and stub plugins cannot be decoded
    for name in ("a.JPEG", "a.jpeg", "a.JpG", "b.PNG", "c.webp", "d.tif"):
        assert is_image_file(name), name
    for name in ("Thumbs.db", "desktop.ini", "notes.txt", ".DS_Store", "._a.JPEG", "LOC_val_solution.csv", "JPEG"):
        assert not is_image_file(name), name


def test_junk_is_listed_as_ignored_and_never_sampled(tmp_path):
    d = _folder(tmp_path, "train", A, 4)
    listing = list_image_folder(d)
    assert len(listing.images) == 4 and listing.ignored == ("Thumbs.db", "desktop.ini", "notes.txt")
    cl = list_class(tmp_path, "train", A)
    assert len(cl.files) == 4 and all(f.endswith(".JPEG") for f in cl.files)
    assert class_files(tmp_path, "train", A) == list(cl.files)


@pytest.mark.parametrize("on_bad_image", ["fail", "skip"])
def test_junk_does_not_abort_nor_take_sample_slots(tmp_path, caplog, on_bad_image):
    _folder(tmp_path, "train", A, 4)
    _folder(tmp_path, "train", B, 5)
    with caplog.at_level(logging.WARNING, logger="sing.data.imagenet"):
        s = _extract(tmp_path, tmp_path / "out", [A, B], per_class=4, on_bad_image=on_bad_image)
    assert s == {"images": 8, "written": 8, "skipped": 0}  # main: fail aborted; skip extracted 2 of 4
    df, F, _ = read_embeddings(tmp_path / "out" / f"{A}.parquet")
    assert F.shape == (4, 512) and all(i.endswith(".JPEG") for i in df["image_id"])
    assert not (tmp_path / "out" / "skipped.parquet").exists()
    ignored = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(ignored) == 2  # one line per class, naming its folder and files
    assert str(tmp_path / "train" / A) in ignored[0] and "Thumbs.db" in ignored[0] and "desktop.ini" in ignored[0]


def test_junk_is_listed_in_the_job_log(tmp_path):
    from test_extract import _NL, _run_script

    _folder(tmp_path / "ds", "val", A, 2)
    ext = {"device": "cpu", "precision": "fp32", "batch_size": 4, "on_bad_image": "fail",
           "on_missing_image": "fail", "channels_last": False}
    settings = {"dataset": {"kind": "imagenet", "root": str(tmp_path / "ds"),
                            "class_index": list(open_dataset({"kind": "imagenet", "root": "x"}).catalog.ids)},
                "extraction": ext, "models": {"r18": SMALL},
                "weights": {"models": {"r18": {"files": []}}}, "classes": [A],
                "samples": {"analysis": {"split": "val", "per_class": 2, "seed": 0, "take_all_if_fewer": False}}}
    _run_script("extract_features.py", output=_NL(features=str(tmp_path / "o")), settings=settings,
                wildcards={"model": "r18", "sample": "analysis", "chunk": "000"}, log=tmp_path / "job.log")
    log = (tmp_path / "job.log").read_text()
    assert "ignored 3 non-image file(s)" in log and "Thumbs.db" in log and "desktop.ini" in log


# ---------------------------------------------------------------- item 5: flat val vs LOC_val_solution.csv
def _flat_val(root, rows, files):
    """rows: (ImageId, wnid) of the CSV; files: file names written to val/."""
    (root / "val").mkdir(parents=True, exist_ok=True)
    (root / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n" + "".join(f"{i},{w} 1 1 20 20\n" for i, w in rows))
    for k, name in enumerate(files):
        (root / "val" / name).write_bytes(_jpeg(A, k))


def test_flat_val_resolves_any_extension_case(tmp_path):
    ids = [f"ILSVRC2012_val_{k:08d}" for k in range(1, 5)]
    _flat_val(tmp_path, [(i, A) for i in ids], [f"{ids[0]}.jpeg", f"{ids[1]}.JPEG", f"{ids[2]}.png",
                                                f"{ids[3]}.JpG", "Thumbs.db"])
    assert class_files(tmp_path, "val", A) == sorted(
        ["val/" + n for n in (f"{ids[0]}.jpeg", f"{ids[1]}.JPEG", f"{ids[2]}.png", f"{ids[3]}.JpG")])
    s = _extract(tmp_path, tmp_path / "out", [A], split="val", on_bad_image="fail")
    assert s["written"] == 4  # main: 4 "bad images" (looked for .JPEG only)


def test_flat_val_missing_files_fail_at_listing_time(tmp_path, no_model):
    ids = [f"ILSVRC2012_val_{k:08d}" for k in range(1, 8)]
    _flat_val(tmp_path, [(i, A) for i in ids[:4]] + [(i, B) for i in ids[4:]], [f"{ids[0]}.JPEG", f"{ids[4]}.JPEG"])
    with pytest.raises(MissingImagesError) as ei:
        _extract(tmp_path, tmp_path / "out", [A, B], split="val", on_bad_image="skip")
    msg = str(ei.value)
    csv, val = str(tmp_path / "LOC_val_solution.csv"), str(tmp_path / "val")
    assert csv in msg and val in msg and "5 of them" in msg and f"val/{ids[1]}" in msg
    assert "on_missing_image: skip" in msg
    assert not (tmp_path / "out").exists()


def test_flat_val_missing_files_skipped_on_request(tmp_path):
    ids = [f"ILSVRC2012_val_{k:08d}" for k in range(1, 5)]
    _flat_val(tmp_path, [(i, A) for i in ids], [f"{ids[0]}.JPEG", f"{ids[2]}.jpeg"])
    s = _extract(tmp_path, tmp_path / "out", [A], split="val", on_missing_image="skip")
    assert s == {"images": 2, "written": 2, "skipped": 2}
    sk = pl.read_parquet(tmp_path / "out" / "skipped.parquet")
    assert sorted(sk["image_id"]) == [f"val/{ids[1]}", f"val/{ids[3]}"] and set(sk["class_id"]) == {A}
    assert all("LOC_val_solution.csv" in e for e in sk["error"])


def test_flat_val_never_succeeds_with_zero_images(tmp_path, no_model):
    ids = [f"ILSVRC2012_val_{k:08d}" for k in range(1, 4)]
    _flat_val(tmp_path, [(i, A) for i in ids], [])
    with pytest.raises(ValueError, match=f"class {A}: no image file in {tmp_path / 'val'}"):
        _extract(tmp_path, tmp_path / "out", [A], split="val", on_missing_image="skip", on_bad_image="skip")
    with pytest.raises(MissingImagesError, match="3 of them"):
        list_classes(tmp_path, "val", [A])


# ---------------------------------------------------------------- item 6: a class with no usable image
def test_empty_class_folder_fails_naming_class_and_folder(tmp_path, no_model):
    _folder(tmp_path, "train", A, 3)
    empty = _folder(tmp_path, "train", B, 0)  # only junk
    with pytest.raises(ValueError, match=f"class {B}: no image file in {empty}"):
        _extract(tmp_path, tmp_path / "out", [A, B], per_class=5, take_all=True, on_bad_image="skip")
    assert not (tmp_path / "out").exists()


def test_class_with_only_corrupt_files_fails_naming_it(tmp_path):
    _folder(tmp_path, "train", A, 3)
    d = _folder(tmp_path, "train", B, 0, junk={})
    (d / "broken.JPEG").write_bytes(_jpeg(B, 0)[:60])
    with pytest.raises(ValueError, match=f"class {B}: no readable image in {d}"):
        _extract(tmp_path, tmp_path / "out", [A, B], on_bad_image="skip")
    assert not (tmp_path / "out").exists()  # nothing half-written; main wrote a (0, 1) features file


def test_unreadable_images_are_replaced_by_the_next_in_sample_order(tmp_path):
    d = _folder(tmp_path, "train", A, 6, junk={})
    order = sample_order(class_files(tmp_path, "train", A), 0, A)
    (tmp_path / order[1]).write_bytes(b"")  # two of the first four in sample order are unreadable
    (tmp_path / order[3]).write_bytes(_jpeg(A, 0)[:50])
    s = _extract(tmp_path, tmp_path / "out", [A], per_class=4, on_bad_image="skip")
    df, F, _ = read_embeddings(tmp_path / "out" / f"{A}.parquet")
    assert df["image_id"].to_list() == [order[0], order[2], order[4], order[5]] and F.shape == (4, 512)
    assert s == {"images": 6, "written": 4, "skipped": 2}
    # too few readable images left: an error naming the class and folder, unless take_all_if_fewer
    with pytest.raises(ValueError, match=f"class {A}: asked for 5 images but only 4 of the 6 image files in {d}"):
        _extract(tmp_path, tmp_path / "o2", [A], per_class=5, on_bad_image="skip")
    assert _extract(tmp_path, tmp_path / "o3", [A], per_class=5, take_all=True, on_bad_image="skip")["written"] == 4


def test_empty_feature_table_keeps_its_width(tmp_path):
    meta = {"kind": "classifier", "model": "m", "weights_id": "x", "preprocess": {}, "precision": "fp32"}
    write_embeddings(tmp_path / "e.parquet", image_ids=[], split="val", class_index=np.zeros(0, np.int64), class_id=[],
                     features=np.zeros((0, 512), np.float32), metadata=meta)
    df, F, _ = read_embeddings(tmp_path / "e.parquet")
    assert F.shape == (0, 512) and df.height == 0
