"""Diffusion models: the ADM network family (Dhariwal & Nichol 2021) and its training.

Networks, one job per module: `nn` (building blocks), `unet` (UNetModel, checkpoint-compatible
with guided-diffusion), `classifier` (EncoderUNetModel, the noisy classifier), `adapter` (the
time-aware adapter of Moon et al. 2022), `condition` (condition encoder; CONDITIONS),
`finetune` (FINETUNE_MODES: which parameters train), `presets` (build_unet / build_classifier
by preset name). The diffusion process, losses, checkpoints and training CLIs live beside them.
"""
