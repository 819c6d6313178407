"""Issue 19, kind 3: any legal path or folder name works wherever sing passes it on (globs, delimited lists,
shell command lines, bind specs, name comparisons), or is refused up front naming the character and why."""

from __future__ import annotations

import re
import runpy
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow_scripts"


def _script(name: str, tmp_path: Path, *, input: dict, output: dict, wildcards: dict | None = None) -> None:
    """Run a workflow script with a stand-in `snakemake` object."""
    from snakemake.iocontainers import Namedlist

    def nl(d):
        return Namedlist(fromdict={k: (list(map(str, v)) if isinstance(v, list) else str(v)) for k, v in d.items()})

    smk = SimpleNamespace(input=nl(input), output=nl(output), params=Namedlist(fromdict={"settings": {}}),
                          wildcards=Namedlist(fromdict=wildcards or {}), log=[str(tmp_path / "logs" / f"{name}.log")],
                          threads=1, config={})
    runpy.run_path(str(SCRIPTS / f"{name}.py"), init_globals={"snakemake": smk}, run_name="__main__")


def _tables(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        p = folder / f"m{i}" / "steering.parquet"
        p.parent.mkdir(parents=True)
        pl.DataFrame({"model": [f"m{i}"], "space": ["s"], "value": [float(i)]}).write_parquet(p)
        paths.append(p)
    return paths


def test_collect_table_under_a_folder_named_with_brackets(tmp_path):
    """The issue's example: results_dir under `run[1]` made every collect_table job crash with polars
    'expanded paths were empty' (the path was read as a glob)."""
    results = tmp_path / "run[1]" / "results"
    paths = _tables(results / "tables" / "per_model", 3)
    out = results / "tables" / "steering.parquet"
    _script("collect", tmp_path, input={"tables": paths}, output={"table": out}, wildcards={"table": "steering"})
    assert pl.read_parquet(out, glob=False)["model"].to_list() == ["m0", "m1", "m2"]


def test_a_folder_whose_name_is_a_glob_reads_only_its_own_file(tmp_path):
    """Second member: a folder named `m*` (legal on Linux): read as a glob it also matched the neighbouring
    folders, so the global table silently held rows of other runs. Every sing table reader takes a path as a path."""
    from sing.io.storage import read_frame
    from sing.io.tables import read_scores

    star = tmp_path / "m*"
    star.mkdir()
    pl.DataFrame({"class_index": [0], "image_id": ["a"]}).write_parquet(star / "x.parquet")
    for other in ("m1", "mx"):
        (tmp_path / other).mkdir()
        pl.DataFrame({"class_index": [1], "image_id": [other]}).write_parquet(tmp_path / other / "x.parquet")
    assert read_frame(star / "x.parquet")["image_id"].to_list() == ["a"]
    assert read_scores([star])["image_id"].to_list() == ["a"]
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "m?" / "x.parquet"))):
        read_frame(tmp_path / "m?" / "x.parquet")


def test_no_table_reader_expands_globs():
    """Every parquet read in the library and the workflow scripts goes through a reader that takes a path as a
    path: polars' read/scan_parquet default to glob=True (an open-ended list of call sites is how the
    example happened)."""
    offenders = []
    for folder in ("src/sing", "workflow_scripts", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            for m in re.finditer(r"pl\.(read|scan)_(parquet|ipc|csv|ndjson)\(", text):
                call = text[m.start(): text.find("\n", m.start())]
                if "glob=False" not in call:
                    offenders.append(f"{path.relative_to(REPO)}: {call.strip()}")
    assert not offenders, offenders


@pytest.mark.parametrize("name", ["run[1]", "a b", "Bob's data", "x*y?", "naïve", "semi;colon", "dollar$HOME",
                                  "hash#1", "brace{x}", "comma,1", "colon:1"])
def test_storage_round_trips_any_legal_folder_name(tmp_path, name):
    from sing.io.pairs import read_chunk_dirs, read_image_ids
    from sing.io.storage import write_embeddings

    d = tmp_path / name / "chunk-000"
    d.mkdir(parents=True)
    write_embeddings(d / "c.parquet", image_ids=["i0", "i1"], split="val", class_index=[0, 0], class_id=["c", "c"],
                     features=np.eye(2, dtype=np.float32),
                     metadata={"kind": "clip", "model": "m", "weights_id": "w", "preprocess": {}, "precision": "fp32"})
    frame, F = read_chunk_dirs([d])
    assert frame["image_id"].to_list() == ["i0", "i1"] and F.shape == (2, 2)
    assert read_image_ids([d]) == {"i0", "i1"}


# ---------------------------------------------------------------- delimited lists, bind specs, shell quoting
@pytest.mark.parametrize("char, why", [(",", "comma-separated"), (":", "src:dest")])
def test_apptainer_bind_refuses_a_path_it_would_split(tmp_path, char, why):
    from sing.io.paths import apptainer_binds

    bad = tmp_path / f"data{char}1"
    bad.mkdir()
    with pytest.raises(ValueError) as e:
        apptainer_binds({"dataset.root": bad}, cwd=tmp_path / "wf")
    msg = str(e.value)
    assert "dataset.root" in msg and repr(char) in msg and why in msg and str(bad) in msg


def test_apptainer_binds_other_odd_names_and_existing_parents(tmp_path):
    from sing.io.paths import apptainer_binds

    odd = tmp_path / "run[1] x's ü"
    odd.mkdir()
    wf = tmp_path / "wf"
    wf.mkdir()
    binds = apptainer_binds({"results_dir": odd / "not yet" / "made", "weights_dir": wf / "weights",
                             "dataset.root": odd}, cwd=wf, existing="/site/a,/site/b")
    assert binds == "/site/a,/site/b," + str(odd.resolve())  # inside cwd: not bound; a missing folder: its parent


@pytest.mark.parametrize("name, char", [("a\\b", "\\"), ("it's $HOME", "$"), ("line\nbreak", "\n"), ("tab\tx", "\t"),
                                        ('say "it\'s"', '"')])
def test_container_command_line_refuses_what_its_quoting_cannot_carry(tmp_path, name, char):
    """Snakemake quotes the working directory and bind paths of `apptainer exec` with Python's repr() inside
    `sh -c`: a single quote switches repr to double quotes ($ and ` expand), a backslash or a control character
    is escaped the Python way, which sh reads differently."""
    from sing.io.paths import check_path

    with pytest.raises(ValueError) as e:
        check_path(tmp_path / name, "working directory", uses=("container",))
    assert repr(char) in str(e.value) and "working directory" in str(e.value)
    check_path(tmp_path / "Bob's data [1] ü", "working directory", uses=("container", "bind"))


@pytest.mark.parametrize("name", ["run{1}", "x}"])
def test_snakemake_patterns_refuse_braces(tmp_path, name):
    from sing.io.paths import check_path

    with pytest.raises(ValueError, match=r"results_dir.*'\{'|results_dir.*'\}'"):
        check_path(tmp_path / name, "results_dir", uses=("pattern",))


def test_check_paths_names_the_key_for_every_use():
    from sing.io.paths import PATH_USES, check_path

    with pytest.raises(ValueError, match="uses"):
        check_path("/x", "k", uses=("nope",))
    assert set(PATH_USES) == {"pattern", "bind", "container", "command"}


# ---------------------------------------------------------------- name comparisons
def test_class_index_and_folders_that_differ_only_in_unicode_form_are_named(tmp_path):
    """A class-index file written on one system (NFC 'café') and class folders made on another (macOS: NFD)
    look identical in the error; the message says they differ only in Unicode normalisation."""
    from sing.data.classes import catalog_from_settings

    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    for c in (nfd, "dog"):
        (tmp_path / "data" / "val" / c).mkdir(parents=True)
    index = tmp_path / "classes.txt"
    index.write_text(f"{nfc}\ndog\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Unicode normalisation"):
        catalog_from_settings({"kind": "folder", "root": str(tmp_path / "data"), "class_index": str(index)})


@pytest.mark.parametrize("key, char", [("vit/b16", "'/'"), ("vit b16", "' '"), ("res+net", "'+'"), ("a|b", "'|'"),
                                       ("m{1}", "'{'"), ("naïve", "'ï'")])
def test_model_keys_that_would_act_in_paths_or_wildcard_regexes_are_refused(key, char):
    """Name comparisons: a model key is matched by Snakemake through a regular expression built from the keys and
    names result folders; characters that act there are refused naming the key."""
    from sing.io.paths import check_key

    with pytest.raises(ValueError, match=re.escape(char)):
        check_key(key, "config models")
    assert check_key("vit_b16.augreg-in21k", "config models") == "vit_b16.augreg-in21k"
    with pytest.raises(ValueError, match="start with a letter"):
        check_key("-x", "config models")


def test_a_local_image_path_must_be_one_shell_word(tmp_path):
    """Snakemake puts a local `container` image path unquoted on the `apptainer exec` command line (a URI is
    cached under a hashed name): a space, `$`, `;`, `'` or `(` there is refused naming the key and character."""
    from sing.io.paths import apptainer_environment

    for bad, char in [("/images/my sing.sif", "' '"), ("/images/$HOME.sif", "'$'"), ("/img/a;b.sif", "';'"),
                      ("/img/it's.sif", '"\'"'), ("/img/(x).sif", "'('")]:
        with pytest.raises(ValueError, match=rf"config container: .*holds {re.escape(char)}"):
            apptainer_environment({}, cwd=tmp_path, image=bad, environ={})
    for fine in ("oras://ghcr.io/sing-workflow/sing:0.1.0", "docker://x/y z", "/images/sing-0.1.0+cu12_a@b.sif"):
        assert apptainer_environment({}, cwd=tmp_path, image=fine, environ={})["APPTAINER_NV"] == "1"


def test_a_pattern_holds_the_path_as_written(tmp_path, monkeypatch):
    """`{` in the folder a relative results_dir sits in never reaches Snakemake's patterns (they hold
    `results/...`): not refused; the same `{` in the path as written is."""
    from sing.io.paths import check_path

    work = tmp_path / "proj{1}"
    work.mkdir()
    monkeypatch.chdir(work)
    check_path("results/demo", "config results_dir", uses=("pattern",))
    with pytest.raises(ValueError, match=r"config results_dir: .*'\{'"):
        check_path(str(work / "results"), "config results_dir", uses=("pattern",))
