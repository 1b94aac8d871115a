"""Contact sheets: a grid of small images with captions, so a person can judge a stage at a glance.

Captions are drawn with OpenCV's built-in Hershey font (no font file is needed offline).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.35
CAPTION_HEIGHT = 12  # px of the caption band under each cell at FONT_SCALE
BACKGROUND = (255, 255, 255)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 -> (H, W, 3) uint8 RGB."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"contact sheet images must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"contact sheet images must be (H, W) or (H, W, 3), got {image.shape}")


def luma(image: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 luma (ITU-R BT.601 weights)."""
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor, so single pixels stay visible."""
    if factor == 1:
        return image
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)


def overlay_mask(image_rgb: np.ndarray, mask: np.ndarray, color=(255, 0, 0), alpha=0.5):
    """(H, W, 3) uint8 image with the nonzero pixels of an (H, W) mask tinted by `color`."""
    out = image_rgb.astype(np.float32).copy()
    inside = np.asarray(mask) > 0
    out[inside] = (1 - alpha) * out[inside] + alpha * np.asarray(color, dtype=np.float32)
    return out.round().astype(np.uint8)


def grid(
    images: list[np.ndarray],
    captions: list[str] | None = None,
    columns: int = 8,
    scale: int = 1,
    gap: int = 2,
) -> np.ndarray:
    """Images of one size laid out in rows of `columns`, each enlarged by `scale` (nearest),
    with its caption (possibly empty) below -> (H, W, 3) uint8 RGB.
    """
    if not images:
        raise ValueError("contact sheet: no images to lay out")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"contact sheet: {len(images)} images but {len(captions)} captions")
    cells = [upscale(to_rgb(image), scale) for image in images]
    height, width = cells[0].shape[:2]
    if any(cell.shape[:2] != (height, width) for cell in cells):
        raise ValueError("contact sheet: all images must have the same size")
    band = CAPTION_HEIGHT if captions is not None else 0
    columns = min(columns, len(cells))
    rows = math.ceil(len(cells) / columns)
    sheet = np.full(
        (rows * (height + band + gap) + gap, columns * (width + gap) + gap, 3),
        BACKGROUND,
        dtype=np.uint8,
    )
    for index, cell in enumerate(cells):
        top = gap + (index // columns) * (height + band + gap)
        left = gap + (index % columns) * (width + gap)
        sheet[top : top + height, left : left + width] = cell
        if captions is not None:
            cv2.putText(
                sheet, captions[index][: max(1, width // 6)], (left, top + height + band - 3),
                FONT, FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA,
            )  # fmt: skip
    return sheet


def titled(sheet: np.ndarray, title: str) -> np.ndarray:
    """(H, W, 3) sheet with a band holding `title` above it (text cut to the sheet's width)."""
    band = np.full((CAPTION_HEIGHT + 6, sheet.shape[1], 3), BACKGROUND, dtype=np.uint8)
    cv2.putText(band, title[: max(1, sheet.shape[1] // 6)], (2, CAPTION_HEIGHT + 1), FONT,
                FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, sheet], axis=0)


def draw_box(image: np.ndarray, box, color=(255, 0, 0)) -> np.ndarray:
    """(H, W, 3) uint8 copy with the pixel box `xmin, ymin, xmax, ymax` (max exclusive) outlined."""
    out = image.copy()
    xmin, ymin, xmax, ymax = (int(round(float(v))) for v in box)
    cv2.rectangle(out, (xmin, ymin), (xmax - 1, ymax - 1), color, 1)
    return out
