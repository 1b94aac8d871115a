"""Diffusion models: the ADM network family and its training.

Networks (one job per module): `nn` (building blocks), `unet` (UNetModel, checkpoint-compatible),
`classifier` (EncoderUNetModel, the noisy classifier), `adapter` (time-aware adapter),
`condition` (condition encoder, CONDITIONS), `finetune` (FINETUNE_MODES, which parameters train),
`presets` (build_unet / build_classifier by preset name).
"""
