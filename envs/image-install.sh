#!/bin/sh
# Installs the pinned stack (envs/requirements.txt) and the sing package into /opt/sing/venv.
# Shared by envs/sing.def (Apptainer) and envs/Containerfile (OCI) so both images hold the same software.
# Usage: sh image-install.sh SRC   (SRC: a copy of the repository holding pyproject.toml and envs/)
set -eu
SRC=${1:?usage: image-install.sh SRC}
export DEBIAN_FRONTEND=noninteractive
# python-is-python3: Snakemake runs `script:` files as `python` inside the image.
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python-is-python3 ca-certificates procps
python3 -m venv /opt/sing/venv
# build-ca.crt: the build host's CA bundle (staged by envs/build-image; empty if none), for sites whose
# traffic to PyPI passes a TLS proxy. Used for this install only.
CA=/opt/sing/build-ca.crt
if [ -s "$CA" ]; then export PIP_CERT="$CA"; fi
/opt/sing/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r "$SRC/envs/requirements.txt" "$SRC"
# the image must work offline and without the build tree
/opt/sing/venv/bin/python -c "import sing, torch, torchvision, timm, open_clip, snakemake; print('sing image ok: torch', torch.__version__)"
apt-get clean
rm -rf /var/lib/apt/lists/* "$SRC" "$CA"
