"""UnCLIP visualisations (supp. §3.2; main Fig. 6, supp. Figs. 11 and 13): the Karlo image-variation pipeline
(``pipeline``), seeded batch-invariant rendering (``render``), the embeddings to render (``embeddings``: eq. 19
rescaling; steering comes from :mod:`sing.analysis.steering`) and contact sheets (``sheet``)."""
