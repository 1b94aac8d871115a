"""Procedural top-down airport scenes for the demo (the entry point is `workflow.scenes.demo_scenes`).

shapes: parametric silhouettes in a local frame; painter: rasterising and painting them with a
cast shadow, and the label measured from the painted pixels; layout: the airport plan and its
region map; surface: textures, markings and buildings; placement: planes on tarmac without
overlaps; vehicles: cars, trucks and boats; scene: one whole scene; writers: the xView
(GeoTIFF + GeoJSON) and DOTA (PNG + labelTxt) formats.
"""
