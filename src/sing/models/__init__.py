"""Pretrained models behind one interface each: classifiers split into feature f and head (W, b) with a logit
self-check (``classifiers``), CLIP spaces (``clip_spaces``), the weight cache and offline loading
(``weights``), and the prefetch step (``prefetch``). Imports core only; torch at import time."""
