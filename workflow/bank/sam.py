"""Segment Anything, prompted with each plane's box (method report, section D.3).

The model is built by segment_anything's own builders with `checkpoint=None`, and the weights
are loaded here with `torch.load(weights_only=True)` so that no pickled code runs. Crops are
encoded in batches through `Sam.forward`, the package's batched entry point, after the same
`ResizeLongestSide` transform that `SamPredictor` applies; on a GPU the image encoder runs there.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import torch
from segment_anything import sam_model_registry
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide

# Model type -> builder(checkpoint=None) -> Sam. The published types; other code (the tests'
# tiny SAM) may register more.
SAM_BUILDERS: dict[str, Callable[..., Sam]] = {
    name: sam_model_registry[name] for name in ("vit_b", "vit_l", "vit_h")
}
SAM_MODEL_TYPES = ("vit_b", "vit_l", "vit_h")  # what the config schema allows


def _shapes(state: dict) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in state.items()}


def _reference_shapes(model_type: str) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of a model type, built on the meta device (nothing allocated,
    even for vit_h)."""
    with torch.device("meta"):
        return _shapes(SAM_BUILDERS[model_type](checkpoint=None).state_dict())


def _model_type_of(state: dict) -> str | None:
    """The registered model type whose parameter names and shapes equal the state dict's."""
    wanted = _shapes(state)
    return next((name for name in SAM_BUILDERS if _reference_shapes(name) == wanted), None)


def read_checkpoint(path: str | None) -> dict[str, torch.Tensor]:
    """A SAM state dict from `path`, loaded with weights_only=True (no pickled code runs)."""
    if path is None or not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ValueError(
            f"config key 'masks.sam.checkpoint': method 'sam' needs a readable SAM checkpoint, "
            f"got {path!r}; give the path of sam_vit_b_01ec64.pth (or _l_/_h_), or set "
            f"masks.method to 'grabcut' or 'box' explicitly"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt file, or pickled objects beyond tensors
        raise ValueError(
            f"config key 'masks.sam.checkpoint': cannot load {path} as a weights-only "
            f"state dict: {error}"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"config key 'masks.sam.checkpoint': {path} is not a SAM state dict")
    return state


def load_sam(model_type: str, checkpoint: str | None, device: str) -> Sam:
    """Build SAM of `model_type`, load `checkpoint` strictly, move it to `device`, eval mode."""
    if model_type not in SAM_BUILDERS:
        raise ValueError(
            f"config key 'masks.sam.model_type': {model_type!r} is not one of {sorted(SAM_BUILDERS)}"
        )
    state = read_checkpoint(checkpoint)
    if _reference_shapes(model_type) != _shapes(state):
        found = _model_type_of(state)
        what = f"a {found} checkpoint" if found else "not a checkpoint of any known SAM type"
        raise ValueError(
            f"config key 'masks.sam.checkpoint': {checkpoint} is {what}, but "
            f"masks.sam.model_type is {model_type!r}; their parameter names or shapes differ"
        )
    model = SAM_BUILDERS[model_type](checkpoint=None)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def _best_mask(output: dict) -> np.ndarray:
    """The mask of highest predicted IoU from one image's Sam.forward output -> (H, W) bool."""
    masks = output["masks"][0]  # (C, H, W) bool, one box prompt per image
    best = int(torch.argmax(output["iou_predictions"][0]))
    return masks[best].cpu().numpy().astype(bool)


@torch.no_grad()
def sam_masks(model: Sam, images: list[np.ndarray], boxes: np.ndarray, batch_size: int) -> list:
    """Box-prompted SAM masks for a list of crops.

    images: N arrays (H, W, 3) uint8 RGB; boxes: (N, 4) float xmin, ymin, xmax, ymax in crop
    pixels. Returns N masks (H, W) bool. Each box is one unambiguous prompt, so the decoder
    returns a single mask (multimask_output=False, as SAM's authors advise for box prompts).
    """
    transform = ResizeLongestSide(model.image_encoder.img_size)
    device = model.device
    result = []
    for start in range(0, len(images), batch_size):
        batch = []
        for image, box in zip(
            images[start : start + batch_size], boxes[start : start + batch_size]
        ):
            size = image.shape[:2]
            pixels = torch.as_tensor(transform.apply_image(image), device=device)
            prompt = transform.apply_boxes(np.asarray(box, dtype=np.float64)[None], size)
            batch.append(
                {
                    "image": pixels.permute(2, 0, 1).contiguous(),  # (3, h, w) uint8
                    "original_size": size,
                    "boxes": torch.as_tensor(prompt, dtype=torch.float32, device=device),
                }
            )
        result.extend(_best_mask(out) for out in model(batch, multimask_output=False))
    return result
