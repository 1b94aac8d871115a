"""Inpainting synthetic planes into background tiles with RePaint (Lugmayr et al. 2022).

timetable (the jump schedule), repaint (the sampler), placement (tile, plane, window, label),
settings (the `inpaint` config section), run (one chunk's command: K candidates per placement
scored by the cherry-picker's `plane_probability`), merge (a set's manifest and contact sheet).
"""
