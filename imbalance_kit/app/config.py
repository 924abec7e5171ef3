"""Typed YAML configs for the task packages: nested dataclasses built from plain mappings.

A config is a tree of dataclasses. [`build_dataclass`][imbalance_kit.app.config.build_dataclass]
builds it from the mapping ``yaml.safe_load`` returns (never ``eval``): missing keys take the
dataclass defaults, unknown keys are errors naming the dotted path, integers (and
numbers such as ``1e-3`` that PyYAML reads as text) are accepted where floats are
expected, non-finite numbers and a mapping or list where a single value is expected
are refused. A ``dict[str, SomeDataclass]`` field is a mapping of named sections
(each built the same way).
[`apply_overrides`][imbalance_kit.app.config.apply_overrides] applies ``section.key=value`` strings
from a command line.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from imbalance_kit._validation import error

__all__ = [
    "apply_overrides",
    "build_dataclass",
    "check_bool_option",
    "load_config",
    "merge_mappings",
    "read_yaml_mapping",
    "resolve_config_path",
]

_CONTAINERS = (list, dict, tuple)


def check_bool_option(name: str, value: Any) -> None:
    """Raise unless a config value is ``true`` or ``false``.

    Examples:
        >>> check_bool_option("train.amp", "yes")
        Traceback (most recent call last):
        ...
        ValueError: train.amp must be true or false, got 'yes'
    """
    if not isinstance(value, bool):
        raise error(name, "true or false", value)


def _accepts_container(hint: Any) -> bool:
    if hint is Any or hint in _CONTAINERS or typing.get_origin(hint) in _CONTAINERS:
        return True
    return any(_accepts_container(arg) for arg in typing.get_args(hint))


def _coerce(path: str, value: Any, hint: Any) -> Any:
    args = typing.get_args(hint)
    accepts_float = hint is float or float in args
    accepts_int = hint is int or int in args
    if accepts_float and not accepts_int and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if accepts_float and isinstance(value, str):
        # YAML 1.1 (PyYAML) reads 1e-3 as a string: it wants 1.0e-3
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, float) and not math.isfinite(value):
        raise error(path, "a finite number", value)
    if isinstance(value, (Mapping, list)) and not _accepts_container(hint):
        raise error(path, "a single value", value)
    if typing.get_origin(hint) is list and isinstance(value, tuple):
        return list(value)
    return value


def _named_sections(hint: Any) -> type | None:
    """The dataclass of a ``dict[str, SomeDataclass]`` hint; ``None`` for any other hint."""
    if typing.get_origin(hint) is not dict:
        return None
    args = typing.get_args(hint)
    if len(args) == 2 and args[0] is str and dataclasses.is_dataclass(args[1]):
        return args[1]
    return None


def build_dataclass(cls: type, mapping: Any, prefix: str = "") -> Any:
    """Build the dataclass ``cls`` (and its dataclass fields, recursively) from a mapping.

    A field typed ``dict[str, SomeDataclass]`` takes a mapping of name -> section; each
    section is built as a ``SomeDataclass`` (names are turned into strings, a ``null``
    section takes the defaults).

    Args:
        cls: a dataclass whose fields carry type hints.
        mapping: the values, as ``yaml.safe_load`` returns them (any ``Mapping``).
        prefix: dotted path of ``mapping`` in the whole config (for error messages).

    Raises:
        ValueError: a section that is not a mapping, an unknown key, a non-finite number,
            or a mapping / list where one value is expected.

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Train:
        ...     lr: float = 0.1
        ...     epochs: int = 3
        >>> build_dataclass(Train, {"lr": 1}, "train.")
        Train(lr=1.0, epochs=3)
        >>> build_dataclass(Train, {"rate": 1}, "train.")
        Traceback (most recent call last):
        ...
        ValueError: config key 'train.rate' must be one of 'lr', 'epochs', got 'rate'
    """
    if not isinstance(mapping, Mapping):
        raise error(f"config section '{prefix.rstrip('.') or 'root'}'", "a mapping", mapping)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    kwargs: dict[str, Any] = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if key not in names:
            raise error(f"config key '{path}'", f"one of {', '.join(map(repr, names))}", key)
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = build_dataclass(hint, value if value is not None else {}, f"{path}.")
        elif (section := _named_sections(hint)) is not None:
            if not isinstance(value, Mapping):
                raise error(f"config section '{path}'", "a mapping of name -> settings", value)
            kwargs[key] = {
                str(name): build_dataclass(section, {} if item is None else item, f"{path}.{name}.")
                for name, item in value.items()
            }
        else:
            kwargs[key] = _coerce(path, value, hint)
    return cls(**kwargs)


def apply_overrides(
    mapping: dict[str, Any], overrides: list[str], example: str = "train.lr"
) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed with ``yaml.safe_load``).

    ``example`` names a key of the package's config in the error message.

    Examples:
        >>> apply_overrides({"train": {"lr": 0.1}}, ["train.lr=0.01", "model.dims=[8, 8]"])
        {'train': {'lr': 0.01}, 'model': {'dims': [8, 8]}}
    """
    import yaml  # the task packages depend on pyyaml; the core library does not

    out = dict(mapping)
    for item in overrides:
        if "=" not in item:
            raise error("--set", "section.key=value", item)
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        if not all(keys):
            raise error("--set", f"a dotted key such as {example}", dotted)
        node = out
        for key in keys[:-1]:
            child = node.get(key)
            child = dict(child) if isinstance(child, dict) else {}
            node[key] = child
            node = child
        node[keys[-1]] = yaml.safe_load(raw)
    return out


def merge_mappings(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``extra``, nested mappings merged key by key (a preset under a file).

    Both inputs are left untouched: the result holds copies of their values.

    Examples:
        >>> merge_mappings({"train": {"lr": 0.1, "epochs": 5}, "seed": 0}, {"train": {"lr": 0.01}})
        {'train': {'lr': 0.01, 'epochs': 5}, 'seed': 0}
    """
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_mappings(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml_mapping(path: str | Path | None) -> dict[str, Any]:
    """The mapping of a YAML config file (``yaml.safe_load``); ``{}`` for ``None`` or an empty file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds something other than a mapping.

    Examples:
        >>> read_yaml_mapping(None)
        {}
    """
    if path is None:
        return {}
    import yaml  # the task packages depend on pyyaml; the core library does not

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    loaded = yaml.safe_load(path.read_text())
    if loaded is not None and not isinstance(loaded, dict):
        raise error(f"config file {path}", "a YAML mapping", type(loaded).__name__, raw=True)
    return loaded or {}


def resolve_config_path(source: str | Path | None, package: str | None = None) -> Path | None:
    """The file a ``--config`` value names: a path, or the name of a config a package ships.

    A value that is not an existing file and has neither a folder nor a ``.yaml`` suffix
    (``default``, ``quick``) names ``<package>/configs/<name>.yaml`` inside the installed
    ``package``, so that ``--config default`` works from a wheel as well as from a checkout.

    Raises:
        FileNotFoundError: neither a file nor a shipped config of that name; the message
            lists the shipped names.

    Examples:
        >>> resolve_config_path(None) is None
        True
        >>> resolve_config_path("no-such-config", "imbalance_kit")
        Traceback (most recent call last):
        ...
        FileNotFoundError: config file not found: no-such-config (imbalance_kit ships no configs)
    """
    if source is None:
        return None
    path = Path(source)
    if path.is_file() or package is None:
        return path
    text = str(source)
    shipped = _shipped_configs(package)
    if "/" not in text and "\\" not in text and path.suffix not in (".yaml", ".yml"):
        if text in shipped:
            return shipped[text]
    if path.exists():
        return path
    names = ", ".join(sorted(shipped)) if shipped else ""
    hint = f"(shipped configs: {names})" if names else f"({package} ships no configs)"
    raise FileNotFoundError(f"config file not found: {source} {hint}")


def _shipped_configs(package: str) -> dict[str, Path]:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return {}
    found: dict[str, Path] = {}
    for root in spec.submodule_search_locations:
        folder = Path(root) / "configs"
        if folder.is_dir():
            for file in sorted(folder.glob("*.y*ml")):
                found.setdefault(file.stem, file)
    return found


T = TypeVar("T")


def load_config(
    build: Callable[[dict[str, Any]], T],
    source: str | Path | None = None,
    overrides: Sequence[str] | None = None,
    *,
    package: str | None = None,
    base: Mapping[str, Any] | None = None,
    example: str = "train.lr",
) -> T:
    """Read a YAML config, apply ``--set`` overrides and build it: the task packages' ``--config``.

    Args:
        build: turns the merged mapping into the package's config (its ``from_dict``), which
            validates every value.
        source: a YAML file, a config name the package ships (see
            [`resolve_config_path`][imbalance_kit.app.config.resolve_config_path]), or ``None`` for
            the defaults.
        overrides: ``section.key=value`` strings, applied after the file.
        package: the package whose ``configs/`` folder names resolve against.
        base: a mapping the file is merged onto (a preset), before the overrides.
        example: a key of the package's config, shown in the error for a malformed override.

    Raises:
        FileNotFoundError: no such file or shipped config.
        ValueError: a file that is not a mapping, a malformed override, an unknown key or a
            bad value (raised by ``build``).

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Train:
        ...     lr: float = 0.1
        ...     epochs: int = 3
        >>> load_config(lambda m: build_dataclass(Train, m), None, ["epochs=5"])
        Train(lr=0.1, epochs=5)
    """
    raw = read_yaml_mapping(resolve_config_path(source, package))
    if base is not None:
        raw = merge_mappings(base, raw)
    return build(apply_overrides(raw, list(overrides or []), example=example))
