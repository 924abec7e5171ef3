"""``model.pt`` files: a state dict plus plain settings, read with ``weights_only=True``.

Every network of the package (world model, trust net, policy) is saved as
``{"kind": ..., "settings": {...}, "state_dict": {...}}``, so no file is unpickled as code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from imbalance_world_model.trust import build_trust_net
from imbalance_world_model.world_model import LatentWorldModel

__all__ = [
    "load_checkpoint",
    "load_policy",
    "load_trust_net",
    "load_world_model",
    "save_checkpoint",
]


def save_checkpoint(
    path: str | Path, kind: str, module: nn.Module, settings: dict[str, Any]
) -> Path:
    """Write ``module``'s state dict with ``kind`` and ``settings`` (plain values only).

    Examples:
        >>> import tempfile
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/m.pt", "policy", nn.Linear(2, 1),
        ...                     {"latent_dim": 2})
        >>> sorted(load_checkpoint(p, "policy"))
        ['kind', 'settings', 'state_dict']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"kind": kind, "settings": settings, "state_dict": module.state_dict()}, path)
    return path


def load_checkpoint(path: str | Path, kind: str) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(..., weights_only=True)`` and check its kind.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint of this package, or of another kind.

    Examples:
        >>> import tempfile
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/m.pt", "policy", nn.Linear(2, 1), {})
        >>> load_checkpoint(p, "trust_net")
        Traceback (most recent call last):
        ...
        ValueError: ... must be a trust_net checkpoint, got a policy checkpoint
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable weights-only checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or "kind" not in ckpt or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not a checkpoint of imbalance-world-model")
    if ckpt["kind"] != kind:
        raise ValueError(f"{path} must be a {kind} checkpoint, got a {ckpt['kind']} checkpoint")
    return ckpt


def load_world_model(path: str | Path) -> LatentWorldModel:
    """The world model saved at ``path``.

    Examples:
        >>> import tempfile
        >>> settings = {"latent_dim": 4, "action_dim": 2, "hidden_dim": 8, "residual_clip": 0.1}
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/wm.pt", "world_model",
        ...                     LatentWorldModel(4, 2, 8, 0.1), settings)
        >>> load_world_model(p).residual_clip
        0.1
    """
    ckpt = load_checkpoint(path, "world_model")
    s = ckpt["settings"]
    model = LatentWorldModel(s["latent_dim"], s["action_dim"], s["hidden_dim"], s["residual_clip"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def load_trust_net(path: str | Path) -> nn.Module:
    """The trust net saved at ``path``.

    Examples:
        >>> import tempfile
        >>> settings = {"trust_kind": "temporal", "latent_dim": 3, "hidden_dim": 4}
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/t.pt", "trust_net",
        ...                     build_trust_net("temporal", 3, 4), settings)
        >>> type(load_trust_net(p)).__name__
        'TemporalTrustNet'
    """
    ckpt = load_checkpoint(path, "trust_net")
    s = ckpt["settings"]
    net = build_trust_net(s["trust_kind"], s["latent_dim"], s["hidden_dim"])
    net.load_state_dict(ckpt["state_dict"])
    return net.eval()


def load_policy(path: str | Path) -> nn.Module:
    """The actor saved at ``path``.

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.policy import mlp
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/p.pt", "policy", mlp(4, 2, 8),
        ...                     {"latent_dim": 4, "action_dim": 2, "hidden_dim": 8})
        >>> load_policy(p)(torch.zeros(3, 4)).shape
        torch.Size([3, 2])
    """
    from imbalance_world_model.policy import mlp

    ckpt = load_checkpoint(path, "policy")
    s = ckpt["settings"]
    actor = mlp(s["latent_dim"], s["action_dim"], s["hidden_dim"])
    actor.load_state_dict(ckpt["state_dict"])
    return actor.eval()
