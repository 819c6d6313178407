"""Head SVD for one model: principal / null bases of the exported head W (paper eq. 1-3)."""

import logging

from safetensors.numpy import load_file

from sing.geometry import head_geometry
from sing.storage import setup_logging

setup_logging(snakemake.log[0])
head = load_file(snakemake.input.head)
geometry = head_geometry(head["weight"], atol=snakemake.params.atol, rtol=snakemake.params.rtol)
logging.info(
    "W %s: rank %d, nullity %d, sigma max %.4g, sigma min %.4g",
    head["weight"].shape,
    geometry.rank,
    geometry.nullity,
    geometry.singular_values[0],
    geometry.singular_values[-1],
)
geometry.save(snakemake.output.geometry)
