"""Head SVD for one model: principal / null bases of the exported head W (paper eqs. 1-3).

input: head     params.settings: head.{atol, rtol}     output: geometry, written (its content record)
"""

import logging

from sing.core.files import write_content_record
from sing.core.geometry import head_geometry
from sing.io.logs import setup_logging
from sing.io.provenance import provenance
from sing.io.tables import read_head

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
W, _ = read_head(snakemake.input.head)
geometry = head_geometry(W, atol=settings["head"]["atol"], rtol=settings["head"]["rtol"])
logging.info("W %s: rank %d, nullity %d, sigma max %.4g, sigma min %.4g", W.shape, geometry.rank, geometry.nullity,
             geometry.singular_values[0], geometry.singular_values[-1])
geometry.save(snakemake.output.geometry, provenance=provenance(settings))
write_content_record(snakemake.output.geometry, snakemake.output.written)
