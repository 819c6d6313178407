"""Issue 19, kind 1: a worker failure, a stalled loader or a missing requested device stops the job within a bounded
time with a message naming the cause and the knobs; ``device: cuda`` (or a GPU job on ``auto``) never silently
runs on the CPU."""

from __future__ import annotations

import os
import runpy
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# one extraction in a fresh process whose /dev/shm is a small tmpfs (a private mount namespace: we are root)
JOB = textwrap.dedent("""
    import logging, os, sys, time
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    import numpy as np
    from PIL import Image
    import sing.data.extraction as ex
    from sing.models.classifiers import load_classifier
    workers, batch, n, preflight = (int(a) for a in sys.argv[1:5])
    folder = sys.argv[5]
    os.makedirs(folder, exist_ok=True)
    ids = []
    for i in range(n):
        path = os.path.join(folder, f"{i}.png")
        if not os.path.exists(path):
            Image.fromarray(np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        ids.append(f"{i}.png")
    if not preflight:  # as if /dev/shm filled up after the check: the run-time path
        ex.check_shared_memory = lambda *a, **k: ex.PREFETCH_FACTOR
    model = load_classifier("t", {"source": "timm", "name": "test_vit", "pretrained": False}, self_check=False)
    t = time.time()
    out = ex.extract_classifier(model, ids, folder, batch_size=batch, num_workers=workers, progress=False)
    ref = ex.extract_classifier(model, ids, folder, batch_size=batch, num_workers=0, progress=False)
    assert np.array_equal(out["features"], ref["features"]) and out["image_ids"] == ref["image_ids"]
    print("EXTRACTED", len(out["image_ids"]), round(time.time() - t, 1), flush=True)
""")


def _in_small_shm(tmp_path, size: str, *args: int, limit: float = 150) -> tuple[subprocess.CompletedProcess, float]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private /dev/shm")
    script = tmp_path / "job.py"
    script.write_text(JOB)
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
           f'mount -t tmpfs -o size={size} tmpfs /dev/shm && exec "$0" "$@"', sys.executable, str(script),
           *map(str, args), str(tmp_path / "images")]
    t = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the extraction did not return within {limit} s (a hung DataLoader): {e.stderr}")
    return proc, time.monotonic() - t


def test_workers_in_a_64mb_shm_stop_the_job_naming_shared_memory_and_the_knobs(tmp_path):
    """The issue's example: Docker's default 64 MB /dev/shm, 8 workers, batches of 128 (160 px): the workers printed
    'unable to allocate shared memory' and the job never returned. Now it stops before starting them."""
    proc, seconds = _in_small_shm(tmp_path, "64m", 8, 128, 128, 1)
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr
    assert "DataLoaderError" in err and "/dev/shm" in err and "64 MB" in err, err[-3000:]
    assert "extraction.num_workers: 0" in err and "extraction.batch_size" in err and "--shm-size" in err
    assert seconds < 120


def test_shared_memory_exhausted_while_running_is_reported_not_hung(tmp_path):
    """The same fault found at run time (e.g. another process filled /dev/shm after the check): the batch is stacked
    into shared memory inside the worker, so the failure reaches the job instead of a feeder thread's print."""
    proc, seconds = _in_small_shm(tmp_path, "64m", 8, 128, 384, 0)  # several batches in flight
    assert proc.returncode != 0, proc.stdout
    assert "DataLoaderError" in proc.stderr and "ran out of shared memory" in proc.stderr, proc.stderr[-3000:]
    assert "extraction.num_workers" in proc.stderr
    assert seconds < 120


def test_workers_that_fit_with_less_prefetch_run_and_match_no_workers(tmp_path):
    """Batches of 24 images (160 px, 7.4 MB): 4 per worker and one in use do not fit in 64 MB, 3 do: the loader
    prefetches fewer (logged) and the features equal those of a run without workers."""
    proc, _ = _in_small_shm(tmp_path, "64m", 2, 24, 48, 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "EXTRACTED 48" in proc.stdout and "prefetching 3" in proc.stderr, proc.stderr[-2000:]


# ---------------------------------------------------------------- a stalled or dying worker (second members)
def _image_folder(tmp_path, n=8):
    from PIL import Image

    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(tmp_path / f"{i}.png")
    return [f"{i}.png" for i in range(n)]


def _to_tensor(img):
    return torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1)


def _encode(x):
    return x.flatten(1)[:, :4]


def _stall(img):
    if torch.utils.data.get_worker_info() is not None:
        time.sleep(600)  # an image read that never returns (a hung network file system)
    return _to_tensor(img)


def _die(img):
    if torch.utils.data.get_worker_info() is not None:
        os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
    return _to_tensor(img)


def _run(transform, ids, root, **kw):
    from sing.data.extraction import _run

    return _run(_encode, transform, ids, root, batch_size=4, precision="fp32", device=torch.device("cpu"),
                num_workers=2, on_bad_image="fail", channels_last=False, progress=False, desc="t", **kw)


def test_a_stalled_loader_stops_the_job_in_bounded_time(tmp_path):
    from sing.data.extraction import DataLoaderError

    ids = _image_folder(tmp_path)
    t = time.monotonic()
    with pytest.raises(DataLoaderError) as e:
        _run(_stall, ids, tmp_path, loader_timeout=3)
    assert time.monotonic() - t < 60
    msg = str(e.value)
    assert "no batch arrived" in msg and "3 s" in msg and "extraction.num_workers" in msg
    assert "extraction.loader_timeout" in msg


def test_a_killed_worker_stops_the_job_naming_memory(tmp_path):
    from sing.data.extraction import DataLoaderError

    ids = _image_folder(tmp_path)
    t = time.monotonic()
    with pytest.raises(DataLoaderError, match=r"worker died.*Killed.*mem_mb.*extraction.num_workers"):
        _run(_die, ids, tmp_path, loader_timeout=120)
    assert time.monotonic() - t < 60


def test_errors_of_the_images_themselves_are_left_as_they_are(tmp_path):
    from sing.data.extraction import DataLoaderError

    ids = _image_folder(tmp_path)

    def bad_transform(img):
        raise RuntimeError("transform bug")

    with pytest.raises(RuntimeError, match="transform bug") as e:
        _run(bad_transform, ids, tmp_path)
    assert not isinstance(e.value, DataLoaderError)


def test_check_shared_memory_arithmetic(tmp_path, monkeypatch):
    import sing.data.extraction as ex

    monkeypatch.setattr(ex, "shm_free", lambda shm_dir=ex.SHM_DIR: (100 * 2**20, 128 * 2**20))
    mb = 2**20
    assert ex.check_shared_memory(mb, 1, 2, 4) == 4  # (2*4+1) MB <= 90 MB
    assert ex.check_shared_memory(mb, 10, 2, 4) == 4  # 90 MB
    assert ex.check_shared_memory(mb, 10, 4, 4) == 2  # 170 MB > 90; 90 MB at prefetch 2
    with pytest.raises(ex.DataLoaderError, match="100 MB free of 128 MB"):
        ex.check_shared_memory(mb, 40, 4, 4)
    assert ex.check_shared_memory(mb, 40, 0, 4) == 4  # no workers, no shared memory


# ---------------------------------------------------------------- devices
def test_gpu_evidence(tmp_path):
    from sing.models.devices import gpu_evidence

    dev = tmp_path / "dev"
    dev.mkdir()
    assert gpu_evidence({}, str(dev)) == []
    (dev / "nvidia0").touch()
    (dev / "nvidiactl").touch()
    assert gpu_evidence({}, str(dev)) == [f"device files {dev}/nvidia0"]
    assert gpu_evidence({"CUDA_VISIBLE_DEVICES": ""}, str(dev)) == []  # hidden on purpose
    assert gpu_evidence({"SLURM_JOB_GPUS": "3", "SLURM_GPUS_ON_NODE": "1"}, str(tmp_path)) == [
        "SLURM_JOB_GPUS=3", "SLURM_GPUS_ON_NODE=1"]
    assert gpu_evidence({"SLURM_GPUS_ON_NODE": "0", "NVIDIA_VISIBLE_DEVICES": "void"}, str(tmp_path)) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a usable GPU")
def test_auto_never_silently_falls_back_to_the_cpu_in_a_gpu_job(monkeypatch):
    """Second member (issue kind 2b seen at run time): a GPU job whose container lost --nv. SLURM allocated a GPU
    (CUDA_VISIBLE_DEVICES set), torch sees none: `auto` used to run on the CPU without a word."""
    from sing.models.devices import DeviceError, resolve_device

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("SLURM_JOB_GPUS", "0")
    with pytest.raises(DeviceError) as e:
        resolve_device("auto")
    msg = str(e.value)
    assert "SLURM_JOB_GPUS=0" in msg and "extraction.device: cpu" in msg
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("SLURM_JOB_GPUS")
    if not any(n.startswith("nvidia") for n in os.listdir("/dev")):
        assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceError, match=r"extraction.device 'cuda' requested.*CUDA_VISIBLE_DEVICES=''"):
        resolve_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a usable GPU")
@pytest.mark.parametrize("script, settings", [
    ("extract_features", {"extraction": {"device": "cuda"}}),
    ("embed_texts", {"extraction": {"device": "cuda"}}),
    ("train_probe", {"extraction": {"device": "cuda"}, "analyses": {}}),
    ("unclip_pictures", {"extraction": {"device": "cuda"}, "unclip": {}}),
])
def test_every_job_that_takes_a_device_checks_it_first(tmp_path, script, settings):
    """`device: cuda` on a machine without CUDA: each job that takes a device stops at its start (its inputs do not
    even exist here), naming the cause and extraction.device, instead of running on the CPU or failing later."""
    from sing.models.devices import DeviceError

    smk = SimpleNamespace(params=SimpleNamespace(settings=settings), log=[str(tmp_path / "job.log")], threads=1,
                          input=SimpleNamespace(), output=SimpleNamespace(), wildcards={}, config={})
    t = time.monotonic()
    with pytest.raises(DeviceError, match="extraction.device 'cuda' requested"):
        runpy.run_path(str(REPO / "workflow_scripts" / f"{script}.py"), init_globals={"snakemake": smk},
                       run_name="__main__")
    assert time.monotonic() - t < 30


def test_the_error_that_stops_a_job_is_in_its_log(tmp_path):
    """Kind 1, another member: a job script's uncaught error went to stderr only, so the log Snakemake points at
    ("check log file(s) for error details") was empty, and on SLURM the cause sat in the cluster's own output file
    (seen with a module run whose GPU job stopped with DeviceError). setup_logging logs it with its traceback."""
    log = tmp_path / "job.log"
    code = ("from sing.io.logs import setup_logging\nsetup_logging(__import__('sys').argv[1])\n"
            "setup_logging(__import__('sys').argv[1])\n"  # called twice: the error is still logged once
            "raise RuntimeError('extraction.device cuda requested but CUDA is not usable')\n")
    proc = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "RuntimeError" in proc.stderr  # stderr keeps it too
    text = log.read_text()
    assert text.count("the job failed: RuntimeError: extraction.device cuda requested") == 1
    assert "Traceback (most recent call last)" in text
