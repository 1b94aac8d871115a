"""Diffusion-inpainted synthetic planes for limited-data detection: one module per stage."""
