"""Published translators (sing.io.published) on the SING authors' real files (../shared/official-artifacts): the
import gives exactly the file's weights, and every refusal names the file, the model, the space and both numbers.
Plus the content hash that detects hand-replaced intermediate files (sing.core.files)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from artifacts import ARTIFACTS, need_artifacts

from sing.core import files
from sing.core.geometry import HeadGeometry, head_geometry
from sing.core.translator import LinearTranslator
from sing.io.published import TranslatorImportError, import_translator, read_published_translator, translator_files
from sing.models import lock
from sing.registry import SPACES

CONVNEXT = Path(ARTIFACTS or ".") / "translators" / "convnext" / "linear"
DEIT = Path(ARTIFACTS or ".") / "translators" / "deit" / "linear"
KARLO = SPACES["openai_vitl14"].spec()
pytestmark = need_artifacts()


def _raw(folder: Path) -> dict:
    return torch.load(folder / "best.pt", map_location="cpu", weights_only=True)


@pytest.mark.parametrize("folder,frob", [(CONVNEXT, 6.1), (DEIT, 30.9)], ids=["convnext", "deit"])
def test_import_gives_exactly_the_files_weights(folder, frob, tmp_path):
    raw = _raw(folder)
    for given in (folder, folder / "best.pt"):  # the folder, or the file with its metadata.yaml beside it
        T = import_translator(given, model="convnext", space="openai_vitl14", head_in_dim=1024, space_dim=768,
                              space_entry=KARLO)
        assert (T.out_dim, T.in_dim) == (768, 1024)
        # float32 -> float64 is exact: casting back gives the file's bytes
        assert T.weight.astype(np.float32).tobytes() == raw["weight"].numpy().tobytes()
        assert T.bias.astype(np.float32).tobytes() == raw["bias"].numpy().tobytes()
        assert np.array_equal(T.weight, raw["weight"].numpy().astype(np.float64))
    assert np.linalg.norm(T.weight) == pytest.approx(frob, abs=0.05)  # README: Frobenius norms 6.1 / 30.9
    assert np.linalg.matrix_rank(T.weight) == 768
    src = T.source
    assert src["sha256"] == files_sha256(folder / "best.pt") and src["format"] == "torch"
    assert src["metadata"]["embedding_backend"] == "kakao_karlo_v1_alpha_image_variations"
    assert src["metadata_sha256"] == files_sha256(folder / "metadata.yaml")
    assert translator_files(folder) == [folder / "best.pt", folder / "metadata.yaml"]
    # the sing file keeps the weights bit for bit and the source's sha256 in its metadata
    T.save(tmp_path / "t.safetensors")
    U = LinearTranslator.load(tmp_path / "t.safetensors")
    assert U.weight.astype(np.float32).tobytes() == raw["weight"].numpy().tobytes()
    assert U.source["sha256"] == src["sha256"] and U.alpha is None
    # T(f) = f Wᵀ + b, as the authors' F.linear
    f = torch.randn(3, 1024, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = torch.nn.functional.linear(f, raw["weight"].double(), raw["bias"].double())
    assert torch.allclose(T(f), ref, rtol=0, atol=1e-12)


def files_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_orig_mod_prefix_nesting_and_safetensors_are_accepted(tmp_path):
    raw = _raw(CONVNEXT)
    torch.save({"_orig_mod.weight": raw["weight"], "_orig_mod.bias": raw["bias"]}, tmp_path / "compiled.pt")
    torch.save({"state_dict": dict(raw), "epoch": 3}, tmp_path / "nested.pt")
    from safetensors.torch import save_file

    save_file(dict(raw), str(tmp_path / "plain.safetensors"))
    for name in ("compiled.pt", "nested.pt", "plain.safetensors"):
        p = read_published_translator(tmp_path / name)
        assert p.weight.tobytes() == raw["weight"].numpy().tobytes(), name
    assert read_published_translator(tmp_path / "compiled.pt").details["dropped_prefix"] == "_orig_mod."
    assert read_published_translator(tmp_path / "nested.pt").details["nested_under"] == "state_dict"
    assert read_published_translator(tmp_path / "plain.safetensors").metadata == {}  # no metadata.yaml beside it


def test_refusals_name_the_file_model_space_and_both_numbers(tmp_path):
    kw = dict(model="convnext", space="openai_vitl14", space_entry=KARLO)
    # in_dim: the translator reads 1024-d features, efficientnet_lite0's head is 1280 wide
    with pytest.raises(TranslatorImportError) as e:
        import_translator(CONVNEXT, model="efficientnet_lite0", space="openai_vitl14", head_in_dim=1280,
                          space_dim=768, space_entry=KARLO)
    msg = str(e.value)
    assert all(s in msg for s in (str(CONVNEXT / "best.pt"), "'efficientnet_lite0'", "'openai_vitl14'", "1024",
                                  "1280"))
    # out_dim: a 512-d space
    with pytest.raises(TranslatorImportError) as e:
        import_translator(DEIT, model="deit", space="vitb32", head_in_dim=1024, space_dim=512,
                          space_entry={"model": "ViT-B-32", "pretrained": "openai"})
    msg = str(e.value)
    assert all(s in msg for s in (str(DEIT / "best.pt"), "'deit'", "'vitb32'", "768", "512"))
    # the right dimensions, the wrong CLIP space (the late "384 does not match 768" case, caught first)
    with pytest.raises(TranslatorImportError) as e:
        import_translator(CONVNEXT, model="convnext", space="eva02_l14", head_in_dim=1024, space_dim=768,
                          space_entry=SPACES["eva02_l14"].spec())
    msg = str(e.value)
    assert all(s in msg for s in (str(CONVNEXT / "best.pt"), "'convnext'", "'eva02_l14'", "kakao_karlo",
                                  "ViT-L-14-quickgelu / openai", "EVA02-L-14 / merged2b_s4b_b131k", "768"))
    # a random-weight space of Karlo's architecture is another space too
    with pytest.raises(TranslatorImportError, match="random weights"):
        import_translator(CONVNEXT, head_in_dim=1024, space_dim=768,
                          **{**kw, "space_entry": {"model": "ViT-L-14-quickgelu", "pretrained": None, "seed": 0}})
    # the same weights under the plain architecture name pass (open_clip's two names of one tag)
    import_translator(CONVNEXT, head_in_dim=1024, space_dim=768,
                      **{**kw, "space_entry": {"model": "ViT-L-14", "pretrained": "openai"}})


def test_non_linear_translators_are_refused(tmp_path):
    raw = _raw(CONVNEXT)
    # the metadata declares an MLP: refused before the weights are read
    mlp = tmp_path / "mlp"
    shutil.copytree(CONVNEXT, mlp)
    (mlp / "metadata.yaml").chmod(0o644)
    (mlp / "metadata.yaml").write_text((CONVNEXT / "metadata.yaml").read_text().replace("architecture: linear",
                                                                                       "architecture: 3layer"))
    with pytest.raises(TranslatorImportError, match=r"best.pt.*architecture '3layer'.*linear translators only"):
        import_translator(mlp, model="convnext", space="openai_vitl14", head_in_dim=1024, space_dim=768,
                          space_entry=KARLO)
    # an MLP state dict (the authors' ThreeLayerTranslator keys) without metadata
    layers = {"layers.0.weight": raw["weight"].T.contiguous(), "layers.0.bias": torch.zeros(1024),
              "layers.1.weight": torch.ones(1024), "layers.1.bias": torch.zeros(1024),
              "layers.8.weight": raw["weight"], "layers.8.bias": raw["bias"]}
    torch.save(layers, tmp_path / "three.pt")
    with pytest.raises(TranslatorImportError, match=r"three.pt: not a linear translator: it holds 6 tensors"):
        read_published_translator(tmp_path / "three.pt")
    # metadata dims that contradict the weight
    bad = tmp_path / "bad"
    shutil.copytree(CONVNEXT, bad)
    (bad / "metadata.yaml").chmod(0o644)
    (bad / "metadata.yaml").write_text((CONVNEXT / "metadata.yaml").read_text().replace("in_dim: 1024",
                                                                                       "in_dim: 2048"))
    with pytest.raises(TranslatorImportError, match="says in_dim 2048 but the weight is 768 × 1024"):
        read_published_translator(bad)
    # not loadable with weights_only=True (arbitrary pickled objects are never executed)
    torch.save({"weight": raw["weight"], "bias": raw["bias"], "opt": _Opaque()}, tmp_path / "pickle.pt")
    with pytest.raises(TranslatorImportError, match="weights_only=True"):
        read_published_translator(tmp_path / "pickle.pt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_published_translator(tmp_path / "absent.pt")
    with pytest.raises(TranslatorImportError, match="needs a metadata.yaml"):
        read_published_translator(tmp_path)


class _Opaque:
    pass


def test_linear_translator_load_names_a_torch_file():
    with pytest.raises(ValueError, match="best.pt: not a safetensors file.*torch.save.*import_translator"):
        LinearTranslator.load(CONVNEXT / "best.pt")


def test_published_files_are_locked(tmp_path):
    folder = tmp_path / "convnext"
    shutil.copytree(CONVNEXT, folder)
    entry = {"spec": {"published": str(folder)}, "weights_id": "published",
             "files": lock.local_records(translator_files(folder), tmp_path / "weights")}
    lock.write_lock(tmp_path / "weights", {"translators": {"convnext/openai_vitl14": entry}})
    locked = lock.locked_entry(lock.read_lock(tmp_path / "weights"), "translators", "convnext/openai_vitl14",
                               {"published": str(folder)})
    lock.verify(locked, tmp_path / "weights", "translator convnext/openai_vitl14")
    (folder / "best.pt").chmod(0o644)
    raw = _raw(folder)
    torch.save({"weight": raw["weight"] * 2, "bias": raw["bias"]}, folder / "best.pt")
    with pytest.raises(lock.WeightsLockError, match="translator convnext/openai_vitl14: weight file .*best.pt"):
        lock.verify(locked, tmp_path / "weights", "translator convnext/openai_vitl14")


# ------------------------------------------------------------------------- content hash: replaced files
def test_content_hash_detects_edited_and_replaced_files(tmp_path):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 10))
    g = head_geometry(W)
    path = tmp_path / "geometry.safetensors"
    g.save(path)
    record = files.content_record(path)
    assert record["content_sha256"] == files.stored_content_sha256(path) == files.verify_content(path)
    g.save(tmp_path / "again.safetensors")  # equal content, equal hash
    assert files.stored_content_sha256(tmp_path / "again.safetensors") == record["content_sha256"]
    assert files.find_replaced([record]) == []
    # replaced by hand with another valid sing file: the file is fine on its own, but not what the job wrote
    head_geometry(rng.standard_normal((6, 10))).save(path)
    HeadGeometry.load(path)
    [r] = files.find_replaced([record])
    assert r.path == str(path) and r.recorded == record["content_sha256"] and r.found != r.recorded
    err = files.ReplacedFileError([r], hint="delete it to recompute")
    assert str(path) in str(err) and "delete it" in str(err)
    # edited in place by another tool (tensor bytes changed, sing metadata kept): refused on read, naming it
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata()
    t = load_file(str(path))
    t["null_basis"] = t["null_basis"] * -1
    save_file(t, str(path), metadata=meta)
    with pytest.raises(files.ModifiedFileError, match=f"{path}: its content .* no longer matches"):
        HeadGeometry.load(path)
    assert files.find_replaced({str(path): files.stored_content_sha256(path)}) == []  # the header is unchanged
    [r] = files.find_replaced({str(path): files.stored_content_sha256(path)}, deep=True)
    assert "edited in place" in r.reason
    # a translator replaced by a torch file, a missing file, a file without a hash
    shutil.copy(CONVNEXT / "best.pt", tmp_path / "t.safetensors")
    [r] = files.find_replaced({str(tmp_path / "t.safetensors"): "ab" * 32, str(tmp_path / "gone"): "cd" * 32})
    assert "no longer a sing file" in r.reason and "torch.save" in r.reason
    legacy = tmp_path / "legacy.safetensors"
    save_file({"weight": np.eye(2)}, str(legacy), metadata={"sing": json.dumps({"kind": "linear_translator"})})
    assert files.stored_content_sha256(legacy) is None and files.verify_content(legacy) is None


def test_content_records_map_back_to_their_files_and_stop_a_plan(tmp_path):
    """write_content_record / recorded_contents keep one record per file at the file's path under the records
    folder (a moved results folder keeps them valid); check_replaced (the workflow's start) names a replaced file
    and says what to do; an unreadable record is ignored; the header reader is the standard library's."""
    from sing.workflow.plan import check_replaced

    root = tmp_path / "results"
    translator = root / "translators" / "m" / "s.safetensors"
    translator.parent.mkdir(parents=True)
    head_geometry(np.random.default_rng(1).standard_normal((4, 9))).save(translator)
    record = root / "written" / "translators" / "m" / "s.safetensors.json"
    files.write_content_record(translator, record)
    (root / "written" / "broken.json").write_text("{not json")
    assert files.recorded_contents(root, root / "written") == {translator: files.stored_content_sha256(translator)}
    check_replaced(root, root / "written")
    moved = tmp_path / "moved"
    root.rename(moved)
    check_replaced(moved, moved / "written")
    head_geometry(np.random.default_rng(2).standard_normal((4, 9))).save(moved / "translators" / "m" / "s.safetensors")
    with pytest.raises(files.ReplacedFileError) as err:
        check_replaced(moved, moved / "written")
    assert "moved/translators/m/s.safetensors" in str(err.value) and "translator.published" in str(err.value)
    header = files.safetensors_header(moved / "translators" / "m" / "s.safetensors")
    assert set(header) >= {"__metadata__"} and json.loads(header["__metadata__"]["sing"])["kind"] == "head_geometry"
    with pytest.raises(ValueError, match="not a safetensors file .*torch.save"):
        files.safetensors_header(CONVNEXT / "best.pt")


def test_the_header_reader_reads_torch_shapes_without_loading(tmp_path):
    """read_translator_header: shapes from the torch archive's pickle (nothing but shapes is built), with the
    authors' real file; a pickle holding other objects leaves the shapes to the loader."""
    from sing.io.published import check_fit, read_translator_header

    header = read_translator_header(CONVNEXT)
    assert (header.format, header.shape, header.metadata["in_dim"]) == ("torch", (768, 1024), 1024)
    check_fit(header, model="convnext", space="openai_vitl14", head_in_dim=1024, space_dim=768,
              space_entry={"model": "ViT-L-14-quickgelu", "pretrained": "openai"})
    odd = tmp_path / "odd.pt"
    torch.save({"weight": torch.zeros(3, 5), "bias": torch.zeros(3), "note": Path("x")}, odd)
    assert read_translator_header(odd).shape is None  # the import job's weights_only load refuses it
    with pytest.raises(TranslatorImportError, match="in_dim is 1024 .* m = 1280"):
        check_fit(header, model="efficientnet_lite0", space="openai_vitl14", head_in_dim=1280)
