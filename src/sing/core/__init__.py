"""The math of SING: head geometry (principal / null spaces), the ridge translator, AS/IS angles,
null-space perturbations and steering, and the array validation they share. Imports nothing from sing but
itself (and numpy/scipy; torch only when a caller passes tensors)."""
