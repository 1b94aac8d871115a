"""The `inpaint` config section as frozen dataclasses, and the sampler it selects."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from workflow.core.checks import check_chunks_filled, check_feather
from workflow.core.labels import ClassSettings
from workflow.core.settings import from_dict
from workflow.inpaint.params import SAMPLER_KEYS
from workflow.inpaint.placement import CONTEXTS
from workflow.inpaint.repaint import SAMPLERS, Sampler


@dataclasses.dataclass(frozen=True)
class SetSpec:
    """One synthetic set: a model key of diffusion.models, a context, images, K candidates."""

    model: str
    context: str
    images: int | str  # or "auto": as many as the experiments drawing from the set need
    candidates: int


@dataclasses.dataclass(frozen=True)
class FastSettings:
    respacing: int
    jump_length: int
    jump_n_sample: int


@dataclasses.dataclass(frozen=True)
class InpaintSettings:
    """The `inpaint` section. The rules pass only the chosen sampler's schedule (the top-level
    respacing / jump_length / jump_n_sample for repaint, `fast` for fast) and `guidance_scale`
    only to sets of unconditional models (workflow/inpaint/params.py); the others may be absent."""

    sampler: str
    mask_dilation: int
    feather: int  # px of the alpha ramp the plane is laid into its tile with, < mask_dilation
    shadow: float | None  # grey levels darker than the ground a painted pixel is kept as shadow
    true_size: bool  # a plane shrunk into its crop is placed at the size it had
    placement_tries: int
    batch_size: int
    chunks: int
    seed: int
    sets: Mapping[str, SetSpec]
    respacing: int | None = None
    jump_length: int | None = None
    jump_n_sample: int | None = None
    fast: FastSettings | None = None
    guidance_scale: float | None = None
    compile: bool = False  # torch.compile the U-Net (workflow.inpaint.repaint.prepare_network)

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"config key 'inpaint.sampler': {self.sampler!r} is not one of {SAMPLERS}")
        for key in SAMPLER_KEYS[self.sampler]:
            if getattr(self, key) is None:
                raise ValueError(f"config key 'inpaint.{key}': missing (inpaint.sampler is {self.sampler})")
        check_feather(self.feather, self.mask_dilation)
        for name, spec in self.sets.items():
            if spec.context not in CONTEXTS:
                raise ValueError(
                    f"config key 'inpaint.sets.{name}.context': {spec.context!r} is not one of {CONTEXTS}"
                )
            if spec.images != "auto":
                check_chunks_filled(name, spec.images, self.chunks)

    def make_sampler(self) -> Sampler:
        """repaint: the paper's ancestral step and jump schedule; fast: a deterministic DDIM step
        over `fast.respacing` steps (no jumps unless fast.jump_n_sample > 1)."""
        if self.sampler == "repaint":
            return Sampler(self.respacing, self.jump_length, self.jump_n_sample, "ddpm")
        f = self.fast
        return Sampler(f.respacing, f.jump_length, f.jump_n_sample, "ddim")


def inpaint_settings(values: Mapping[str, Any]) -> InpaintSettings:
    """The `inpaint` section (as a dict) -> InpaintSettings; errors name the key."""
    return from_dict(InpaintSettings, values, "inpaint")


@dataclasses.dataclass(frozen=True)
class ChunkSettings:
    """--settings of a chunk: the inpaint section (with its own set only) and the classes."""

    inpaint: InpaintSettings
    classes: ClassSettings


def chunk_indices(images: int, chunks: int, chunk: int) -> range:
    """The set's image indices of chunk `chunk` (contiguous, sizes differing by at most one)."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} is outside 0..{chunks - 1} (inpaint.chunks = {chunks})")
    return range(chunk * images // chunks, (chunk + 1) * images // chunks)
