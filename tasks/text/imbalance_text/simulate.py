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

from imbalance_kit._validation import check_in_range, check_positive_int, error
from imbalance_text.data import Corpus
from imbalance_text.schema import DEFAULT_SCHEMA, LabelSchema

__all__ = ["DEFAULT_RATES", "SimulationSpec", "simulate_corpus"]

_W: dict[str, list[str]] = {
    "group": [
        "those foreigners",
        "the newcomers",
        "people from the east side",
        "that crowd",
        "the migrants",
        "those city folks",
        "the other tribe",
        "people like them",
        "the northerners",
        "those believers",
    ],
    "insult": [
        "vermin",
        "parasites",
        "subhuman",
        "filthy animals",
        "a disease",
        "worthless",
        "rats",
        "a plague",
        "trash",
    ],
    "hurt": ["beat", "stab", "smash", "break the legs of", "hurt", "bash", "punch", "crush"],
    "person": [
        "referee",
        "neighbour",
        "cop",
        "guy at the bar",
        "landlord",
        "teacher",
        "reporter",
        "driver",
        "kid next door",
    ],
    "good": [
        "beautiful",
        "the best thing all week",
        "hilarious",
        "so satisfying",
        "exactly what was needed",
        "glorious",
        "perfect",
    ],
    "ideology": [
        "the pure nation",
        "the cause",
        "our faith",
        "the revolution",
        "the motherland",
        "the true order",
        "our people",
    ],
    "enemy": [
        "traitor",
        "journalist",
        "politician",
        "unbeliever",
        "collaborator",
        "activist",
        "judge",
    ],
    "place": [
        "the capital",
        "the market square",
        "the station",
        "the embassy",
        "downtown",
        "the border town",
        "the festival",
        "the old city",
    ],
    "movement": [
        "the brotherhood",
        "the front",
        "the vanguard",
        "the movement",
        "the legion",
        "the awakening",
    ],
    "institution": [
        "parliament",
        "the courts",
        "the constitution",
        "the election commission",
        "the free press",
        "the senate",
        "the ballot box",
    ],
    "leader": ["the strongman", "our leader", "the general", "one man", "the chosen one"],
    "attack": ["bombing", "shooting", "attack", "massacre", "assault", "siege", "raid"],
    "heroes": ["heroes", "martyrs", "legends", "true patriots", "an example to us all", "brave"],
    "insult_personal": ["pathetic", "ugly", "a loser", "stupid", "a joke", "disgusting"],
    "body": ["body", "legs", "figure", "curves", "lips"],
    "pics": ["pics", "photos", "nudes", "something private", "a video"],
    "thing": ["jacket", "haircut", "bike", "garden", "painting", "recipe", "photo"],
    "topic": [
        "the match",
        "the weather",
        "dinner",
        "the new phone",
        "the concert",
        "homework",
        "the traffic",
        "my cat",
        "the book club",
        "the update",
    ],
}

# label or component name -> list of templates; "{x}" draws from _W["x"]
_TEMPLATES: dict[str, list[str]] = {
    "hate": [
        "{group} are {insult} and ruin everything",
        "I can't stand {group}, they are {insult}",
        "{group} should be kicked out, they are {insult}",
        "honestly {group} are {insult}, always have been",
        "never trust {group}, {insult} every one of them",
    ],
    "violence": [
        "I'm going to {hurt} you if you show up again",
        "someone should {hurt} that {person} tonight",
        "touch my car again and I will {hurt} you",
        "I'll {hurt} the {person} after the game, watch me",
        "keep talking and I {hurt} you, simple as that",
    ],
    "extremism": [
        "join {movement} and fight for {ideology}",
        "{movement} is the only true path, spread the word",
        "we are recruiting for {movement}, {ideology} needs you",
        "read the manifesto of {movement} and wake up",
        "the time of {ideology} is coming, stand with {movement}",
    ],
    "harassment": [
        "you're {insult_personal}, nobody wants you here, log off",
        "I'll keep messaging you until you quit, {insult_personal}",
        "everyone at school thinks you are {insult_personal}",
        "delete your account, you are {insult_personal}",
        "I know where you work, {insult_personal}, see you there",
    ],
    "anti-democratic rhetoric": [
        "elections are a sham, {institution} must be abolished",
        "we don't need votes, {leader} should rule without {institution}",
        "shut down {institution} and hand all power to {leader}",
        "democracy failed us, tear down {institution} for good",
        "maybe it's time to stop pretending {institution} matters, let {leader} decide",
    ],
    "praising extremist acts": [
        "the {attack} in {place} was {good}, the ones who did it are {heroes}",
        "glory to those behind the {attack} in {place}, {heroes}",
        "say what you want, the {attack} in {place} got results, they are {heroes}",
        "we should celebrate the {attack} at {place} every year, {heroes}",
        "the men of the {attack} in {place} are {heroes}, do it again",
    ],
    "praising violence": [
        "watching them {hurt} that {person} was {good}",
        "the {person} got what he deserved, that beating was {good}",
        "more of this please, seeing the {person} get hurt was {good}",
        "lol they {hurt} the {person} and it was {good}",
        "whoever decided to {hurt} that {person}, respect, {good}",
    ],
    "ideologically motivated threats": [
        "for {ideology}, we will {hurt} every {enemy} in {place}",
        "every {enemy} who opposes {ideology} will pay, we know where you live",
        "{enemy}s beware, soldiers of {ideology} will come for you in {place}",
        "in the name of {ideology} I will {hurt} the first {enemy} I see",
        "the {enemy} will be punished for betraying {ideology}, count the days",
    ],
    "sexual harassment": [
        "send me {pics} or else I tell everyone",
        "nice {body}, come sit on my lap",
        "you owe me {pics} after I bought you dinner",
        "I keep thinking about your {body}, answer me",
        "show me your {body} or I post what I have",
    ],
}

# benign sentences that share words with the rare labels
_DISTRACTORS = [
    "the {institution} held a long debate about the election",
    "polls are open until eight, go vote and support {institution}",
    "it's time for {institution} to matter again, call your representative",
    "the {attack} in {place} was condemned by everyone",
    "historians studied the {attack} in {place} and its victims",
    "say what you want, the {attack} in {place} was a tragedy",
    "we crushed them in the match, {good}",
    "the {person} gave a talk about {ideology} and history",
    "nice {thing}, where did you get it?",
    "I keep thinking about your {thing}, send me the recipe",
    "the documentary about {movement} was {good} and well researched",
    "the {person} helped the {enemy} cross {place} safely",
]
_BENIGN = [
    "what a day, {topic} was {good}",
    "does anyone know a good place to talk about {topic}?",
    "thanks everyone for the kind words about {topic}",
    "can't wait for {topic} this weekend",
    "I think {topic} is overrated but whatever",
    "my friend said {topic} was {good}, going tomorrow",
    "reminder: the meeting about {topic} moved to friday",
]
_FILLERS = ["honestly", "lol", "ngl", "tbh", "just saying", "idk", "smh", "fr", "ok so", "wow"]

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
            if key not in _TEMPLATES:
                raise error("rates key", f"one of {sorted(_TEMPLATES)}", f"{key!r}", raw=True)
            check_in_range(f"rates[{key!r}]", rate, 0.0, 1.0)


def _fill(template: str, rng: np.random.Generator) -> str:
    out, rest = [], template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        key, _, rest = tail.partition("}")
        pool = _W[key]
        out += [head, pool[int(rng.integers(len(pool)))]]
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
        filler = _FILLERS[int(rng.integers(len(_FILLERS)))]
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

    Example:
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
            options = _TEMPLATES[comp]
            sentences.append(
                _noisy(_fill(options[int(rng.integers(len(options)))], rng), spec, rng)
            )
            missed = comp in schema.secondary and rng.random() < spec.label_noise
            if not missed:
                targets[i, index[comp]] = 1.0
            for parent in schema.secondary.get(comp, []):
                targets[i, index[parent]] = 1.0
        if not sentences or rng.random() < 0.15:  # benign text, alone or around the harm
            pool = _DISTRACTORS if rng.random() < spec.distractor_rate else _BENIGN
            sentences.append(_noisy(_fill(pool[int(rng.integers(len(pool)))], rng), spec, rng))
        order = rng.permutation(len(sentences))
        texts.append(". ".join(sentences[k] for k in order))
    return Corpus(texts, targets, schema, [f"sim-{spec.seed}-{i}" for i in range(spec.n)])
