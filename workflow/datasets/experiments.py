"""An entry of `experiments.runs`: what one experiment's training set is (method report D.4)."""

from __future__ import annotations

import dataclasses

EXPERIMENT_KINDS = ("baseline", "ablation", "replacement", "augmentation")


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One entry of `experiments.runs` (see config/schema.yaml)."""

    kind: str
    keep: float | None = None  # % of real target images kept (ablation, replacement)
    add: float | None = None  # synthetic images added, % of the real target images (augmentation)
    set: str | None = None  # key of inpaint.sets or copy_paste.sets (replacement, augmentation)
    focal_gamma: float | None = None  # overrides detect.train.focal_gamma (workflow/detect/params.py)

    def __post_init__(self):
        if self.kind not in EXPERIMENT_KINDS:
            raise ValueError(f"experiment kind {self.kind!r}: allowed {list(EXPERIMENT_KINDS)}")
        needs = {
            "baseline": (),
            "ablation": ("keep",),
            "replacement": ("keep", "set"),
            "augmentation": ("add", "set"),
        }[self.kind]
        for key in ("keep", "add", "set"):
            given = getattr(self, key) is not None
            if given != (key in needs):
                state = "requires" if key in needs else "does not take"
                raise ValueError(f"experiment kind {self.kind!r} {state} the key {key!r}")
        if self.keep is not None and not 0 <= self.keep <= 100:
            raise ValueError(f"experiment key 'keep': {self.keep} is not a percentage in 0..100")
        if self.add is not None and self.add < 0:
            raise ValueError(f"experiment key 'add': {self.add} must be >= 0")

    @property
    def sweep_value(self) -> float | None:
        """The x of the report's sweep curves: % real kept, or % synthetic images added."""
        return {"ablation": self.keep, "replacement": self.keep, "augmentation": self.add}.get(self.kind)
