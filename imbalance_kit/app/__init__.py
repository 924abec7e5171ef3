"""The application layer: what every command built on imbalance-kit shares.

The task packages (``imbalance-risk``, ``imbalance-video``, ``imbalance-text``,
``imbalance-world-model``) and the ``imbalance-kit`` command are built from these pieces, and
so can a user's own tool:

* argument checks with the library's error template
  ([`imbalance_kit.app.checks`][imbalance_kit.app.checks]);
* typed YAML configs with ``--set section.key=value`` overrides and shipped named configs
  ([`imbalance_kit.app.config`][imbalance_kit.app.config]);
* the command runner: one error style (``<prog>: error: ...``, exit status 2), ``--version``,
  ``--config``, ``--set``, ``--threads`` ([`imbalance_kit.app.cli`][imbalance_kit.app.cli]);
* terminal tables and progress bars ([`imbalance_kit.app.console`][imbalance_kit.app.console]);
* run files written atomically and read back with clear errors
  ([`imbalance_kit.app.io`][imbalance_kit.app.io]);
* a Lightning ``Trainer`` builder with quiet defaults and exact resume
  ([`imbalance_kit.app.trainer`][imbalance_kit.app.trainer], needs ``lightning``);
* the variant x seed study table ([`imbalance_kit.app.study`][imbalance_kit.app.study]).

Importing this package loads neither Lightning nor PyYAML; they are imported where used.

Examples:
    >>> from imbalance_kit.app import format_mean_std
    >>> format_mean_std({"mean": 0.5, "std": 0.01, "n": 3})
    '0.500 ± 0.010'
"""

from __future__ import annotations

from imbalance_kit.app.checks import (
    check_bool,
    check_choice,
    check_class_targets,
    check_dtype_floating,
    check_finite,
    check_in_range,
    check_ndim,
    check_non_negative,
    check_non_negative_tensor,
    check_positive,
    check_positive_int,
    check_same_length,
    check_same_shape,
    check_tensor,
    describe,
    error,
)
from imbalance_kit.app.cli import (
    Parser,
    UsageError,
    add_command,
    add_common_options,
    make_parser,
    run_cli,
    set_threads,
)
from imbalance_kit.app.config import (
    apply_overrides,
    build_dataclass,
    check_bool_option,
    load_config,
    merge_mappings,
    read_yaml_mapping,
    resolve_config_path,
)
from imbalance_kit.app.console import Progress, format_table, print_table
from imbalance_kit.app.io import (
    DamagedFileError,
    atomic_open,
    load_json,
    load_torch,
    save_torch,
    write_csv,
    write_json,
    write_text,
)
from imbalance_kit.app.study import (
    format_mean_std,
    markdown_table,
    study_table,
    summarise_study,
)
from imbalance_kit.app.trainer import (
    LIGHTNING_NOISE,
    build_trainer,
    capture_random_state,
    fit,
    last_checkpoint,
    quiet_lightning,
    random_state_callback,
    restore_random_state,
)

__all__ = [
    "LIGHTNING_NOISE",
    "DamagedFileError",
    "Parser",
    "Progress",
    "UsageError",
    "add_command",
    "add_common_options",
    "apply_overrides",
    "atomic_open",
    "build_dataclass",
    "build_trainer",
    "capture_random_state",
    "check_bool",
    "check_bool_option",
    "check_choice",
    "check_class_targets",
    "check_dtype_floating",
    "check_finite",
    "check_in_range",
    "check_ndim",
    "check_non_negative",
    "check_non_negative_tensor",
    "check_positive",
    "check_positive_int",
    "check_same_length",
    "check_same_shape",
    "check_tensor",
    "describe",
    "error",
    "fit",
    "format_mean_std",
    "format_table",
    "last_checkpoint",
    "load_config",
    "load_json",
    "load_torch",
    "make_parser",
    "markdown_table",
    "merge_mappings",
    "print_table",
    "quiet_lightning",
    "random_state_callback",
    "read_yaml_mapping",
    "resolve_config_path",
    "restore_random_state",
    "run_cli",
    "save_torch",
    "set_threads",
    "study_table",
    "summarise_study",
    "write_csv",
    "write_json",
    "write_text",
]
