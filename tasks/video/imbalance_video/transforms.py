"""Clip augmentation applied identically to every frame of a clip.

A clip is a float tensor ``(3, T, H, W)`` with values in ``[0, 1]``. Every random
choice (crop box, flip, jitter factors, the TrivialAugment operation and its
magnitude) is drawn once per clip and applied to all ``T`` frames, so the motion
inside the clip is left as it was: only the look of the scene changes, which is
what a model must learn to ignore.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from imbalance_kit.app import check_in_range, check_positive_int, error

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "TRIVIAL_OPS",
    "ClipAugment",
    "clip_to_tensor",
    "normalize_clip",
]

CLIP_MEAN = 0.45
CLIP_STD = 0.225


def clip_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``(T, H, W, 3)`` ``uint8`` frames -> ``(3, T, H, W)`` ``float32`` in ``[0, 1]``.

    Examples:
        >>> clip_to_tensor(np.full((2, 4, 4, 3), 255, np.uint8)).shape
        torch.Size([3, 2, 4, 4])
    """
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise error("frames", "a (T, H, W, 3) array", frames)
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 255.0


def normalize_clip(clip: torch.Tensor) -> torch.Tensor:
    """Shift and scale ``[0, 1]`` values to about zero mean and unit spread (any leading dims)."""
    return (clip - CLIP_MEAN) / CLIP_STD


# ----------------------------------------------------------------- primitives


def _uniform(generator: torch.Generator | None, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _gray(clip: torch.Tensor) -> torch.Tensor:
    weights = clip.new_tensor([0.299, 0.587, 0.114]).view(3, 1, 1, 1)
    return (clip * weights).sum(dim=0, keepdim=True)


def _blend(image: torch.Tensor, other: torch.Tensor, factor: float) -> torch.Tensor:
    return (factor * image + (1.0 - factor) * other).clamp(0.0, 1.0)


def _affine(clip: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply one 2x3 affine ``matrix`` (normalised coordinates) to every frame."""
    frames = clip.permute(1, 0, 2, 3)  # (T, 3, H, W)
    theta = matrix.to(clip.dtype).expand(frames.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(frames.shape), align_corners=False)
    out = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.permute(1, 0, 2, 3)


def _rotate(clip: torch.Tensor, degrees: float) -> torch.Tensor:
    a = math.radians(degrees)
    return _affine(
        clip, torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])
    )


def _shear(clip: torch.Tensor, amount: float, axis: int) -> torch.Tensor:
    m = (
        [[1.0, amount, 0.0], [0.0, 1.0, 0.0]]
        if axis == 0
        else [[1.0, 0.0, 0.0], [amount, 1.0, 0.0]]
    )
    return _affine(clip, torch.tensor(m))


def _translate(clip: torch.Tensor, fraction: float, axis: int) -> torch.Tensor:
    shift = 2.0 * fraction  # normalised coordinates span 2
    m = [[1.0, 0.0, shift], [0.0, 1.0, 0.0]] if axis == 0 else [[1.0, 0.0, 0.0], [0.0, 1.0, shift]]
    return _affine(clip, torch.tensor(m))


def _sharpness(clip: torch.Tensor, factor: float) -> torch.Tensor:
    kernel = clip.new_tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    frames = clip.permute(1, 0, 2, 3)
    blurred = F.conv2d(
        F.pad(frames, (1, 1, 1, 1), mode="replicate"), kernel.expand(3, 1, 3, 3), groups=3
    )
    return _blend(frames, blurred, factor).permute(1, 0, 2, 3)


def _posterize(clip: torch.Tensor, bits: int) -> torch.Tensor:
    step = 2 ** (8 - bits)
    return torch.floor(clip * 255.0 / step) * step / 255.0


def _autocontrast(clip: torch.Tensor) -> torch.Tensor:
    low = clip.amin(dim=(1, 2, 3), keepdim=True)
    high = clip.amax(dim=(1, 2, 3), keepdim=True)
    scale = torch.where(high > low, high - low, torch.ones_like(high))
    return torch.where(high > low, (clip - low) / scale, clip)


def _equalize(clip: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each channel over the whole clip (256 levels)."""
    levels = (clip * 255.0).round().long().clamp(0, 255)
    out = torch.empty_like(clip)
    for c in range(3):
        hist = torch.bincount(levels[c].reshape(-1), minlength=256).to(clip.dtype)
        cdf = hist.cumsum(0)
        first = cdf[hist > 0][0]
        span = cdf[-1] - first
        lut = ((cdf - first) / span).clamp(0.0, 1.0) if span > 0 else torch.arange(256) / 255.0
        out[c] = lut.to(clip.dtype)[levels[c]]
    return out


# magnitude m in [0, 1] (the bin over the number of bins) and a random sign s. The ranges
# are those of torchvision's TrivialAugmentWide halved (geometric ops in fractions of the
# frame): a small animal in a small frame does not survive the wide ones.
TRIVIAL_OPS: dict[str, Callable[[torch.Tensor, float, float], torch.Tensor]] = {
    "identity": lambda x, m, s: x,
    "shear_x": lambda x, m, s: _shear(x, s * 0.15 * m, 0),
    "shear_y": lambda x, m, s: _shear(x, s * 0.15 * m, 1),
    "translate_x": lambda x, m, s: _translate(x, s * 0.1 * m, 0),
    "translate_y": lambda x, m, s: _translate(x, s * 0.1 * m, 1),
    "rotate": lambda x, m, s: _rotate(x, s * 15.0 * m),
    "brightness": lambda x, m, s: _blend(x, torch.zeros_like(x), 1.0 + s * 0.5 * m),
    "color": lambda x, m, s: _blend(x, _gray(x).expand_as(x), 1.0 + s * 0.5 * m),
    "contrast": lambda x, m, s: _blend(x, _gray(x).mean().expand_as(x), 1.0 + s * 0.5 * m),
    "sharpness": lambda x, m, s: _sharpness(x, 1.0 + s * 0.5 * m),
    "posterize": lambda x, m, s: _posterize(x, 8 - int(round(3 * m))),
    "solarize": lambda x, m, s: torch.where(x >= 1.0 - 0.5 * m, 1.0 - x, x),
    "autocontrast": lambda x, m, s: _autocontrast(x),
    "equalize": lambda x, m, s: _equalize(x),
}


@dataclass
class ClipAugment:
    """Random resized crop, horizontal flip, colour jitter and one TrivialAugment op.

    The steps, each drawn once per clip and applied to all frames:

    1. **random resized crop**: a box covering a share ``crop_scale`` of the frame
       area with aspect ratio in ``crop_ratio`` (log-uniform), resized back to the
       frame size (bilinear);
    2. **flip**: left-right with probability ``flip``;
    3. **colour jitter**: brightness, contrast and saturation factors uniform in
       ``[1 - j, 1 + j]``;
    4. **TrivialAugment** (``trivial_augment``): one operation of :data:`TRIVIAL_OPS`
       chosen uniformly, at a magnitude drawn uniformly from ``magnitude_bins`` bins,
       with a random sign (the ranges are half of torchvision's "wide" ones).

    Reference: Müller & Hutter, "TrivialAugment: Tuning-free Yet State-of-the-Art
    Data Augmentation", ICCV 2021.

    Args:
        crop_scale: ``(low, high)`` area share of the crop, ``0 < low <= high <= 1``.
        crop_ratio: ``(low, high)`` aspect ratio range of the crop.
        flip: probability of a horizontal flip.
        brightness: brightness jitter ``j`` in ``[0, 1)``.
        contrast: contrast jitter in ``[0, 1)``.
        saturation: saturation jitter in ``[0, 1)``.
        trivial_augment: apply one TrivialAugment-style operation.
        magnitude_bins: number of magnitude levels (>= 2).

    Examples:
        >>> augment = ClipAugment()
        >>> clip = torch.rand(3, 8, 32, 32)
        >>> out = augment(clip, torch.Generator().manual_seed(0))
        >>> out.shape, bool(out.min() >= 0), bool(out.max() <= 1)
        (torch.Size([3, 8, 32, 32]), True, True)
        >>> torch.equal(out, augment(clip, torch.Generator().manual_seed(0)))
        True
    """

    crop_scale: tuple[float, float] = (0.8, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    trivial_augment: bool = True
    magnitude_bins: int = 31

    def __post_init__(self) -> None:
        self.crop_scale = tuple(float(v) for v in self.crop_scale)  # type: ignore[assignment]
        self.crop_ratio = tuple(float(v) for v in self.crop_ratio)  # type: ignore[assignment]
        low, high = self.crop_scale
        if len(self.crop_scale) != 2 or not 0 < low <= high <= 1:
            raise error("crop_scale", "(low, high) with 0 < low <= high <= 1", self.crop_scale)
        if len(self.crop_ratio) != 2 or not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise error("crop_ratio", "(low, high) with 0 < low <= high", self.crop_ratio)
        check_in_range("flip", self.flip, 0.0, 1.0)
        for name in ("brightness", "contrast", "saturation"):
            check_in_range(name, getattr(self, name), 0.0, 1.0, high_inclusive=False)
        check_positive_int("magnitude_bins", self.magnitude_bins, minimum=2)

    def _crop(self, clip: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        _, _, height, width = clip.shape
        area = height * width
        for _ in range(10):  # torchvision's RandomResizedCrop rejection loop
            target = area * _uniform(generator, *self.crop_scale)
            log_ratio = _uniform(
                generator, math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1])
            )
            ratio = math.exp(log_ratio)
            w = int(round(math.sqrt(target * ratio)))
            h = int(round(math.sqrt(target / ratio)))
            if 0 < w <= width and 0 < h <= height:
                break
        else:
            h, w = height, width
        top = int(torch.randint(0, height - h + 1, (), generator=generator))
        left = int(torch.randint(0, width - w + 1, (), generator=generator))
        box = clip[:, :, top : top + h, left : left + w].permute(1, 0, 2, 3)
        resized = F.interpolate(box, size=(height, width), mode="bilinear", align_corners=False)
        return resized.permute(1, 0, 2, 3)

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Augment one ``(3, T, H, W)`` clip in ``[0, 1]``; returns a new tensor."""
        if clip.ndim != 4 or clip.shape[0] != 3:
            raise error("clip", "a (3, T, H, W) tensor", clip)
        out = self._crop(clip, generator)
        if float(torch.rand((), generator=generator)) < self.flip:
            out = out.flip(-1)
        if self.brightness:
            out = _blend(
                out,
                torch.zeros_like(out),
                _uniform(generator, 1 - self.brightness, 1 + self.brightness),
            )
        if self.contrast:
            factor = _uniform(generator, 1 - self.contrast, 1 + self.contrast)
            out = _blend(out, _gray(out).mean().expand_as(out), factor)
        if self.saturation:
            factor = _uniform(generator, 1 - self.saturation, 1 + self.saturation)
            out = _blend(out, _gray(out).expand_as(out), factor)
        if self.trivial_augment:
            names = list(TRIVIAL_OPS)
            op = names[int(torch.randint(0, len(names), (), generator=generator))]
            level = int(torch.randint(0, self.magnitude_bins, (), generator=generator))
            sign = 1.0 if float(torch.rand((), generator=generator)) < 0.5 else -1.0
            out = TRIVIAL_OPS[op](out, level / (self.magnitude_bins - 1), sign)
        return out.clamp(0.0, 1.0)
