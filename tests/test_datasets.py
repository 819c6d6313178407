"""Datasets: image folders with awkward class names (catalog, order, stable chunks, file keys, names, listing,
sampling, junk and bad images) and ImageNet through the same abstraction."""

import hashlib
import os
import unicodedata

import polars as pl
import pytest

from sing.data.classes import (
    ClassCatalog,
    catalog_from_manifest,
    catalog_from_settings,
    default_name,
    file_key,
    hash_chunk,
    read_class_names,
)
from sing.data.datasets import FolderDataset, open_dataset
from sing.data.images import sample_class
from sing.data.synthetic import make_synthetic_dataset

AWKWARD = ["British Shorthair", "Maine_Coon", "狸花猫", "Ægean", "09", "Ragdoll (blue)", "sphynx", "Sphynx"]


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    root = tmp_path_factory.mktemp("pets")
    make_synthetic_dataset(root, {"classes": AWKWARD, "train_per_class": 4, "val_per_class": 3, "image_size": 16,
                                  "bad_per_split": 1, "junk_per_class": 3, "special_every": 2}, "folder")
    return root


def folder(root, **kw):
    return open_dataset({"kind": "folder", "root": str(root), **kw})


# ---------------------------------------------------------------- file keys and chunks
def test_file_keys_are_valid_unique_and_stable():
    keys = [file_key(c) for c in AWKWARD]
    assert len({k.casefold() for k in keys}) == len(keys)  # unique on a case-insensitive file system too
    for k in keys:
        assert k and len(k.encode()) <= 60 and all(ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in k)
    assert file_key("09") == "09" and file_key("n01440764") == "n01440764"  # safe ids stay themselves
    assert file_key("sphynx") == "sphynx" and file_key("Sphynx") != "sphynx"
    digest = hashlib.sha256("British Shorthair".encode()).hexdigest()[:10]
    assert file_key("British Shorthair") == f"british-shorthair-{digest}"  # documented in results/README.md
    assert file_key("skipped") != "skipped"  # never the name of the skipped-images table
    nfd = unicodedata.normalize("NFD", "Ça")  # another string (macOS writes folder names in NFD): another key
    assert nfd != "Ça" and file_key(nfd) != file_key("Ça")


def test_hash_chunk_depends_only_on_the_id():
    ids = [f"class {i}" for i in range(200)]
    chunks = {c: hash_chunk(c, 7) for c in ids}
    assert set(chunks.values()) == set(range(7))
    small = ClassCatalog("folder", tuple(sorted(ids[:20])), "/d", chunks=7)
    big = ClassCatalog("folder", tuple(sorted(ids + ["A new class", "zzz"])), "/d", chunks=7)
    assert all(small.chunk_of(c) == big.chunk_of(c) == chunks[c] for c in ids[:20])  # adding classes moves none
    grouped = big.group_by_chunk(ids[:20])
    assert sorted(c for cs in grouped.values() for c in cs) == sorted(ids[:20])
    assert all(cs == sorted(cs, key=big.index) for cs in grouped.values())


def test_catalog_rejects_ids_that_are_not_folder_names():
    for bad in ("a/b", "..", " padded", ""):
        with pytest.raises(ValueError, match="folder names"):
            ClassCatalog("folder", ("ok", bad), "/d")


# ---------------------------------------------------------------- catalog from settings
def test_folder_catalog_orders_by_folder_names_or_class_index_file(pets, tmp_path):
    cat = catalog_from_settings({"kind": "folder", "root": str(pets)})
    assert cat.ids == tuple(sorted(AWKWARD))  # torchvision ImageFolder's class_to_idx order
    order = ["狸花猫", "09", "British Shorthair", "Maine_Coon", "Ægean", "Ragdoll (blue)", "Sphynx", "sphynx"]
    index_file = tmp_path / "class_index.txt"
    index_file.write_text("\n".join(order) + "\n\n", encoding="utf-8")
    cat = catalog_from_settings({"kind": "folder", "root": str(pets), "class_index": str(index_file), "chunks": 4})
    assert cat.ids == tuple(order) and cat.index("09") == 1 and cat.chunk_of("09") == hash_chunk("09", 4)
    with pytest.raises(ValueError, match=r"'Persian' is not a class of the folder dataset .*'狸花猫'"):
        cat.select(["Persian"], what="config classes")


def test_class_index_file_must_list_exactly_the_folders(pets, tmp_path):
    index_file = tmp_path / "class_index.txt"
    index_file.write_text("\n".join(AWKWARD[:-1] + ["Persian"]), encoding="utf-8")
    with pytest.raises(ValueError) as ei:
        catalog_from_settings({"kind": "folder", "root": str(pets), "class_index": str(index_file)})
    msg = str(ei.value)
    assert "dataset.class_index" in msg and str(index_file) in msg and "['Sphynx']" in msg and "['Persian']" in msg
    index_file.write_text("a\nb\na\n")
    with pytest.raises(ValueError, match="duplicate class ids"):
        catalog_from_settings({"kind": "folder", "root": str(pets), "class_index": str(index_file)})


def test_imagenet_refuses_folder_only_keys_and_missing_root(tmp_path):
    with pytest.raises(ValueError, match="dataset.class_names: only folder datasets"):
        catalog_from_settings({"kind": "imagenet", "root": "/x", "class_names": "n.csv"})
    with pytest.raises(FileNotFoundError, match="no split folder"):
        catalog_from_settings({"kind": "folder", "root": str(tmp_path / "nothing")})
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match="no class folders"):
        catalog_from_settings({"kind": "folder", "root": str(tmp_path / "empty")})


# ---------------------------------------------------------------- names
def test_class_names_file_csv_and_tsv(tmp_path):
    tsv = tmp_path / "names.tsv"
    tsv.write_text("class\tname\tprompt\n狸花猫\tDragon Li\tdragon li cat\nMaine_Coon\t\t\n", encoding="utf-8")
    names = read_class_names(tsv, AWKWARD)
    assert names == {"狸花猫": ("Dragon Li", "dragon li cat"), "Maine_Coon": ("Maine Coon", "Maine Coon")}
    csv = tmp_path / "names.csv"
    csv.write_text('\ufeffclass,name\n"Ragdoll (blue)","Ragdoll, blue"\n', encoding="utf-8")  # BOM, quoted comma
    assert read_class_names(csv, AWKWARD) == {"Ragdoll (blue)": ("Ragdoll, blue", "Ragdoll, blue")}
    for text, needle in (("class\tlabel\nx\ty\n", "columns must be"), ("class\nPersian\n", "line 2: 'Persian' is not"),
                         ("class\nsphynx\nsphynx\n", "appears twice")):
        tsv.write_text(text)
        with pytest.raises(ValueError, match=needle):
            read_class_names(tsv, AWKWARD)
    with pytest.raises(ValueError, match="expected a .csv or .tsv"):
        read_class_names(tmp_path / "names.txt", AWKWARD)
    assert default_name("golden_retriever  dog") == "golden retriever dog"


def test_class_table_manifest_and_head_classes(pets, tmp_path):
    tsv = tmp_path / "names.tsv"
    tsv.write_text("class\tname\tprompt\n狸花猫\tDragon Li\tdragon li cat\n", encoding="utf-8")
    ds = folder(pets, class_names=str(tsv), chunks=3)
    assert ds.catalog.name("狸花猫") == ("Dragon Li", "dragon li cat", "")
    assert ds.catalog.name("Maine_Coon") == ("Maine Coon", "Maine Coon", "")
    table = ds.class_table()
    assert table.columns == ["class_index", "class_id", "file_key", "chunk", "name", "prompt_name", "description"]
    assert table["class_id"].to_list() == sorted(AWKWARD) and table["class_index"].to_list() == list(range(8))
    row = table.filter(pl.col("class_id") == "狸花猫").row(0, named=True)
    assert (row["name"], row["prompt_name"], row["file_key"]) == ("Dragon Li", "dragon li cat", file_key("狸花猫"))
    assert row["chunk"] == hash_chunk("狸花猫", 3)
    manifest = ds.catalog.manifest()  # what listing and head checks need: no names (a rename reruns neither)
    assert manifest == {"kind": "folder", "root": str(pets), "classes": sorted(AWKWARD)}
    again = open_dataset(manifest)
    assert again.catalog.ids == ds.catalog.ids and catalog_from_manifest(manifest).index("09") == 0
    hc = again.head_classes()
    assert hc.ids == tuple(sorted(AWKWARD)) and hc.names == () and not hc.fixed_order
    with pytest.raises(ValueError, match="dataset.class_names: .*line 2: 'Persian' is not a class"):
        tsv.write_text("class\nPersian\n")
        folder(pets, class_names=str(tsv))


# ---------------------------------------------------------------- listing and sampling
def test_listing_ignores_junk_and_sampling_is_class_local(pets, caplog):
    ds = folder(pets)
    assert isinstance(ds, FolderDataset)
    with caplog.at_level("WARNING"):
        listings = ds.list_classes("train", ["狸花猫", "Ragdoll (blue)"])
    lst = listings["狸花猫"]
    assert len(lst.files) == 5 and all(f.startswith("train/狸花猫/") and f.endswith(".jpg") for f in lst.files)
    assert sorted(os.path.basename(i) for i in lst.ignored) == ["Thumbs.db", "desktop.ini", "notes.txt"]
    assert "ignored 3 non-image file(s)" in caplog.text and "狸花猫" in caplog.text
    a = sample_class(lst.files, 3, 0, "狸花猫")
    assert a == sample_class(list(reversed(lst.files)), 3, 0, "狸花猫")  # independent of listing order
    with pytest.raises(ValueError, match=r"'Persian' is not a class of the folder dataset"):
        ds.list_classes("train", ["Persian"])
    with pytest.raises(FileNotFoundError, match=r"class '09': image folder .*/test/09 does not exist"):
        ds.list_classes("test", ["09"])


def test_folder_extraction_writes_file_keys_with_class_ids(pets, tmp_path):
    from sing.data.extraction import run_extraction
    from sing.io.storage import read_embeddings

    ds = folder(pets)
    classes = ["狸花猫", "09", "British Shorthair"]
    out = tmp_path / "chunk"
    run_extraction("clip", "demo", {"model": "ViT-S-32", "pretrained": None, "seed": 0}, dataset=ds, classes=classes,
                   sample={"split": "val", "per_class": 3, "seed": 0}, out=out, device="cpu", on_bad_image="skip",
                   progress=False)
    assert sorted(os.listdir(out)) == sorted([f"{file_key(c)}.parquet" for c in classes] + ["skipped.parquet"])
    rows, F, _ = read_embeddings(out / f"{file_key('狸花猫')}.parquet")
    assert set(rows["class_id"]) == {"狸花猫"} and set(rows["class_index"]) == {ds.catalog.index("狸花猫")}
    assert rows.height == 3 and F.shape == (3, 384)
    skipped = pl.read_parquet(out / "skipped.parquet")
    assert skipped.height <= 3 and set(skipped["class_id"]) <= set(classes)


def test_synthetic_folder_is_deterministic(tmp_path):
    settings = {"classes": ["a b", "ç"], "train_per_class": 2, "val_per_class": 1, "image_size": 8,
                "junk_per_class": 1}
    make_synthetic_dataset(tmp_path / "1", settings, "folder")
    make_synthetic_dataset(tmp_path / "2", settings, "folder")
    files = sorted(p.relative_to(tmp_path / "1") for p in (tmp_path / "1").rglob("*") if p.is_file())
    assert all((tmp_path / "1" / f).read_bytes() == (tmp_path / "2" / f).read_bytes() for f in files)
    assert {str(f) for f in files} >= {"train/a b/0000.jpg", "val/ç/0000.jpg", "train/ç/Thumbs.db"}
    with pytest.raises(ValueError, match="flat_val is ImageNet's layout"):
        make_synthetic_dataset(tmp_path / "3", {**settings, "flat_val": True}, "folder")


def test_imagenet_through_the_same_abstraction(tmp_path):
    make_synthetic_dataset(tmp_path, {"classes": ["n01440764"], "train_per_class": 2, "val_per_class": 1,
                                      "image_size": 8}, "imagenet")
    ds = open_dataset({"kind": "imagenet", "root": str(tmp_path)}, chunk_size=100)
    table = ds.class_table()
    assert table.height == 1000 and table.row(0, named=True)["name"] == "tench"
    assert table.row(999, named=True)["chunk"] == 9 and table["file_key"].to_list() == table["class_id"].to_list()
    assert list(ds.list_classes("train", ["n01440764"])["n01440764"].files) == [
        "train/n01440764/n01440764_0.JPEG", "train/n01440764/n01440764_1.JPEG"]
    hc = ds.head_classes()
    assert hc.fixed_order and hc.names[0] == ("tench", "tench, Tinca tinca")
    # an ImageNet label map (Hugging Face id2label: WordNet lemmas) names the classes; twins pair in order
    from sing.models.head_order import head_permutation

    labels = [lemmas for _, lemmas in hc.names]
    assert labels.count("crane") == 2 and head_permutation("hf", 1000, labels, hc) is None
