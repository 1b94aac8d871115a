"""Inpainting synthetic planes into background tiles with RePaint (Lugmayr et al. 2022).

timetable (the jump schedule), repaint (the sampler), placement (tile, plane, window, label),
cherry (the plane-vs-background scores), settings (the `inpaint` config section), run (one
chunk's command), merge (a set's manifest and contact sheet).
"""
