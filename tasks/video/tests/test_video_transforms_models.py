"""Clip augmentation (frame-consistent) and the video networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from imbalance_video.data import clip_starts
from imbalance_video.model import (
    C3DBackbone,
    available_models,
    build_model,
    register_model,
)
from imbalance_video.transforms import (
    TRIVIAL_OPS,
    ClipAugment,
    _rotate,
    clip_to_tensor,
    normalize_clip,
)

torch.set_num_threads(1)


def _static_clip(t: int = 6, size: int = 16, seed: int = 0) -> torch.Tensor:
    """A clip whose frames are all the same image."""
    image = torch.rand(3, 1, size, size, generator=torch.Generator().manual_seed(seed))
    return image.expand(3, t, size, size).clone()


IDENTITY = {
    "crop_scale": (1.0, 1.0),
    "crop_ratio": (1.0, 1.0),
    "flip": 0.0,
    "brightness": 0.0,
    "contrast": 0.0,
    "saturation": 0.0,
    "trivial_augment": False,
}


def test_identity_settings_leave_the_clip_unchanged():
    clip = torch.rand(3, 5, 12, 12)
    out = ClipAugment(**IDENTITY)(clip, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, clip)


def test_flip_is_a_left_right_mirror_of_every_frame():
    clip = torch.rand(3, 5, 12, 12)
    out = ClipAugment(**{**IDENTITY, "flip": 1.0})(clip)
    torch.testing.assert_close(out, clip.flip(-1))


@pytest.mark.parametrize("seed", range(12))
def test_every_random_choice_is_shared_by_all_frames(seed):
    clip = _static_clip(seed=seed)
    out = ClipAugment()(clip, torch.Generator().manual_seed(seed))
    for t in range(1, clip.shape[1]):
        torch.testing.assert_close(out[:, t], out[:, 0])
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", sorted(TRIVIAL_OPS))
@pytest.mark.parametrize("magnitude", [0.0, 0.5, 1.0])
def test_trivial_ops_keep_shape_range_and_frame_consistency(name, magnitude):
    clip = _static_clip(seed=1)
    for sign in (-1.0, 1.0):
        out = TRIVIAL_OPS[name](clip, magnitude, sign)
        assert out.shape == clip.shape
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
        for t in range(1, clip.shape[1]):
            torch.testing.assert_close(out[:, t], out[:, 0])


def test_trivial_ops_against_their_definitions():
    clip = torch.rand(3, 2, 8, 8, generator=torch.Generator().manual_seed(5))
    for name in (
        "shear_x",
        "shear_y",
        "translate_x",
        "translate_y",
        "rotate",
        "brightness",
        "color",
        "contrast",
        "sharpness",
    ):
        torch.testing.assert_close(TRIVIAL_OPS[name](clip, 0.0, 1.0), clip, atol=1e-6, rtol=0)
    eight_bit = torch.floor(clip * 255) / 255  # posterize at 8 bits: the 8-bit image
    torch.testing.assert_close(TRIVIAL_OPS["posterize"](clip, 0.0, 1.0), eight_bit)
    for m, threshold in ((1.0, 0.5), (0.5, 0.75)):  # threshold 1 - m / 2
        solarized = torch.where(clip >= threshold, 1.0 - clip, clip)
        torch.testing.assert_close(TRIVIAL_OPS["solarize"](clip, m, 1.0), solarized)
    darker = (clip * 0.75).clamp(0, 1)  # factor 1 - 0.5 * m
    torch.testing.assert_close(TRIVIAL_OPS["brightness"](clip, 0.5, -1.0), darker)
    gray = (0.299 * clip[0] + 0.587 * clip[1] + 0.114 * clip[2])[None]
    paler = (0.5 * clip + 0.5 * gray).clamp(0, 1)
    torch.testing.assert_close(TRIVIAL_OPS["color"](clip, 1.0, -1.0), paler)
    poster = TRIVIAL_OPS["posterize"](clip, 1.0, 1.0)  # 5 bits: multiples of 8 / 255
    assert torch.allclose(poster * 255 / 8, torch.round(poster * 255 / 8), atol=1e-4)
    # a quarter turn maps pixel centres onto pixel centres: it equals torch.rot90
    quarter = _rotate(clip, 90.0)
    turns = [clip.rot90(k, dims=(-2, -1)) for k in (1, -1)]
    assert any(torch.allclose(quarter, t, atol=1e-5) for t in turns)
    torch.testing.assert_close(TRIVIAL_OPS["rotate"](clip, 1.0, -1.0), _rotate(clip, -15.0))


def test_equalize_and_autocontrast_properties():
    clip = 0.2 + 0.3 * torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(2))
    auto = TRIVIAL_OPS["autocontrast"](clip, 0.0, 1.0)
    torch.testing.assert_close(auto.amin(dim=(1, 2, 3)), torch.zeros(3))
    torch.testing.assert_close(auto.amax(dim=(1, 2, 3)), torch.ones(3))
    eq = TRIVIAL_OPS["equalize"](clip, 0.0, 1.0)
    for c in range(3):  # a monotone map that spreads the values over [0, 1]
        order = torch.argsort(clip[c].reshape(-1))
        assert bool((eq[c].reshape(-1)[order].diff() >= -1e-6).all())
        assert eq[c].max() == 1.0 and eq[c].min() == 0.0
    constant = torch.full((3, 2, 4, 4), 0.5)
    torch.testing.assert_close(TRIVIAL_OPS["autocontrast"](constant, 0.0, 1.0), constant)


def test_augment_is_reproducible_and_seed_dependent():
    clip = torch.rand(3, 4, 16, 16)
    a = ClipAugment()(clip, torch.Generator().manual_seed(3))
    b = ClipAugment()(clip, torch.Generator().manual_seed(3))
    c = ClipAugment()(clip, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"crop_scale": (0.0, 1.0)}, "crop_scale must be"),
        ({"crop_scale": (0.9, 0.5)}, "crop_scale must be"),
        ({"flip": 1.5}, "flip must be in"),
        ({"brightness": 1.0}, "brightness must be in"),
        ({"magnitude_bins": 1}, "magnitude_bins must be an integer >= 2"),
    ],
)
def test_augment_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClipAugment(**kwargs)
    with pytest.raises(ValueError, match="clip must be a"):
        ClipAugment()(torch.rand(4, 2, 8, 8))


def test_clip_tensor_layout_and_normalisation():
    frames = np.zeros((2, 3, 4, 3), np.uint8)
    frames[1, 2, 3] = (255, 0, 51)
    clip = clip_to_tensor(frames)
    assert clip.shape == (3, 2, 3, 4)
    torch.testing.assert_close(clip[:, 1, 2, 3], torch.tensor([1.0, 0.0, 0.2]))
    torch.testing.assert_close(normalize_clip(torch.full((1,), 0.45)), torch.zeros(1))


def test_clip_starts_spacing():
    assert clip_starts(0, 40, 8, 2, 3, 100) == [0, 12, 25]  # last start 40 - 15
    assert clip_starts(0, 40, 8, 1, 1, 100) == [16]  # one clip: the middle
    assert clip_starts(5, 9, 8, 1, 3, 100) == [5, 5, 5]  # too short: clamp
    assert clip_starts(0, 40, 8, 1, 2, 20) == [0, 12]  # the video ends first


# ---------------------------------------------------------------------- models


@pytest.mark.parametrize("name", ["r2plus1d", "c3d", "frame_pool"])
def test_models_shapes_and_gradients(name):
    model = build_model(name, {"label": 2, "severity": 3}, width=4, embed_dim=8, dropout=0.1)
    x = torch.randn(2, 3, 8, 16, 16, requires_grad=True)
    out = model(x)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"label": (2, 2), "severity": (2, 3)}
    (out["label"].sum() + out["severity"].sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in model.parameters())
    assert model.embed(x).shape == (2, 8)


def test_only_the_frame_pool_model_is_blind_to_frame_order():
    x = torch.randn(2, 3, 8, 16, 16)
    reverse = x.flip(2)
    torch.manual_seed(0)
    pool = build_model("frame_pool", {"label": 2}, width=4, embed_dim=8).eval()
    torch.manual_seed(0)
    r21 = build_model("r2plus1d", {"label": 2}, width=4, embed_dim=8).eval()
    with torch.no_grad():
        torch.testing.assert_close(pool.embed(x), pool.embed(reverse), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(r21.embed(x), r21.embed(reverse), atol=1e-4)


def test_registry():
    assert {"r2plus1d", "c3d", "frame_pool"} <= set(available_models())
    with pytest.raises(ValueError, match="model name must be one of"):
        build_model("resnet", {"label": 2})
    with pytest.raises(ValueError, match="name must be a new model name"):
        register_model("c3d", C3DBackbone)
    with pytest.raises(TypeError, match="factory must be callable"):
        register_model("thing", 3)  # type: ignore[arg-type]
    register_model("c3d_again", C3DBackbone, overwrite=True)
    model = build_model("c3d_again", {"label": 2}, width=4, embed_dim=8)
    assert isinstance(model.backbone, C3DBackbone)
    with pytest.raises(ValueError, match="dropout must be in"):
        build_model("c3d", {"label": 2}, dropout=1.0)
    assert math.isclose(build_model("c3d", {"label": 2}, dropout=0.25).dropout.p, 0.25)
