"""Altair figures of the paper (and the leakage baseline), from the analysis tables: shared theme and helpers
(``theme``), model-level (``ratios``), class-level (``classes``), experiments (``experiments``), head spectra
(``spectra``), and building / writing by figure name (``render``). Imports analysis and below; never torch."""
