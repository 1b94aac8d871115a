"""The cherry-picker network: a plane-vs-background ResNet-18 that keeps the best of K
inpaintings (method report D.2). Trained by workflow.diffusion.train_classifier `cherry_picker`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# torchvision's ImageNet normalisation, which pretrained ResNet-18 weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CherryPicker(nn.Module):
    """ResNet-18 on images in [-1, 1] of any size: resized to `input_size` and normalised as
    torchvision expects. forward(images (B, 3, H, W)) -> logits (B, num_classes)."""

    def __init__(self, num_classes: int, input_size: int):
        super().__init__()
        from torchvision.models import resnet18

        if num_classes not in (1, 2):
            raise ValueError(f"cherry_picker.num_classes must be 1 or 2, got {num_classes}")
        self.num_classes, self.input_size = num_classes, input_size
        self.net = resnet18(weights=None, num_classes=num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images + 1) / 2
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        return self.net((x - self.mean) / self.std)

    @torch.no_grad()
    def plane_probability(self, images: torch.Tensor) -> torch.Tensor:
        """P(plane) of images (B, 3, H, W) in [-1, 1] -> (B,); the cherry-picker keeps the argmax."""
        logits = self(images)
        return torch.sigmoid(logits[:, 0]) if self.num_classes == 1 else logits.softmax(dim=1)[:, 1]
