"""sing.workflow without Snakemake: config validation with defaults, the resolved plan, every cross-reference
check (the errors a `snakemake -n` used to be needed for, each in milliseconds here), job settings, manifests
that survive a dry run, container binds. tests/test_workflow.py keeps a few of the checks end to end."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from sing.workflow.config import ConfigError, load_schema, merge_configs, resolve_config
from sing.workflow.manifests import ManifestWriter, manifest_text
from sing.workflow.plan import Plan
from sing.workflow.settings import JobSettings

REPO = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(REPO / "schemas" / "config.schema.yaml")
DEMO = ("config.yaml", "config.demo.yaml")
FOLDER_DEMO = ("config.yaml", "config.folder-demo.yaml")


def load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def resolved(*overrides: dict, files=DEMO) -> dict:
    return resolve_config(merge_configs(*(load(f) for f in files), *overrides), SCHEMA)


def plan_of(*overrides: dict, files=DEMO) -> Plan:
    return Plan(resolved(*overrides, files=files), SCHEMA)


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # the folder demo's class files are relative to the workflow folder


# ----------------------------------------------------------------------------------------------- config
def test_defaults_are_filled_as_snakemake_fills_them():
    """The library's validation is Snakemake's `validate(config, schema, set_default=True)` (the reference),
    for the site config, both demos and a config that gives nested objects in part."""
    from snakemake.utils import update_config, validate

    partial = {"extraction": {"device": "cpu"}, "samples": {"analysis": {"per_class": 3}},
               "dataset": {"synthetic": {"classes": ["n01440764"]}}}
    for files, extra in ((("config.yaml",), {}), (DEMO, {}), (FOLDER_DEMO, {}), (("config.yaml",), partial)):
        reference: dict = {}
        for f in files:
            update_config(reference, load(f))
        update_config(reference, copy.deepcopy(extra))
        validate(reference, str(REPO / "schemas" / "config.schema.yaml"), set_default=True)
        ours = resolved(extra, files=files)
        assert ours == reference, files
        assert list(ours) == [k for k in SCHEMA["properties"] if k in ours] + [k for k in ours
                                                                                 if k not in SCHEMA["properties"]]


def test_merge_configs_merges_mappings_and_replaces_the_rest():
    a = {"dataset": {"root": "/a", "kind": "imagenet"}, "classes": ["x"], "n": None}
    b = {"dataset": {"root": "/b"}, "classes": ["y"], "n": {"k": 1}}
    assert merge_configs(a, b) == {"dataset": {"root": "/b", "kind": "imagenet"}, "classes": ["y"], "n": {"k": 1}}
    assert a["dataset"]["root"] == "/a"  # inputs untouched


@pytest.mark.parametrize(("overrides", "needle"), [
    ({"extraction": {"precision": "fp8"}}, "config extraction.precision: 'fp8' is not one of"),
    ({"extraction": {"devices": "cpu"}}, "devices"),
    ({"chunk_size": 0}, "config chunk_size: 0 is less than the minimum of 1"),
    ({"run_models": "papers"}, "config run_models"),
])
def test_schema_violations_name_the_key_in_one_line(overrides, needle):
    with pytest.raises(ConfigError) as err:
        resolved(overrides)
    message = str(err.value)
    assert needle in message and "\n" not in message and "docs/config.md" in message


# ----------------------------------------------------------------------------------------------- the plan
def test_demo_plan():
    plan = plan_of()
    assert plan.model_keys == ["demo_resnet50", "demo_densenet121"]
    assert plan.space_keys == ["demo_clip_a", "demo_clip_b"]
    assert plan.analysed == ["n01440764", "n01910747", "n02123045", "n02437312", "n04285008"]
    assert plan.chunks["analysis"] == {0: ["n01440764", "n01910747", "n02123045", "n02437312"], 1: ["n04285008"]}
    assert plan.chunk_ids("robustness") == ["000"] and plan.chunk_holding("n04285008") == "001"
    assert set(plan.concepts) == set(plan.openvocab) == {"n01910747", "n02437312"}
    assert plan.figure_models == ["demo_resnet50", "demo_densenet121"] and plan.warnings == []
    assert plan.gpu_resources() == {"gpu": 1}


def test_full_paper_plan_without_data():
    plan = plan_of({"dataset": {"root": "/nowhere/imagenet"}}, files=("config.yaml",))
    assert len(plan.model_keys) == 13 and len(plan.space_keys) == 2 and len(plan.analysed) == 1000
    assert {s: len(c) for s, c in plan.chunks.items()} == {"analysis": 10, "openvocab": 2, "robustness": 10}
    assert plan.warnings == []  # the default figure models are the paper's five: no warning
    assert not Path("/nowhere").exists()


def test_gpu_model_and_partition_reach_the_gpu_resources():
    plan = plan_of({"slurm_gpu": {"model": "h100", "partition": "gpu"}})
    assert plan.gpu_resources() == {"gpu": 1, "gpu_model": "h100", "slurm_partition": "gpu"}


def test_a_gres_only_cluster_gets_gres_requests():
    """Issue 19, kind 2: sites differ in how a job asks for a GPU; `select/cons_res` clusters refuse --gpus.
    The snakemake-executor-plugin-slurm 2.8.0 turns `gres` into `--gres=...` (read from its source)."""
    import inspect

    from snakemake_executor_plugin_slurm.utils import set_gres_string

    assert 'f" --gres={job.resources.gres}"' in inspect.getsource(set_gres_string)
    assert plan_of({"slurm_gpu": {"request": "gres"}}).gpu_resources() == {"gres": "gpu:1"}
    assert plan_of({"slurm_gpu": {"request": "gres", "model": "a100", "partition": "gpu"}}).gpu_resources() == {
        "gres": "gpu:a100:1", "slurm_partition": "gpu"}


# Every value that names a model, space or class is checked against what the run has when the plan is built,
# with an error naming the key and the bad value (no silent drop or fallback). The same cases ran as one
# `snakemake -n` each in tests/test_workflow.py; three of them still do there, end to end.
GOLDFISH_NOT_ANALYSED = {"unclip": {"source_class": "n01443537"}}
# the SING authors' real files (tests/data/official, MIT): a translator 1024 -> 768 into Karlo's CLIP ViT-L/14
OFFICIAL = REPO / "tests" / "data" / "official"
CONVNEXT = str(OFFICIAL / "translators" / "convnext" / "linear")
NPZ = str(OFFICIAL / "embeddings" / "attribute_embeddings_broden_style_fp16.npz")
PUBLISHED = "translator.published.demo_densenet121"


def published(space="demo_clip_a", path=CONVNEXT, **extra):
    return {"translator": {"published": {"demo_densenet121": {space: path}}}, **extra}


def broden(**entry):
    return {"text": {"dictionaries": {"broden": {"path": NPZ, "space": "demo_clip_a", **entry}}}}


EVA02_ONLY = {"run_spaces": ["eva02_l14"], "unclip": {"enabled": False}}
RANDOM_VITL = {"run_spaces": ["vitl_random"], "unclip": {"enabled": False},
               "spaces": {"vitl_random": {"model": "ViT-L-14-quickgelu", "pretrained": None, "display": "L"}}}
CONCEPTS = {"n01910747": ["ocean"], "n02437312": ["desert"]}
BAD_CONFIGS = [
    ({"chunk_size": 0}, ["chunk_size"]),
    ({"run_models": ["no_such_model"]}, ["run_models", "no_such_model"]),
    ({"run_models": "papers"}, ["run_models"]),
    ({"run_spaces": ["demo_clip_c"]}, ["run_spaces", "demo_clip_c"]),
    ({"classes": ["n99999999"]}, ["classes", "n99999999"]),
    ({"classes": ["n01440764", "n01440764"]}, ["classes", "duplicate"]),
    ({"extraction": {"precision": "fp8"}}, ["precision"]),
    ({"figures": {"paper_models": ["demo_resnet5O"]}}, ["figures.paper_models", "demo_resnet5O"]),
    ({"figures": {"paper_models": ["demo_resnet50", "demo_resnet50"]}}, ["figures.paper_models", "twice"]),
    ({"unclip": {"space": "demo_clip_c"}}, ["unclip.space", "demo_clip_c"]),
    (GOLDFISH_NOT_ANALYSED, ["unclip.source_class", "n01443537"]),
    ({"analyses": {"steering": {"source_class": "n01443537"}}}, ["analyses.steering.source_class", "n01443537"]),
    ({"analyses": {"open_vocabulary": {"concepts": {**CONCEPTS, "n02437313": ["x"]}}}},
     ["analyses.open_vocabulary.concepts", "n02437313"]),  # not an ImageNet class (typo)
    ({"analyses": {"open_vocabulary": {"concepts": {**CONCEPTS, "n01440764": ["x"]}}}},
     ["analyses.open_vocabulary.concepts", "n01440764", "not in analyses.open_vocabulary.classes"]),
    ({"analyses": {"open_vocabulary": {"concepts": {"n01910747": ["ocean"]}}}},
     ["analyses.open_vocabulary.concepts", "n02437312"]),  # a class without a concept list
    ({"analyses": {"open_vocabulary": {"classes": ["n02437312", "n09999999"]}}},
     ["analyses.open_vocabulary.classes", "n09999999"]),
    ({"analyses": {"open_vocabulary": {"classes": ["n02437312", "n01484850"]}}},
     ["analyses.open_vocabulary.classes", "n01484850", "dataset.synthetic.classes"]),  # not in the dataset
    ({"text": {"classes": ["n01440764"]}}, ["text.classes", "n01910747"]),
    ({"samples": {"translator": {"classes": ["n01440764", "n01484850"]}}},
     ["samples.translator.classes", "n01484850", "dataset.synthetic.classes"]),
    ({"samples": {"translator": {"classes": ["n0144076"]}}},
     ["samples.translator.classes", "n0144076", "not an ImageNet-1k WordNet id"]),
    ({"text": {"class_prompt": "a {} and {}"}}, ["text.class_prompt", "exactly one {}", "found 2"]),
    ({"text": {"concept_prompt": "an image of {name} {}"}}, ["text.concept_prompt", "{name}"]),
    # checks no `snakemake -n` test covered before
    ({"samples": {"robustness": {"classes": ["n01443537"]}}}, ["samples.robustness.classes", "holds no analysed"]),
    ({"run_spaces": ["principal"], "spaces": {"principal": {"model": "ViT-S-32", "pretrained": None,
                                                            "display": "P"}},
      "unclip": {"enabled": False}}, ["run_spaces", "'principal'"]),
    ({"synthetic_checkpoints": ["demo_resnet50"]}, ["synthetic_checkpoints", "demo_resnet50", "checkpoint path"]),
    ({"models": {"demo_resnet50": {"source": "timm", "name": "resnet50", "display": "R",
                                   "model_kwargs": {"num_classes": 10}}}},
     ["models.demo_resnet50", "10 outputs", "1000 classes"]),
    ({"models": {"x": {"source": "torchvision", "display": "X"}}, "run_models": ["x"]}, ["config models", "source"]),
    # issue 19, kind 3: a path the input/output patterns cannot carry, a key that cannot name files / wildcards
    ({"results_dir": "runs/{1}"}, ["config results_dir", "'{'", "wildcard"]),
    ({"dataset": {"root": "data/set}"}}, ["config dataset.root", "'}'"]),
    ({"models": {"mine": {"source": "timm", "name": "resnet18", "display": "M", "checkpoint": "ckpt/{x}.pth"}},
      "run_models": ["mine"], "figures": {"paper_models": ["mine"]}}, ["config models.mine.checkpoint", "'{'"]),
    ({"models": {"my model": {"source": "timm", "name": "resnet18", "display": "M"}}},
     ["config models", "'my model'", "' '"]),  # refused even when not run
    ({"spaces": {"clip/a": {"model": "ViT-S-32", "pretrained": None, "display": "A"}}},
     ["config spaces", "'clip/a'", "'/'"]),
    # published translators: every refusal that needs no loading, with the authors' real files
    ({"translator": {"published": {"convnxt": {"demo_clip_a": CONVNEXT}}}}, ["translator.published", "convnxt"]),
    (published(space="clip_z"), [PUBLISHED, "clip_z", "nor in config spaces"]),
    (published(path=CONVNEXT + "/missing.pt"), [f"{PUBLISHED}.demo_clip_a", "missing.pt", "does not exist"]),
    (published(path=str(OFFICIAL / "translators" / "convnext")), [f"{PUBLISHED}.demo_clip_a", "metadata.yaml"]),
    (published(path=str(OFFICIAL / "LICENSE.official")), ["neither a torch.save file nor a safetensors file"]),
    (published(), [f"{PUBLISHED}.demo_clip_a", "best.pt", "'demo_densenet121'", "'demo_clip_a'", "out_dim is 768",
                   "dimension 384"]),
    (published(space="eva02_l14", **EVA02_ONLY), [f"{PUBLISHED}.eva02_l14", "kakao_karlo_v1_alpha_image_variations",
                                                  "ViT-L-14-quickgelu / openai", "EVA02-L-14", "dimension 768"]),
    (published(space="vitl_random", **RANDOM_VITL), [f"{PUBLISHED}.vitl_random", "random weights"]),
    # concept dictionaries (the authors' npz: 173 concepts x 768)
    (broden(space="clip_z"), ["text.dictionaries.broden.space", "clip_z"]),
    (broden(), ["text.dictionaries.broden.space", "dimension 768", "dimension 384"]),
    (broden(path=NPZ + ".missing.npz"), ["text.dictionaries.broden.path", "missing"]),
    (broden(row="prompt9"), ["text.dictionaries.broden", "prompt9"]),
    (broden(path=CONVNEXT + "/metadata.yaml"), ["text.dictionaries.broden", "unknown format '.yaml'"]),
    ({"text": {"dictionaries": {"builtin": {"path": NPZ, "space": "demo_clip_a"}}}}, ["'builtin'", "another name"]),
    ({"analyses": {"open_vocabulary": {"dictionaries": ["builtin", "brodn"]}}},
     ["analyses.open_vocabulary.dictionaries", "brodn"]),
    ({**broden(space="eva02_l14"), "analyses": {"open_vocabulary": {"dictionaries": ["broden"]}}},
     ["analyses.open_vocabulary.dictionaries", "eva02_l14", "not in run_spaces"]),
    # a run model's local file that does not exist: named at planning, not as Snakemake's MissingInputException
    ({"models": {"mine": {"source": "timm", "name": "resnet18", "display": "M", "checkpoint": "ckpt/none.pth"}},
      "run_models": ["mine"], "figures": {"paper_models": ["mine"]}},
     ["config models.mine.checkpoint", "ckpt/none.pth", "does not exist"]),
    # the translator study and sensitivity (issue 17)
    (published(translator={"use": "best_nonlinear", "published": {"demo_densenet121": {"demo_clip_a": CONVNEXT}}}),
     ["translator.use", "best_nonlinear", "demo_densenet121/demo_clip_a", "published translator"]),
    ({"translator": {"use": "best_nonlinear", "study": {"enabled": False}}},
     ["translator.use", "best_nonlinear", "translator.study.enabled"]),
    ({"translator": {"use": "nonlinear"}}, ["translator.use", "nonlinear"]),
    ({"translator": {"study": {"architectures": ["linear"]}}}, ["translator.study.architectures", "non-linear"]),
    ({"translator": {"study": {"stop_fold": 4}}}, ["translator.study.stop_fold", "translator.folds (4)"]),
    ({"translator": {"sensitivity": {"factors": [0.1, 1]}}}, ["translator.sensitivity.factors"]),
    ({"samples": {"translator_study": {"classes": ["n01440764", "n01484850"]}}},
     ["samples.translator_study.classes", "n01484850", "dataset.synthetic.classes"]),
    ({"figures": {"paper_models": "paper"}}, ["figures.paper_models"]),
]


@pytest.mark.parametrize(("overrides", "needles"), BAD_CONFIGS)
def test_bad_config_is_refused_naming_the_key(overrides, needles):
    with pytest.raises(ValueError) as err:
        plan_of(overrides)
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


def test_published_translators_and_dictionaries_plan(tmp_path):
    """Pairs with a published translator are imported, the others fitted; only models / spaces with a fitted pair
    need the translator sample; unused entries are ignored; every dictionary is ranked in its own space."""
    plan = plan_of({"translator": {"published": {"demo_densenet121": {"eva02_l14": CONVNEXT},
                                                 "resnet": {"demo_clip_a": CONVNEXT}}}})
    assert plan.published == {} and len(plan.fitted) == 4  # eva02_l14 and resnet are not run: not checked
    ok = tmp_path / "ok.pt"
    torch_save_linear(ok, 384, 1024)
    plan = plan_of(published(path=str(ok)), {"text": {"dictionaries": {"broden": {
        "path": NPZ, "space": "eva02_l14"}}}})  # a dictionary of a space not run: ignored under `all`
    assert plan.published == {("demo_densenet121", "demo_clip_a"): str(ok)}
    assert ("demo_densenet121", "demo_clip_a") not in plan.fitted and len(plan.fitted) == 3
    assert plan.translator_sample_models() == ["demo_resnet50", "demo_densenet121"]  # densenet still fits clip_b
    assert plan.translator_sample_spaces() == ["demo_clip_a", "demo_clip_b"]
    assert plan.concept_dictionaries == {"demo_clip_a": ["builtin"], "demo_clip_b": ["builtin"]}
    settings = JobSettings(plan)
    job = settings("import_translator", {"model": "demo_densenet121", "space": "demo_clip_a"})
    assert job["translator"]["published"] == str(ok)
    assert job["weights"]["translators"] == {"demo_densenet121/demo_clip_a": None}  # not locked yet
    assert job["spaces"]["demo_clip_a"] == {"model": "ViT-S-32", "pretrained": None}
    assert settings("prefetch_weights", {})["translator"]["published"] == {"demo_densenet121": {"demo_clip_a": str(ok)}}
    assert settings("class_concepts", {"model": "demo_resnet50", "space": "demo_clip_a"})["analyses"][
        "open_vocabulary"] == {"dictionaries": ["builtin"], "top": 10}


def torch_save_linear(path, out_dim, in_dim, **extra):
    import torch

    torch.save({"weight": torch.zeros(out_dim, in_dim), "bias": torch.zeros(out_dim), **extra}, path)


def test_published_translator_refusals_from_files(tmp_path):
    """What only a file on disk shows: a non-linear architecture in the metadata, an MLP state dict, metadata
    dimensions that contradict the weight, and (once the head is exported) in_dim against the head's width: the
    authors' convnext translator (1024) for a model whose exported head is 2048 wide."""
    import shutil

    mlp = tmp_path / "mlp"
    shutil.copytree(CONVNEXT, mlp)
    (mlp / "metadata.yaml").write_text((mlp / "metadata.yaml").read_text().replace("architecture: linear",
                                                                                   "architecture: 3layer"))
    mlp_dict = tmp_path / "mlp.pt"
    torch_save_linear(mlp_dict, 512, 1024, **{"fc2.weight": __import__("torch").zeros(384, 512),
                                              "fc2.bias": __import__("torch").zeros(384)})
    lying = tmp_path / "lying"
    lying.mkdir()
    torch_save_linear(lying / "best.pt", 384, 1024)
    (lying / "metadata.yaml").write_text("architecture: linear\nin_dim: 2048\nout_dim: 384\n")
    for path, needles in ((mlp, ["architecture '3layer'", "linear translators only"]),
                          (mlp_dict, ["not a linear translator", "fc2.weight"]),
                          (lying, ["in_dim 2048", "384 × 1024"])):
        with pytest.raises(ValueError) as err:
            plan_of(published(path=str(path)))
        assert f"{PUBLISHED}.demo_clip_a" in str(err.value)
        for needle in needles:
            assert needle in str(err.value), (needle, str(err.value))

    from sing.core.files import write_safetensors
    from sing.io.provenance import provenance

    ok = tmp_path / "ok.pt"
    torch_save_linear(ok, 384, 1024)
    plan = plan_of(published(path=str(ok)))
    head = tmp_path / "head.safetensors"
    spec = plan.models["demo_densenet121"].spec()
    write_safetensors(head, {"weight": __import__("numpy").zeros((1000, 2048), "float32")},
                      {"kind": "head", "in_dim": 2048, "provenance": provenance(spec)})
    with pytest.raises(ValueError) as err:
        plan.check_published_heads({"demo_densenet121": head})
    assert all(n in str(err.value) for n in (f"{PUBLISHED}.demo_clip_a", "in_dim is 1024", "m = 2048"))
    write_safetensors(head, {"weight": __import__("numpy").zeros((1000, 2048), "float32")},
                      {"kind": "head", "in_dim": 2048, "provenance": provenance({**spec, "seed": 9})})
    plan.check_published_heads({"demo_densenet121": head})  # exported from another entry: the job checks


def test_figure_models_that_are_not_run_are_named():
    """A configured figures.paper_models key of a known model that this run does not run is left out of the
    5-model figures, with a warning naming it (the schema default, the paper's five, is meant for any subset)."""
    plan = plan_of({"figures": {"paper_models": ["demo_resnet50", "resnet"]}})
    assert plan.figure_models == ["demo_resnet50"]
    assert plan.warnings == ["config figures.paper_models: ['resnet'] are not in run_models; the 5-model figures "
                             "leave them out"]


def test_figure_model_presets_resolve_and_need_no_run():
    """figures.paper_models presets: the paper's five as the authors ran them (the default) and as the paper's text
    describes them; models the run lacks are left out without a warning (a preset suits any subset)."""
    from sing.registry import FIGURE_MODEL_PRESETS, MODELS

    assert resolved(files=("config.yaml",))["figures"]["paper_models"] == "authors"
    paper = plan_of(files=("config.yaml",))
    assert paper.figure_models == ["dinovit1", "resnet", "resnext", "efficientnet", "bitresnet"] and not paper.warnings
    text = plan_of({"figures": {"paper_models": "paper_text"}, "run_models": ["dino_vitb16", "resnet", "vgg16"]},
                   files=("config.yaml",))
    assert text.figure_models == ["dino_vitb16", "resnet"] and not text.warnings
    assert all(key in MODELS for keys in FIGURE_MODEL_PRESETS.values() for key in keys)
    assert MODELS["dinovit1"].display.startswith("ViT-L/16") and "DinoViT" in MODELS["dinovit1"].display
    assert plan_of(files=("config.yaml", "examples/paper-text.yaml")).figure_models == list(
        FIGURE_MODEL_PRESETS["paper_text"])


def test_the_translator_study_is_planned_only_when_enabled(in_repo):
    """The study's classes are checked against the dataset only when it runs: a folder dataset with the study off
    plans with the ImageNet default classes in samples.translator_study; with it on, the error names the key."""
    assert plan_of(files=("config.yaml",)).study_classes[:2] == ["n01440764", "n01484850"]
    assert plan_of(files=FOLDER_DEMO).study_classes == []
    with pytest.raises(ValueError, match="samples.translator_study.classes.*ImageNet default.*"
                                         "translator.study.enabled: false"):
        plan_of({"translator": {"study": {"enabled": True}}}, files=FOLDER_DEMO)


# ----------------------------------------------------------------------------------------------- folder datasets
def test_folder_demo_plan(in_repo):
    plan = plan_of(files=FOLDER_DEMO)
    assert plan.catalog.ids == ("Abyssinian", "British Shorthair", "Maine_Coon", "狸花猫", "Ægean", "09")
    assert plan.chunk_ids("analysis") == ["000", "001", "002"]
    assert plan.catalog.name("狸花猫")[:2] == ("Dragon Li", "dragon li cat")


def test_head_dataset_class_count_mismatch_is_refused_by_name(in_repo):
    with pytest.raises(ValueError) as err:
        plan_of({"models": {"pets_resnet18": {
            "source": "timm", "name": "resnet18", "checkpoint": "results/folder-demo/checkpoints/pets_resnet18.pt",
            "model_kwargs": {"num_classes": 5}, "display": "x"}}}, files=FOLDER_DEMO)
    out = str(err.value)
    assert "models.pets_resnet18" in out and "5 outputs" in out and "6 classes" in out
    assert "folder dataset results/folder-demo/pets" in out


def test_class_order_file_mismatch_is_refused_by_name(in_repo, tmp_path):
    order = tmp_path / "wrong_order.txt"
    order.write_text("\n".join(["Abyssinian", "British Shorthair", "Maine_Coon", "狸花猫", "Ægean", "Persian"]) + "\n",
                     encoding="utf-8")
    with pytest.raises(ValueError) as err:
        plan_of({"dataset": {"class_index": str(order)}}, files=FOLDER_DEMO)
    out = str(err.value)
    assert "dataset.class_index" in out and "wrong_order.txt" in out and "['09']" in out and "['Persian']" in out


def test_imagenet_defaults_are_refused_on_a_folder_dataset(in_repo):
    with pytest.raises(ValueError) as err:
        plan_of({"analyses": {"steering": {"source_class": "n04285008"}}}, files=FOLDER_DEMO)
    assert "analyses.steering.source_class" in str(err.value) and "paper's ImageNet default" in str(err.value)
    with pytest.raises(ValueError) as err:
        plan_of({"analyses": {"open_vocabulary": {"classes": ["n02437312", "n01910747"], "concepts": "default"}}},
                files=FOLDER_DEMO)
    assert "analyses.open_vocabulary.classes" in str(err.value) and "paper's ImageNet default" in str(err.value)


# ----------------------------------------------------------------------------------------------- job settings
def test_job_settings_hold_what_the_job_computes_with(tmp_path):
    plan = plan_of({"weights_dir": str(tmp_path / "weights")})
    settings = JobSettings(plan)
    score = settings("score_chunk", {"model": "demo_resnet50", "space": "demo_clip_b", "chunk": "001"})
    assert score["classes"] == ["n04285008"]  # the chunk's own classes
    assert score["analyses"] == {"baseline_seeds": 3, "seed": 0} and "dataset" not in score
    aggregate = settings("aggregate_model", {"model": "demo_resnet50", "space": "demo_clip_b"})
    assert aggregate["dataset"]["class_names"]["n02437312"] == "arabian camel"  # display names it prints
    assert settings("embed_images", {"space": "demo_clip_a", "sample": "analysis", "chunk": "001"})["dataset"][
        "class_index"] == {"n04285008": 817}
    assert set(score["weights"]["models"]) == {"demo_resnet50"} and set(score["weights"]["spaces"]) == {"demo_clip_b"}
    head = settings("export_head", {"model": "demo_densenet121"})
    assert head["models"] == {"demo_densenet121": {"source": "timm", "name": "densenet121", "pretrained": False,
                                                   "seed": 1}}  # its own entry, no display
    assert len(head["dataset"]["class_index"]) == 1000
    figures = settings("figures", {})
    assert figures["figures"]["paper_models"] == ["demo_resnet50", "demo_densenet121"]
    assert figures["models"]["demo_resnet50"] == {"display": "ResNet50 (random)"}
    assert "weights" not in settings("dataset_classes", {})
    unclip = settings("unclip_pictures", {"model": "demo_resnet50"})["weights"]
    assert unclip["unclip"] == {"sing:tiny-random": {"files": []}} and set(unclip["spaces"]) == {"demo_clip_a"}
    assert settings("score_chunk", {"model": "demo_resnet50", "space": "demo_clip_b", "chunk": "001"}) is score


def test_job_settings_do_not_depend_on_key_order():
    a = JobSettings(plan_of({"extraction": {"on_bad_image": "skip", "device": "cpu"}}))
    b = JobSettings(plan_of({"extraction": {"device": "cpu", "on_bad_image": "skip"}}))
    w = {"model": "demo_resnet50", "sample": "analysis", "chunk": "000"}
    assert manifest_text(a("extract_features", w)) == manifest_text(b("extract_features", w))
    assert repr(a("extract_features", w)) == repr(b("extract_features", w))


# ----------------------------------------------------------------------------------------------- manifests
def test_a_manifest_is_rewritten_only_when_it_changes(tmp_path):
    writer = ManifestWriter(planning_only=lambda: False)
    path = tmp_path / "m" / "rule" / "x.json"
    writer.write(path, {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n "a": [\n  1,\n  2\n ],\n "b": 1\n}\n'
    os.utime(path, ns=(1, 1))
    writer.write(path, {"a": [1, 2], "b": 1})  # same content: untouched
    assert path.stat().st_mtime_ns == 1
    writer.write(path, {"a": [1, 2], "b": 2})
    assert path.stat().st_mtime_ns > 1 and '"b": 2' in path.read_text()


def test_a_planning_only_writer_puts_everything_back(tmp_path):
    kept = tmp_path / "manifests" / "rule" / "kept.json"
    kept.parent.mkdir(parents=True)
    kept.write_text("old\n")
    os.utime(kept, ns=(5, 5))
    writer = ManifestWriter(planning_only=lambda: True)
    writer.write(kept, {"new": True})
    writer.write(tmp_path / "manifests" / "other" / "deep" / "new.json", {"x": 1})
    assert kept.read_text() != "old\n" and (tmp_path / "manifests" / "other").is_dir()
    writer.restore()  # what the process does at exit
    assert kept.read_text() == "old\n" and kept.stat().st_mtime_ns == 5
    assert not (tmp_path / "manifests" / "other").exists()


def test_a_dry_run_beside_a_run_removes_only_its_own_folders(tmp_path):
    """A dry run on a fresh results folder while a run fills it: restoring removed every empty folder under the
    first folder it made, including one the run had just made for a job's benchmark file (the job then failed with
    FileNotFoundError). Only the folders on its manifests' paths go."""
    results = tmp_path / "results"
    writer = ManifestWriter(planning_only=lambda: True)
    writer.write(results / "manifests" / "embed_texts" / "a" / "concepts.json", {"x": 1})
    made_by_the_run = [results / "benchmarks" / "embed_texts" / "a", results / "manifests" / "fit_translator"]
    for folder in made_by_the_run:
        folder.mkdir(parents=True)
    writer.restore()
    assert all(folder.is_dir() for folder in made_by_the_run)
    assert not (results / "manifests" / "embed_texts").exists()


# ----------------------------------------------------------------------------------------------- containers
def test_data_paths_name_the_key_of_each_path(tmp_path, monkeypatch):
    """What a container binds and what is checked for characters, each path under the config key that sets it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "mine.pth").touch()
    plan = plan_of({"models": {"mine": {"source": "timm", "name": "resnet18", "display": "M",
                                        "checkpoint": "ckpt/mine.pth"}},
                    "run_models": ["mine"], "figures": {"paper_models": ["mine"]}})
    paths = plan.data_paths()
    assert paths["results_dir"] == "results/demo" and paths["dataset.root"] == "results/demo/imagenet"
    assert paths["models.mine.checkpoint"] == "ckpt/mine.pth" and "weights_dir" in paths


def test_the_own_data_template_plans(tmp_path, in_repo):
    """examples/own-data.yaml (README "Your own data in three commands") is a valid config: with its dataset
    folder in place (37 classes, as its heads declare) the plan builds and runs every check."""
    root = tmp_path / "pets"
    classes = ["Abyssinian", *(f"breed_{i:02d}" for i in range(36))]
    for split in ("train", "val"):
        for name in classes:
            (root / split / name).mkdir(parents=True)
    with pytest.raises(ValueError, match="config models.pets_vit.checkpoint: '/models/pets/vit_b16_pets.pth'"):
        plan_of({"dataset": {"root": str(root)}}, files=("config.yaml", "examples/own-data.yaml"))
    models = {"pets_vit": {"checkpoint": str(tmp_path / "vit.pth")},
              "pets_mine": {"checkpoint": str(tmp_path / "n.pt")}}
    for entry in models.values():
        Path(entry["checkpoint"]).touch()
    plan = plan_of({"dataset": {"root": str(root)}, "models": models}, files=("config.yaml", "examples/own-data.yaml"))
    assert plan.catalog.kind == "folder" and len(plan.catalog.ids) == 37
    assert plan.model_keys == ["pets_vit", "pets_mine"] and plan.space_keys == ["openai_vitl14", "eva02_l14"]
    assert plan.chunk_holding("Abyssinian") in plan.chunk_ids("analysis")


def test_the_authors_translators_example_plans(in_repo):
    """examples/authors-translators.yaml (docs/published.md) plans with the authors' real files: both translators
    pass every check that needs no weights (linear, 768 = openai_vitl14's dimension, Karlo backend = that space),
    and their dictionary reads with its mean row in that space."""
    plan = plan_of({"dataset": {"root": "/nowhere/imagenet"}},
                   files=("config.yaml", "examples/authors-translators.yaml"))
    assert set(plan.published) == {("convnext", "openai_vitl14"), ("deit", "openai_vitl14")} and plan.fitted == []
    assert plan.translator_sample_models() == [] and plan.concept_dictionaries == {"openai_vitl14": ["builtin",
                                                                                                    "broden"]}


def test_rules_keep_paths_and_glue_only():
    """Planning lives in sing.workflow (unit-tested here): rules/common.smk keeps paths, input functions and the
    Snakemake glue in at most 300 lines, rules/execution.smk the run-time glue (resources, container, SLURM)."""
    common = (REPO / "rules" / "common.smk").read_text().splitlines()
    assert len(common) <= 300, f"rules/common.smk has {len(common)} lines"
    execution = (REPO / "rules" / "execution.smk").read_text()
    assert "\nrule " not in execution and "\nrule " not in "\n".join(common)
