"""The analyses of the paper (and a leakage baseline beyond it), one module per analysis, on top of
:mod:`sing.core`: ``stats`` (ranks, correlations, bootstrap), ``scores`` (image level, random-subspace
baseline), ``summaries`` (class / model level), ``comparisons`` (between models and spaces), ``translation``,
``steering``, ``validation``, ``robustness`` (+ ``probe``, its linear probe), ``open_vocabulary`` (+ ``concepts``,
the default vocabularies).

Pure math on arrays and polars tables; angles in degrees; deterministic (random draws from
``numpy.random.default_rng`` seeded by the caller, rows sorted by their key columns). Each table's column tuple
lives in the module that produces it.
"""
