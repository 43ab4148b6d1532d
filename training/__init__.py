"""Training and fine-tuning of the HER2 models, headless (no Qt): `her2viewer train` is its command line.

Modules: `items` (labelled items from a folder or CSV), `data` (PSS / low-resolution / patch datasets and
seeded loaders), `augment` (flips, rotations, affine, H-DAB stain jitter applied alike to every patch of a
sample), `cv` (patient-wise splits), `loop` (weighted cross entropy, AdamW, plateau schedule, early
stopping, resumable state), `state` (training state as safetensors + JSON), `evaluate` (N/k protocol),
`metrics`, `config` (TOML + flags), `runner` (a whole run and its model card), `synth_data` (the
synthetic training / test sets of the bundled models).
"""
