"""Text and models (issue 9 items 7-8): no prompt is cut silently by a CLIP tokenizer, no architecture is paired
with weights trained for another activation, and library warnings raised while loading models or data reach
the job's log."""

import json
import struct
import zlib

import numpy as np
import pytest

from sing.data.preflight import check_text_settings
from sing.data.text import embed_text_table, plan_text
from sing.models.clip_spaces import check_architecture, load_space, load_tokenizer
from sing.models.prompts import check_prompts, token_count

A, B = "n01440764", "n02123045"
SPACE = {"model": "ViT-S-32", "pretrained": None, "seed": 0}
LONG = "an image of a " + " ".join(["very"] * 127) + " big {}"  # 135 tokens with a one-token name


@pytest.fixture(scope="module")
def space():
    return load_space("demo", SPACE)


def _long(end):
    return LONG.format(end)


# ---------------------------------------------------------------- item 7: silent prompt truncation
def test_token_count_matches_open_clip(space):
    """The count is exactly what open_clip's tokenizer produces before truncating (independent reference: the
    tokenizer's own padded output for a context long enough to hold everything)."""
    tok = space.tokenizer
    for text in ("a", "an image of a tabby cat", _long("jellyfish"), "naïve café, 猫"):
        ids = tok([text], context_length=1000)[0]
        assert token_count(tok, text) == int((ids != 0).sum())
    assert token_count(tok, _long("jellyfish")) == 135 and tok.context_length == 77


def test_two_long_prompts_differing_at_the_end_are_refused(space):
    a, b = _long("jellyfish"), _long("starfish")
    # what the check prevents: the text tower reads 77 tokens, so the two prompts embed bit-identically
    tok = space.tokenizer
    assert (tok([a]) == tok([b])).all()
    with pytest.raises(ValueError) as ei:
        space.encode_text([a, b], source="analyses.steering.target")
    msg = str(ei.value)
    assert "space demo" in msg and "analyses.steering.target" in msg and msg.count("has 135 tokens") == 2
    assert "starfish" in msg and "context length 77" in msg
    for bad in ("", "   "):
        with pytest.raises(ValueError, match="empty prompt"):
            space.encode_text(["an image of a cat", bad])
    np.testing.assert_array_equal(space.encode_text(["an image of a cat"]),
                                  space.encode_text(["an image of a cat"], check=False))


def test_every_prompt_source_is_checked_naming_its_config_key(tmp_path, monkeypatch):
    """Class prompts, templates, concepts and targets: each error names its key, before the model is loaded."""
    import sing.data.text as text_mod

    monkeypatch.setattr(text_mod, "load_space", lambda *a, **k: pytest.fail("model loaded before the check"))
    base = {"class_prompt": "an image of a {}", "templates": None, "classes": [[0, A, "tench"], [281, B, "tabby cat"]],
            "concepts": ["desert"],
            "targets": ["an image of a jellyfish"]}
    cases = {"text.class_prompt": {"class_prompt": LONG},
             "analyses.open_vocabulary.concepts": {"concepts": ["desert", " ".join(["hump"] * 80)]},
             "targets": {"targets": ["an image of a jellyfish", _long("jellyfish")]},
             "unclip.prompts": {"targets": {"analyses.steering.target": ["an image of a jellyfish"],
                                            "unclip.prompts": [_long("starfish")]}}}
    for key, change in cases.items():
        with pytest.raises(ValueError, match=key.replace(".", r"\.") + r": prompt .* has \d+ tokens"):
            embed_text_table("demo", SPACE, {**base, **change}, tmp_path / "t.parquet", device="cpu")
    # a template ensemble: each template applied to the class name is checked (80 prompts from one class);
    # concepts never take the ensemble, only text.concept_prompt (one prompt per concept)
    long_class = [[0, A, " ".join(["very"] * 80) + " tench"]]
    with pytest.raises(ValueError, match=r"(?s)80 prompt\(s\).*text\.templates: prompt 'a bad photo"):
        embed_text_table("demo", SPACE, {**base, "templates": "openai", "classes": long_class},
                         tmp_path / "t.parquet", device="cpu")
    with pytest.raises(ValueError,
                       match=r"(?s) 1 prompt\(s\).*analyses\.open_vocabulary\.concepts: prompt 'an image of "):
        embed_text_table("demo", SPACE, {**base, "templates": "openai", "concepts": [_long("x")]},
                         tmp_path / "t.parquet", device="cpu")
    with pytest.raises(ValueError, match="empty prompt.*analyses.open_vocabulary.concepts: ''"):
        plan_text({**base, "concepts": ["desert", ""]})
    with pytest.raises(ValueError, match=r"empty prompt.*unclip\.prompts: ' '"):
        plan_text({**base, "targets": {"unclip.prompts": [" "]}})
    with pytest.raises(ValueError, match=r"empty prompt.*dataset\.class_names: prompt name of 'n0'"):
        plan_text({**base, "classes": [[0, "n0", " "]]})
    assert not (tmp_path / "t.parquet").exists()


def test_preflight_checks_every_space_once(tmp_path):
    text = {"class_prompt": "an image of a {}", "templates": None, "classes": [[0, A, "tench"]], "concepts": [],
            "targets": {"analyses.steering.target": [_long("jellyfish")]}}
    spaces = {"a": SPACE, "b": {**SPACE, "seed": 1}}
    with pytest.raises(ValueError, match=r"(?s)space a: .*analyses\.steering\.target: prompt .* has 135 tokens"):
        check_text_settings(spaces, text, tmp_path / "w", cache=tmp_path / "pf.json")
    ok = {**text, "targets": {"analyses.steering.target": ["an image of a jellyfish"]}}
    assert check_text_settings(spaces, ok, tmp_path / "w", cache=tmp_path / "pf.json") == ["a", "b"]
    assert check_text_settings(spaces, ok, tmp_path / "w", cache=tmp_path / "pf.json") == []  # cached
    assert sorted(json.loads((tmp_path / "pf.json").read_text())) == ["a", "b"]
    with pytest.raises(ValueError, match="ViT-B-32-quickgelu"):
        check_text_settings({"c": {"model": "ViT-B-32", "pretrained": "openai"}}, ok, tmp_path / "w")


def test_check_prompts_lists_all_problems_at_once(space):
    prompts = {"k": [_long(str(i)) for i in range(15)] + [""]}
    with pytest.raises(ValueError) as ei:
        check_prompts(space.tokenizer, prompts, where="space demo", max_listed=10)
    assert "16 prompt(s)" in str(ei.value) and "... and 6 more" in str(ei.value)


# ---------------------------------------------------------------- item 8: architecture / weights mismatch
@pytest.mark.parametrize("model,tag,fix", [("ViT-B-32", "openai", "ViT-B-32-quickgelu"),
                                           ("ViT-L-14", "openai", "ViT-L-14-quickgelu"),
                                           ("RN50", "openai", "RN50-quickgelu"),
                                           ("ViT-B-32", "laion400m_e32", "ViT-B-32-quickgelu"),
                                           ("ViT-B-32-quickgelu", "laion2b_s34b_b79k", "'ViT-B-32'")])
def test_quickgelu_mismatch_is_refused(model, tag, fix, tmp_path):
    """Driven by open_clip's pretrained-tag metadata, not a list of names; refused before any download."""
    import open_clip

    base = model.removesuffix("-quickgelu")
    assert open_clip.get_pretrained_cfg(base, tag).get("quick_gelu", False) == (model == base)
    with pytest.raises(ValueError, match=f"space 'bad'.*{tag}.*{fix}"):
        load_space("bad", {"model": model, "pretrained": tag}, weights=_offline(tmp_path))


def test_matching_pairs_pass():
    for model, tag in [("ViT-L-14-quickgelu", "openai"), ("EVA02-L-14", "merged2b_s4b_b131k"),
                       ("ViT-B-32", "laion2b_s34b_b79k"), ("ViT-S-32", None)]:
        check_architecture("ok", model, tag)
    with pytest.raises(ValueError, match="force_quick_gelu"):
        check_architecture("f", "ViT-B-32", "laion2b_s34b_b79k", {"force_quick_gelu": True})
    check_architecture("f", "ViT-B-32", "openai", {"force_quick_gelu": True})


def _offline(tmp_path):
    from sing.models.weights import WeightsCache

    return WeightsCache(tmp_path / "weights", offline=True)


def test_tokenizer_loads_without_a_model(tmp_path):
    tok = load_tokenizer("demo", SPACE, _offline(tmp_path))
    assert tok.context_length == 77
    with pytest.raises(ValueError, match="space 'x': unknown open_clip model 'nope'"):
        load_tokenizer("x", {"model": "nope"})


# ---------------------------------------------------------------- item 8: library warnings reach the job log
def _invalid_apng(path):
    """A valid PNG plus an acTL chunk announcing 0 frames: Pillow warns "Invalid APNG" and decodes it."""
    from PIL import Image

    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(path, format="PNG")
    data = path.read_bytes()
    body = struct.pack(">II", 0, 0)
    chunk = struct.pack(">I", len(body)) + b"acTL" + body + struct.pack(">I", zlib.crc32(b"acTL" + body))
    ihdr_end = 8 + 8 + 13 + 4
    path.write_bytes(data[:ihdr_end] + chunk + data[ihdr_end:])


@pytest.mark.parametrize("num_workers", [0, 1])
def test_library_warnings_reach_the_job_log(tmp_path, num_workers):
    """A timm warning while building the model and a Pillow warning while decoding an image (in a DataLoader
    worker process with num_workers=1) both land in the job's log file."""
    from test_data_on_disk import _folder
    from test_extract import _NL, _run_script

    d = _folder(tmp_path / "ds", "val", A, 2, junk={})
    _invalid_apng(d / "apng.png")
    ext = {"device": "cpu", "precision": "fp32", "batch_size": 4, "on_bad_image": "fail",
           "on_missing_image": "fail", "channels_last": False}
    old = {"source": "timm", "name": "ssl_resnet18", "pretrained": False, "seed": 0}  # timm warns: deprecated name
    from sing.data.classes import imagenet_wnids

    settings = {"dataset": {"kind": "imagenet", "root": str(tmp_path / "ds"), "class_index": list(imagenet_wnids())},
                "extraction": ext, "models": {"old": old},
                "weights": {"models": {"old": {"files": []}}}, "classes": [A],
                "samples": {"analysis": {"split": "val", "per_class": "all", "seed": 0, "take_all_if_fewer": False}}}
    _run_script("extract_features.py", output=_NL(features=str(tmp_path / "o")), settings=settings,
                wildcards={"model": "old", "sample": "analysis", "chunk": "000"}, log=tmp_path / "job.log",
                config={"weights_dir": str(tmp_path / "w"),
                        "extraction": {"num_workers": num_workers, "loader_timeout": 300}})
    log = (tmp_path / "job.log").read_text()
    assert "Mapping deprecated model name ssl_resnet18" in log
    assert "Invalid APNG" in log and "apng.png" in log  # main: load_rgb silenced every decoder warning


@pytest.mark.parametrize("template", ["a {} and {}", "a {name} {}", "no field", "a {0}", "a {:>5}", "a {!r}",
                                      "bad { brace {}", "bad } {}"])
def test_bad_templates_are_refused_naming_the_key(template):
    from sing.models.prompts import check_template

    with pytest.raises(ValueError, match=r"config text\.class_prompt: "):
        check_template(template, "text.class_prompt")


@pytest.mark.parametrize("template", ["an image of a {}", "{}", "{{literal}} {}", "a photo of a {}, a type of pet"])
def test_good_templates_pass(template):
    from sing.models.prompts import check_template

    check_template(template, "text.class_prompt")
    assert template.format("tench").count("tench") == 1


def test_preflight_leaves_the_root_logger_as_it_found_it(tmp_path):
    """open_clip logs at import; with no root handler `logging.info` installs one (basicConfig), and inside the
    snakemake process every log line was then printed twice. Run in a fresh interpreter, as onstart does."""
    import subprocess
    import sys

    code = f"""
import logging
from sing.data.preflight import check_text_settings
assert logging.getLogger().handlers == []
checked = check_text_settings({{"demo": {SPACE!r}}}, {{"classes": [[0, "n01440764", "tench"]]}}, {str(tmp_path)!r})
assert checked == ["demo"], checked
import open_clip  # imported by the check
print(len(logging.getLogger().handlers))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "0"
