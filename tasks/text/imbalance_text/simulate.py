"""A synthetic moderation corpus with a label hierarchy and 100:1 / 10:1 rare labels.

Every document is built from *components* drawn independently: each secondary
label (``praising extremist acts``, ...) and each primary-only kind of harm
(``hate`` without a secondary, ...) appears with its own probability, so
documents can carry several labels. A component is one sentence from a template
filled with words from varied pools; a secondary component also sets its
primary. Documents without a component are benign, and a share of them are
*distractors*: sentences that reuse the vocabulary of a rare label with another
meaning (a news report that condemns an attack, a call to vote, a sports
"we crushed them", a compliment). Subtle phrasings of the rare labels, filler
words, typos and annotators who miss a secondary label (``label_noise``) make
the task neither trivial nor hopeless.

With the default rates, ``anti-democratic rhetoric`` and ``praising extremist
acts`` are about 100:1 (1 positive per 100 negatives) and ``praising
violence``, ``ideologically motivated threats`` and ``sexual harassment`` about
10:1, under :data:`~imbalance_text.schema.DEFAULT_SCHEMA`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imbalance_kit.app import check_in_range, check_positive_int, error
from imbalance_text._vocabulary import BENIGN, DISTRACTORS, FILLERS, TEMPLATES, WORDS
from imbalance_text.data import Corpus
from imbalance_text.schema import DEFAULT_SCHEMA, LabelSchema

__all__ = ["DEFAULT_RATES", "SimulationSpec", "simulate_corpus"]

#: Probability that a document contains each component (secondary labels and
#: the primary-only kinds). Secondary rates 1/101 and 1/11 give 100:1 and 10:1.
DEFAULT_RATES: dict[str, float] = {
    "anti-democratic rhetoric": 1 / 101,
    "praising extremist acts": 1 / 101,
    "praising violence": 1 / 11,
    "ideologically motivated threats": 1 / 11,
    "sexual harassment": 1 / 11,
    "hate": 0.12,
    "violence": 0.06,
    "extremism": 0.06,
    "harassment": 0.06,
}


@dataclass
class SimulationSpec:
    """Size and difficulty of the simulated corpus.

    Args:
        n: number of documents.
        seed: random seed (the corpus is a pure function of the spec).
        rates: component probabilities (see :data:`DEFAULT_RATES`); keys are
            labels of :data:`~imbalance_text.schema.DEFAULT_SCHEMA`.
        label_noise: probability that an annotator misses a secondary label
            (keeping its primary).
        distractor_rate: share of benign documents that are distractors.
        filler_rate: probability of a filler word around a sentence.
        typo_rate: probability of one swapped letter pair per sentence.
    """

    n: int = 4000
    seed: int = 0
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    label_noise: float = 0.05
    distractor_rate: float = 0.35
    filler_rate: float = 0.3
    typo_rate: float = 0.1

    def validate(self) -> None:
        """Raise ``ValueError`` on an invalid field."""
        check_positive_int("n", self.n)
        check_positive_int("seed", self.seed, minimum=0)
        for name in ("label_noise", "distractor_rate", "filler_rate", "typo_rate"):
            check_in_range(name, getattr(self, name), 0.0, 1.0)
        for key, rate in self.rates.items():
            if key not in TEMPLATES:
                raise error("rates key", f"one of {sorted(TEMPLATES)}", f"{key!r}", raw=True)
            check_in_range(f"rates[{key!r}]", rate, 0.0, 1.0)


def _fill(template: str, rng: np.random.Generator) -> str:
    out, rest = [], template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        key, _, rest = tail.partition("}")
        pool = WORDS[key]
        out += [head, _fill(pool[int(rng.integers(len(pool)))], rng)]
    out.append(rest)
    return "".join(out)


def _noisy(sentence: str, spec: SimulationSpec, rng: np.random.Generator) -> str:
    if rng.random() < spec.typo_rate:
        words = sentence.split(" ")
        k = int(rng.integers(len(words)))
        w = words[k]
        if len(w) > 3:
            i = int(rng.integers(len(w) - 1))
            words[k] = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
        sentence = " ".join(words)
    if rng.random() < spec.filler_rate:
        filler = FILLERS[int(rng.integers(len(FILLERS)))]
        sentence = f"{filler} {sentence}" if rng.random() < 0.5 else f"{sentence}, {filler}"
    if rng.random() < 0.2:
        sentence = sentence.capitalize()
    return sentence


def simulate_corpus(
    spec: SimulationSpec | None = None, schema: LabelSchema = DEFAULT_SCHEMA
) -> Corpus:
    """Generate a labelled moderation corpus (see the module description).

    Args:
        spec: size, seed and difficulty; defaults to ``SimulationSpec()``.
        schema: the label schema; it must contain every label named in
            ``spec.rates`` (the default schema does).

    Returns:
        A :class:`~imbalance_text.data.Corpus` whose targets respect the
        implications of ``schema`` (a secondary row always has its primary).

    Raises:
        ValueError: an invalid spec or a schema without the simulated labels.

    Examples:
        >>> corpus = simulate_corpus(SimulationSpec(n=2000, seed=1))
        >>> len(corpus), corpus.targets.shape[1]
        (2000, 9)
        >>> counts = corpus.label_counts()
        >>> 5 <= counts["praising extremist acts"] <= 40, 120 <= counts["sexual harassment"] <= 240
        (True, True)
    """
    spec = spec or SimulationSpec()
    spec.validate()
    names = schema.names
    missing = [k for k in spec.rates if k not in names]
    if missing:
        raise error("schema", f"a schema with the simulated labels {missing}", names)
    rng = np.random.default_rng(spec.seed)
    index = {n: j for j, n in enumerate(names)}
    components = list(spec.rates)
    rates = np.array([spec.rates[c] for c in components])
    draws = rng.random((spec.n, len(components))) < rates
    texts: list[str] = []
    targets = np.zeros((spec.n, len(names)), dtype=np.float32)
    for i in range(spec.n):
        present = [components[k] for k in np.flatnonzero(draws[i])]
        sentences = []
        for comp in present:
            options = TEMPLATES[comp]
            sentences.append(
                _noisy(_fill(options[int(rng.integers(len(options)))], rng), spec, rng)
            )
            missed = comp in schema.secondary and rng.random() < spec.label_noise
            if not missed:
                targets[i, index[comp]] = 1.0
            for parent in schema.secondary.get(comp, []):
                targets[i, index[parent]] = 1.0
        if not sentences or rng.random() < 0.15:  # benign text, alone or around the harm
            pool = DISTRACTORS if rng.random() < spec.distractor_rate else BENIGN
            sentences.append(_noisy(_fill(pool[int(rng.integers(len(pool)))], rng), spec, rng))
        order = rng.permutation(len(sentences))
        texts.append(". ".join(sentences[k] for k in order))
    return Corpus(texts, targets, schema, [f"sim-{spec.seed}-{i}" for i in range(spec.n)])
