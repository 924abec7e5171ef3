"""Compact video networks, chosen by a registry name in the config.

A backbone maps a clip batch ``(N, 3, T, H, W)`` to an embedding ``(N, D)``;
:class:`VideoClassifier` adds one linear head per task. Built-in backbones:

* ``"r2plus1d"``: a compact ``(2+1)D`` network, each 3-D convolution split into a
  spatial ``1 x 3 x 3`` and a temporal ``3 x 1 x 1`` one (Tran et al. 2018);
* ``"c3d"``: plain ``3 x 3 x 3`` convolutions (Tran et al. 2015), smaller;
* ``"frame_pool"``: a 2-D CNN on every frame and a temporal mean. It cannot see
  the order of the frames, so it cannot see motion: a control for how much a task
  can be solved from the look of the scene alone.

References: Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action
Recognition", CVPR 2018; Tran et al., "Learning Spatiotemporal Features with 3D
Convolutional Networks", ICCV 2015.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from imbalance_kit.app import check_choice, check_in_range, check_positive_int, error

__all__ = [
    "C3DBackbone",
    "FramePoolBackbone",
    "R2Plus1DBackbone",
    "VideoClassifier",
    "available_models",
    "build_model",
    "register_model",
]


def _conv2plus1d(cin: int, cout: int) -> nn.Sequential:
    """A ``(2+1)D`` convolution with the paper's parameter-matching middle width."""
    mid = max(cout // 2, (3 * 9 * cin * cout) // (9 * cin + 3 * cout))
    return nn.Sequential(
        nn.Conv3d(cin, mid, (1, 3, 3), padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, cout, (3, 1, 1), padding=(1, 0, 0), bias=False),
    )


def _global_pool(pooling: str) -> nn.Module:
    check_choice("pooling", pooling, ("max", "avg"))
    return nn.AdaptiveMaxPool3d(1) if pooling == "max" else nn.AdaptiveAvgPool3d(1)


class R2Plus1DBackbone(nn.Module):
    """Compact ``(2+1)D`` network: three factorised conv-BN-ReLU layers (widths w, 2w, 4w).

    Each 3-D convolution is split into a spatial ``1 x 3 x 3`` and a temporal
    ``3 x 1 x 1`` one, as in R(2+1)D, without its residual blocks (which overfit at
    a few hundred events). Layers are separated by max pooling (``1 x 2 x 2``, then
    ``2 x 2 x 2``) and the features are pooled globally (``pooling``). Max pooling
    keeps the response of a small moving animal, which an average over the whole
    frame dilutes.

    Args:
        width: channels of the first stage.
        embed_dim: size of the embedding (a linear projection of the pooled features).
        pooling: global pooling, ``"max"`` or ``"avg"``.

    Examples:
        >>> net = R2Plus1DBackbone(width=8, embed_dim=16)
        >>> net(torch.randn(2, 3, 8, 32, 32)).shape
        torch.Size([2, 16])
    """

    def __init__(self, width: int = 16, embed_dim: int = 64, pooling: str = "max") -> None:
        super().__init__()
        check_positive_int("width", width)
        check_positive_int("embed_dim", embed_dim)
        self.stem = nn.Sequential(
            _conv2plus1d(3, width), nn.BatchNorm3d(width), nn.ReLU(inplace=True)
        )
        self.stages = nn.Sequential(
            nn.MaxPool3d((1, 2, 2), ceil_mode=True),
            _conv2plus1d(width, 2 * width),
            nn.BatchNorm3d(2 * width),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(2, ceil_mode=True),
            _conv2plus1d(2 * width, 4 * width),
            nn.BatchNorm3d(4 * width),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(2, ceil_mode=True),
        )
        self.pool = _global_pool(pooling)
        self.proj = nn.Sequential(nn.Linear(4 * width, embed_dim), nn.ReLU(inplace=True))
        self.embed_dim = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pool(self.stages(self.stem(x))).flatten(1))


class C3DBackbone(nn.Module):
    """Plain 3-D CNN: three ``3 x 3 x 3`` conv-BN-ReLU layers, max pooling after each.

    Args:
        width: channels of the first layer (then 2w, 4w).
        embed_dim: size of the embedding.
        pooling: global pooling, ``"max"`` or ``"avg"``.

    Examples:
        >>> C3DBackbone(width=8, embed_dim=16)(torch.randn(2, 3, 8, 32, 32)).shape
        torch.Size([2, 16])
    """

    def __init__(self, width: int = 16, embed_dim: int = 64, pooling: str = "max") -> None:
        super().__init__()
        check_positive_int("width", width)
        check_positive_int("embed_dim", embed_dim)
        layers: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate((width, 2 * width, 4 * width)):
            layers += [
                nn.Conv3d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm3d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool3d((1, 2, 2) if i == 0 else 2, ceil_mode=True),
            ]
            cin = cout
        self.features = nn.Sequential(*layers, _global_pool(pooling))
        self.proj = nn.Sequential(nn.Linear(cin, embed_dim), nn.ReLU(inplace=True))
        self.embed_dim = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.features(x).flatten(1))


class FramePoolBackbone(nn.Module):
    """A 2-D CNN applied to every frame, averaged over time (blind to motion).

    Args:
        width: channels of the first layer (then 2w, 4w).
        embed_dim: size of the embedding.
        pooling: spatial pooling of each frame, ``"max"`` or ``"avg"``.

    Examples:
        >>> FramePoolBackbone(width=8, embed_dim=16)(torch.randn(2, 3, 8, 32, 32)).shape
        torch.Size([2, 16])
    """

    def __init__(self, width: int = 16, embed_dim: int = 64, pooling: str = "max") -> None:
        super().__init__()
        check_positive_int("width", width)
        check_positive_int("embed_dim", embed_dim)
        check_choice("pooling", pooling, ("max", "avg"))
        layers: list[nn.Module] = []
        cin = 3
        for cout in (width, 2 * width, 4 * width):
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            cin = cout
        spatial = nn.AdaptiveMaxPool2d(1) if pooling == "max" else nn.AdaptiveAvgPool2d(1)
        self.features = nn.Sequential(*layers, spatial)
        self.proj = nn.Sequential(nn.Linear(cin, embed_dim), nn.ReLU(inplace=True))
        self.embed_dim = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        pooled = self.features(frames).flatten(1).view(n, t, -1).mean(dim=1)
        return self.proj(pooled)


_MODELS: dict[str, Callable[..., nn.Module]] = {
    "r2plus1d": R2Plus1DBackbone,
    "c3d": C3DBackbone,
    "frame_pool": FramePoolBackbone,
}


def available_models() -> list[str]:
    """Sorted registry names accepted by :func:`build_model`.

    Examples:
        >>> {"c3d", "frame_pool", "r2plus1d"} <= set(available_models())
        True
    """
    return sorted(_MODELS)


def register_model(
    name: str, factory: Callable[..., nn.Module], *, overwrite: bool = False
) -> None:
    """Register a backbone factory ``factory(width=..., embed_dim=..., **kwargs)`` under ``name``.

    The module it returns must map ``(N, 3, T, H, W)`` to ``(N, embed_dim)``.

    Raises:
        ValueError: ``name`` is taken and ``overwrite`` is false.
        TypeError: ``factory`` is not callable.

    Examples:
        >>> register_model("my_c3d", C3DBackbone, overwrite=True)
        >>> "my_c3d" in available_models()
        True
    """
    if name in _MODELS and not overwrite:
        raise error("name", "a new model name (pass overwrite=True to replace)", name)
    if not callable(factory):
        raise error("factory", "callable", type(factory).__name__, TypeError, raw=True)
    _MODELS[name] = factory


class VideoClassifier(nn.Module):
    """A backbone, dropout and one linear head per task.

    Args:
        backbone: maps ``(N, 3, T, H, W)`` to ``(N, embed_dim)``.
        embed_dim: the backbone's output size.
        num_classes: task name -> number of classes.
        dropout: dropout probability before the heads.

    Examples:
        >>> model = VideoClassifier(C3DBackbone(8, 16), 16, {"label": 2, "severity": 3})
        >>> out = model(torch.randn(2, 3, 8, 32, 32))
        >>> {t: tuple(v.shape) for t, v in out.items()}
        {'label': (2, 2), 'severity': (2, 3)}
    """

    def __init__(
        self,
        backbone: nn.Module,
        embed_dim: int,
        num_classes: Mapping[str, int],
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_in_range("dropout", dropout, 0.0, 1.0, high_inclusive=False)
        if not num_classes:
            raise error("num_classes", "at least one task", dict(num_classes))
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict(
            {t: nn.Linear(embed_dim, int(k)) for t, k in num_classes.items()}
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's embedding ``(N, embed_dim)`` (what the linear probe reads)."""
        return self.backbone(x)

    def classify(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Task logits from embeddings (dropout, then each head)."""
        z = self.dropout(z)
        return {task: head(z) for task, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.classify(self.embed(x))


def build_model(
    name: str,
    num_classes: Mapping[str, int],
    *,
    width: int = 16,
    embed_dim: int = 64,
    dropout: float = 0.5,
    **kwargs: Any,
) -> VideoClassifier:
    """Build a :class:`VideoClassifier` around the registered backbone ``name``.

    ``width``, ``embed_dim`` and any ``kwargs`` (e.g. ``pooling`` of the built-in
    backbones) go to the backbone factory.

    Raises:
        ValueError: unknown ``name`` (the message lists the known ones).

    Examples:
        >>> model = build_model("r2plus1d", {"label": 2}, width=8, embed_dim=16)
        >>> model(torch.randn(1, 3, 8, 32, 32))["label"].shape
        torch.Size([1, 2])
    """
    if name not in _MODELS:
        raise error("model name", f"one of {', '.join(available_models())}", name)
    backbone = _MODELS[name](width=width, embed_dim=embed_dim, **kwargs)
    return VideoClassifier(backbone, embed_dim, num_classes, dropout)
