"""The variant x seed study table: every task package's ``study`` command reports through it.

A study trains each variant (a loss, a sampler, a split method, ...) with several seeds and
reports the mean and spread of each metric per variant.
[`summarise_study`][imbalance_kit.app.study.summarise_study] reduces the per-run rows;
[`study_table`][imbalance_kit.app.study.study_table] lays out the cells;
[`markdown_table`][imbalance_kit.app.study.markdown_table] and
[`imbalance_kit.app.print_table`][imbalance_kit.app.console.print_table] print them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_mean_std", "markdown_table", "study_table", "summarise_study"]


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def summarise_study(
    rows: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    *,
    by: str = "variant",
    order: Sequence[str] | None = None,
    ddof: int = 1,
) -> list[dict[str, Any]]:
    """Mean and standard deviation of each metric per variant, over the runs (seeds).

    Missing, ``None`` and non-finite values are left out of a metric's statistics (its
    ``n`` says how many runs it has); a metric with no value at all is ``None``.

    Args:
        rows: one mapping per run, with the variant under ``by`` and the metrics.
        metrics: the metric keys to summarise.
        by: the key that names the variant.
        order: the variants in table order (default: as they first appear in ``rows``);
            variants without rows are left out.
        ddof: delta degrees of freedom of the standard deviation (1: the sample standard
            deviation; a single run has std 0).

    Returns:
        One dict per variant: ``{by: name, "n_runs": k, metric: {"mean", "std", "n"} | None}``.

    Examples:
        >>> rows = [{"variant": "ce", "auc": 0.8}, {"variant": "ce", "auc": 0.9},
        ...         {"variant": "focal", "auc": None}]
        >>> summary = summarise_study(rows, ["auc"])
        >>> summary[0]["auc"]["mean"], round(summary[0]["auc"]["std"], 4), summary[1]["auc"]
        (0.85, 0.0707, None)
    """
    names = list(order) if order is not None else list(dict.fromkeys(r[by] for r in rows))
    out = []
    for name in names:
        mine = [r for r in rows if r.get(by) == name]
        if not mine:
            continue
        entry: dict[str, Any] = {by: name, "n_runs": len(mine)}
        for metric in metrics:
            values = [v for v in (_number(r.get(metric)) for r in mine) if v is not None]
            if not values:
                entry[metric] = None
                continue
            mean = sum(values) / len(values)
            if len(values) > ddof:
                var = sum((v - mean) ** 2 for v in values) / (len(values) - ddof)
                std = math.sqrt(var)
            else:
                std = 0.0
            entry[metric] = {"mean": mean, "std": std, "n": len(values)}
        out.append(entry)
    return out


def format_mean_std(
    stat: Mapping[str, Any] | None,
    digits: int = 3,
    *,
    compact: bool = False,
    stacked: bool = False,
) -> str:
    """``"0.812 ± 0.013"``; a single run shows only its value; no value gives ``"n/a"``.

    ``compact`` drops the spaces (``"0.812±0.013"``); ``stacked`` puts the spread on a
    second line (``"0.812\n±0.013"``), which keeps a many-column table within 80 columns.

    Examples:
        >>> format_mean_std({"mean": 0.8123, "std": 0.0131, "n": 3})
        '0.812 ± 0.013'
        >>> format_mean_std({"mean": 0.8123, "std": 0.0, "n": 1})
        '0.812'
        >>> format_mean_std(None)
        'n/a'
        >>> print(format_mean_std({"mean": 0.8123, "std": 0.0131, "n": 3}, stacked=True))
        0.812
        ±0.013
    """
    if stat is None:
        return "n/a"
    mean = f"{stat['mean']:.{digits}f}"
    if stat.get("n", 2) < 2:
        return mean
    sep = "\n±" if stacked else ("±" if compact else " ± ")
    return f"{mean}{sep}{stat['std']:.{digits}f}"


def study_table(
    summary: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str],
    *,
    by: str = "variant",
    title: str | None = None,
    digits: int = 3,
    higher_is_better: Mapping[str, bool] | None = None,
    compact: bool = False,
    stacked: bool = False,
) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the study table (for
    [`markdown_table`][imbalance_kit.app.study.markdown_table] or ``print_table``).

    Args:
        summary: from [`summarise_study`][imbalance_kit.app.study.summarise_study].
        columns: metric key -> column title, in column order.
        by: the key that names the variant.
        title: title of the first column (default: ``by``).
        digits: decimals shown.
        higher_is_better: metric key -> direction; those metrics mark their best mean
            (at the shown precision) with ``*``.
        compact: ``"0.812±0.013"`` cells.
        stacked: the spread on a second line of the cell (for terminals, see
            [`format_mean_std`][imbalance_kit.app.study.format_mean_std]); the best mark follows the
            mean.

    Examples:
        >>> s = summarise_study([{"variant": "ce", "auc": 0.8}, {"variant": "focal", "auc": 0.9}],
        ...                     ["auc"])
        >>> study_table(s, {"auc": "AUC"}, higher_is_better={"auc": True})
        (['variant', 'AUC'], [['ce', '0.800'], ['focal', '0.900*']])
    """
    best: dict[str, float] = {}
    for key, higher in (higher_is_better or {}).items():
        means = [round(e[key]["mean"], digits) for e in summary if e.get(key)]
        if len(means) >= 2:
            best[key] = max(means) if higher else min(means)
    head = [title or by, *columns.values()]
    rows = []
    for entry in summary:
        cells = [str(entry[by])]
        for key in columns:
            stat = entry.get(key)
            text = format_mean_std(stat, digits, compact=compact, stacked=stacked)
            if stat and key in best and round(stat["mean"], digits) == best[key]:
                head_line, _, rest = text.partition("\n")
                text = head_line + "*" + ("\n" + rest if rest else "")
            cells.append(text)
        rows.append(cells)
    return head, rows


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (first column left, the rest right-aligned).

    Examples:
        >>> print(markdown_table(["a", "b"], [["x", "1"]]))
        | a | b |
        |:--|--:|
        | x | 1 |
    """
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join([":--", *(["--:"] * (len(columns) - 1))]) + "|"
    body = ["| " + " | ".join(str(c).strip() for c in r) + " |" for r in rows]
    return "\n".join([head, rule, *body])
