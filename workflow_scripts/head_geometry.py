"""Head SVD for one model: principal / null bases of the exported head W (paper eqs. 1-3).

input: head     params: atol, rtol     output: geometry
"""

import logging

from sing.core.geometry import head_geometry
from sing.io.logs import setup_logging
from sing.io.tables import read_head

setup_logging(snakemake.log[0])
W, _ = read_head(snakemake.input.head)
geometry = head_geometry(W, atol=snakemake.params.atol, rtol=snakemake.params.rtol)
logging.info("W %s: rank %d, nullity %d, sigma max %.4g, sigma min %.4g", W.shape, geometry.rank, geometry.nullity,
             geometry.singular_values[0], geometry.singular_values[-1])
geometry.save(snakemake.output.geometry)
