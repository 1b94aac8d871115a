"""Parametric top-down silhouettes in a local frame.

Frame: x forward (the nose or bow at +length/2), y to starboard, units in pixels. A shape is a
list of parts `(polygon (K, 2) float64, part name)` painted in list order; the painter colours
parts by name. Planes have a fuselage, swept wings, a tail plane, a fin and engines.
"""

from __future__ import annotations

import dataclasses

import numpy as np

PLANE_KINDS = ("airliner", "bizjet", "prop")

Part = tuple[np.ndarray, str]


@dataclasses.dataclass(frozen=True)
class PlaneParams:
    """Geometry of one plane; ratios are fractions of `length`."""

    kind: str
    length: float
    span_ratio: float  # wing span / length
    fuselage_ratio: float  # fuselage width / length
    sweep_deg: float  # leading-edge sweep of the wings
    wing_x: float  # wing root leading edge, from the centre (+ forward)
    root_chord: float
    taper: float  # tip chord / root chord
    tail_span_ratio: float
    engines: int  # 0, 2 or 4 on the wings; bizjets carry 2 at the rear instead


# Uniform ranges per kind: span, fuselage width, sweep (deg), wing x, root chord, taper, tail span.
RANGES = {
    "airliner": dict(span_ratio=(0.88, 1.05), fuselage_ratio=(0.09, 0.12), sweep_deg=(24, 36),
                     wing_x=(0.08, 0.16), root_chord=(0.24, 0.3), taper=(0.25, 0.4),
                     tail_span_ratio=(0.34, 0.42)),
    "bizjet": dict(span_ratio=(0.8, 0.98), fuselage_ratio=(0.1, 0.13), sweep_deg=(18, 30),
                   wing_x=(0.02, 0.1), root_chord=(0.2, 0.26), taper=(0.35, 0.5),
                   tail_span_ratio=(0.3, 0.38)),
    "prop": dict(span_ratio=(1.15, 1.4), fuselage_ratio=(0.11, 0.14), sweep_deg=(0, 6),
                 wing_x=(0.12, 0.2), root_chord=(0.16, 0.2), taper=(0.55, 0.85),
                 tail_span_ratio=(0.36, 0.44)),
}  # fmt: skip
ENGINES = {"airliner": (2, 2, 4), "bizjet": (0,), "prop": (0, 2)}  # drawn uniformly


def sample_plane_params(rng: np.random.Generator, length: float) -> PlaneParams:
    """Draw a plane of the given length; the kind follows the size (small ones are mostly props)."""
    if length < 13:
        kind = str(rng.choice(["prop", "bizjet"], p=[0.75, 0.25]))
    elif length < 20:
        kind = str(rng.choice(PLANE_KINDS, p=[0.35, 0.4, 0.25]))
    else:
        kind = str(rng.choice(["airliner", "bizjet"], p=[0.85, 0.15]))
    values = {key: float(rng.uniform(*span)) for key, span in RANGES[kind].items()}
    return PlaneParams(kind, length, engines=int(rng.choice(ENGINES[kind])), **values)


def _fuselage(p: PlaneParams) -> np.ndarray:
    """(2K, 2) outline: a rounded nose and a tail tapering to a third of the width."""
    half, radius = p.length / 2, p.fuselage_ratio * p.length / 2
    nose_len, tail_len = 2.2 * radius, 0.3 * p.length
    x = np.linspace(half, -half, 14)
    width = np.ones_like(x)
    nose = x > half - nose_len
    width[nose] = np.sqrt(np.clip((half - x[nose]) / nose_len, 0.05, 1))
    tail = x < -half + tail_len
    width[tail] = 0.3 + 0.7 * (x[tail] + half) / tail_len
    y = radius * width
    return np.concatenate([np.stack([x, y], 1), np.stack([x[::-1], -y[::-1]], 1)])


def _wing_pair(
    x_root: float,
    root_y: float,
    semi_span: float,
    sweep_deg: float,
    root_chord: float,
    tip_chord: float,
) -> list[np.ndarray]:
    """Starboard and port trapezoids; the leading edge swept back by `sweep_deg`."""
    back = (semi_span - root_y) * np.tan(np.radians(sweep_deg))
    right = np.array(
        [
            [x_root, root_y],
            [x_root - back, semi_span],
            [x_root - back - tip_chord, semi_span],
            [x_root - root_chord, root_y],
        ]
    )
    return [right, right * np.array([1.0, -1.0])]


def _pod(x: float, y: float, length: float, width: float) -> np.ndarray:
    """(4, 2) rectangle centred on (x, y), long along x."""
    return np.array(
        [
            [x + length / 2, y - width / 2],
            [x + length / 2, y + width / 2],
            [x - length / 2, y + width / 2],
            [x - length / 2, y - width / 2],
        ]
    )


def plane_parts(p: PlaneParams) -> list[Part]:
    """Parts in paint order: engines under the wings, wings, tail plane, fuselage, fin."""
    L, half = p.length, p.length / 2
    root_y = 0.45 * p.fuselage_ratio * L
    semi = p.span_ratio * L / 2
    chord = p.root_chord * L
    wing_x = p.wing_x * L
    parts: list[Part] = []
    eng_len, eng_w = max(0.13 * L, 1.5), max(0.055 * L, 1.0)
    back_per_y = np.tan(np.radians(p.sweep_deg))
    stations = {0: [], 2: [0.38], 4: [0.32, 0.62]}[p.engines]
    for frac in stations:
        y = root_y + frac * (semi - root_y)
        x = wing_x - (y - root_y) * back_per_y + 0.25 * eng_len
        parts += [(_pod(x, side * y, eng_len, eng_w), "engine") for side in (1, -1)]
    parts += [
        (w, "wing") for w in _wing_pair(wing_x, root_y, semi, p.sweep_deg, chord, p.taper * chord)
    ]
    tail_x = -half + 0.2 * L
    parts += [
        (w, "wing")
        for w in _wing_pair(
            tail_x, 0.3 * root_y, p.tail_span_ratio * L / 2, p.sweep_deg + 6, 0.13 * L, 0.06 * L
        )
    ]
    if p.kind == "bizjet":  # rear-mounted engines beside the fuselage
        y = root_y + 0.6 * eng_w + 0.3
        parts += [
            (_pod(-half + 0.33 * L, side * y, eng_len, eng_w * 1.1), "engine") for side in (1, -1)
        ]
    parts.append((_fuselage(p), "body"))
    fin_w = max(0.25 * p.fuselage_ratio * L, 0.6)
    parts.append((_pod(-half + 0.12 * L, 0.0, 0.22 * L, fin_w), "fin"))
    return parts


def car_parts(length: float, width: float) -> list[Part]:
    """A car: body and a darker windscreen band just ahead of the roof."""
    return [
        (_pod(0, 0, length, width), "body"),
        (_pod(0.12 * length, 0, 0.18 * length, 0.8 * width), "glass"),
    ]


def truck_parts(length: float, width: float, bus: bool) -> list[Part]:
    """A truck (cab and cargo box with a gap) or a bus (one long body with a roof stripe)."""
    if bus:
        return [
            (_pod(0, 0, length, width), "body"),
            (_pod(0, 0, 0.8 * length, 0.35 * width), "roof"),
        ]
    cab = 0.24 * length
    return [
        (_pod(length / 2 - cab / 2, 0, cab, 0.9 * width), "cab"),
        (_pod(-0.12 * length, 0, 0.7 * length, width), "body"),
    ]


def boat_parts(length: float, width: float) -> list[Part]:
    """A hull with a pointed bow and a cabin block."""
    half, w = length / 2, width / 2
    hull = np.array(
        [
            [half, 0],
            [half - 0.32 * length, w],
            [-half, 0.8 * w],
            [-half, -0.8 * w],
            [half - 0.32 * length, -w],
        ]
    )
    return [(hull, "body"), (_pod(-0.1 * length, 0, 0.28 * length, 0.9 * w), "cabin")]
