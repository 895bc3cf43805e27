"""The Synthetic world: a seeded, fictional encyclopedia and multi-hop questions over it. No download.

Entities: countries, cities (located in a country), people (born in a city on a date), films
(directed by a person, released in a year) and organisations (founded by a person in a year). Names
are built from syllables, so no language model knows the answers; with probability
``distractor_rate`` an entity gets a *near-namesake* (``Varen Ostrik`` / ``Varen Ostrick``,
``The Silver Harbour`` / ``The Silver Harbor``) with different facts, so lexical retrieval must
discriminate. Every entity has one passage (title = its name) stating its facts in varied wording.

Question kinds (``hop_mix`` keys) and their templates; the gold decomposition uses MuSiQue-style
``#k`` placeholders for earlier answers:

============  ================================================================  =========================
kind          templates                                                         gold decomposition
============  ================================================================  =========================
``1-hop``     Where was P born? / When was P born? / Who directed F? /          the question itself
              Who founded O? / In which country is C? / When was F released?
``bridge``    Where was the director of F born? /                               Who directed F? ->
              When was the founder of O born?                                   Where was #1 born?
``comparison``Who was born first, A or B? / Which film came out first, F or G?  When was A born? ...
``yesno``     Were A and B born in the same city?                               Where was A born? ...
``3-hop``     In which country was the director of F born? /                    Who directed F? ->
              In which country was the founder of O born?                       Where was #1 born? ->
                                                                                In which country is #2?
============  ================================================================  =========================

Passages are written so that no single passage answers a multi-hop question: a film's passage names
its director but not where the director was born; a person's passage names a birth city and date but
never a film, an organisation or another person; a city's passage names its country but no person.

Determinism: only ``random.Random(seed)`` is used, and only ordered containers are iterated, so the same
arguments give the same world byte for byte on every machine and Python hash seed.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jade_env.data.corpus import Corpus
from jade_env.data.types import DecompositionStep, Example, Passage

KINDS: tuple[str, ...] = ("1-hop", "bridge", "comparison", "yesno", "3-hop")
DEFAULT_HOP_MIX: dict[str, float] = {"1-hop": 0.3, "bridge": 0.3, "comparison": 0.15, "yesno": 0.1, "3-hop": 0.15}

_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t", "tr", "v", "z", "th", "sh")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ei", "ou", "ar", "er", "or", "al", "el", "an", "en", "on")
_CODAS = ("", "", "n", "r", "s", "k", "l", "th", "m", "x")
_ADJECTIVES = ("Silver", "Golden", "Quiet", "Distant", "Broken", "Hidden", "Burning", "Frozen", "Crimson", "Pale", "Hollow",
               "Last", "Wandering", "Electric", "Northern", "Silent", "Bitter", "Gentle", "Iron", "Velvet", "Restless", "Bright",
               "Lonely", "Endless", "Secret", "Falling", "Painted", "Wild", "Shattered", "Sleeping")
_NOUNS = ("Harbour", "Garden", "River", "Mountain", "Letter", "Mirror", "Lantern", "Kingdom", "Winter", "Orchard", "Bridge",
          "Tower", "Voyage", "Promise", "Station", "Valley", "Shadow", "Island", "Festival", "Machine", "Horizon", "Carnival",
          "Meadow", "Compass", "Ember", "Tide", "Citadel", "Echo", "Signal", "Archive")
_SPELLING = {"Harbour": "Harbor", "Theatre": "Theater", "Colour": "Color", "Grey": "Gray"}
_PROFESSIONS = ("painter", "architect", "novelist", "film director", "composer", "engineer", "physicist", "sculptor",
                "photographer", "historian", "poet", "economist", "botanist", "chess player", "cartographer")
_GENRES = ("drama", "comedy", "thriller", "documentary", "musical", "science fiction", "western", "romance", "war", "mystery")
_ORG_KINDS = ("Institute", "Records", "Company", "Society", "Academy", "Foundation", "Works", "Observatory", "Press")
_ORG_DESCRIPTIONS = {"Institute": "research institute", "Records": "record label", "Company": "trading company",
                     "Society": "learned society", "Academy": "art academy", "Foundation": "charitable foundation",
                     "Works": "engineering firm", "Observatory": "observatory", "Press": "publishing house"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
_RIVERS = ("Ostra", "Velm", "Karun", "Sedra", "Palo", "Tamis", "Orvel", "Brisk", "Lunne", "Marro")


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    city: str
    day: int
    month: int
    year: int
    profession: str

    @property
    def date(self) -> str:
        return f"{self.day} {_MONTHS[self.month - 1]} {self.year}"

    @property
    def date_us(self) -> str:
        return f"{_MONTHS[self.month - 1]} {self.day}, {self.year}"

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.year, self.month, self.day)


@dataclass(frozen=True, slots=True)
class Film:
    name: str
    director: str
    year: int
    genre: str


@dataclass(frozen=True, slots=True)
class Organisation:
    name: str
    founder: str
    year: int
    kind: str


@dataclass(frozen=True, slots=True)
class SyntheticWorld:
    """A generated world: its questions, its passages (one per entity), and its entities by name."""

    examples: list[Example]
    corpus: Corpus
    passages_by_title: dict[str, Passage]
    seed: int


class _Names:
    """Unique fictional names, with near-namesakes on demand."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _word(self, syllables: int) -> str:
        r = self.rng
        w = "".join(r.choice(_ONSETS) + r.choice(_VOWELS) for _ in range(syllables)) + r.choice(_CODAS)
        return w.capitalize()

    def claim(self, name: str) -> bool:
        if name in self.used:
            return False
        self.used.add(name)
        return True

    def word(self, syllables: int = 2) -> str:
        while True:
            w = self._word(syllables)
            if self.claim(w):
                return w

    def person(self) -> str:
        while True:
            n = f"{self._word(self.rng.choice((1, 2)))} {self._word(2)}"
            if self.claim(n):
                return n

    def title(self) -> str:
        r = self.rng
        while True:
            n = f"The {r.choice(_ADJECTIVES)} {r.choice(_NOUNS)}"
            if r.random() < 0.5:
                n = f"{n} of {self._word(2)}"
            if self.claim(n):
                return n

    def namesake(self, name: str) -> str | None:
        """A near-namesake: one spelling changed, a letter doubled, or a British/American variant."""
        candidates = []
        for uk, us in _SPELLING.items():
            if uk in name:
                candidates.append(name.replace(uk, us))
        last = name.split()[-1]
        if len(last) > 3:
            stem = name[: len(name) - len(last)]
            candidates += [stem + last + "e", stem + last[:-1] + last[-1] * 2, stem + last[:-1] + "y", stem + last + "s"]
        self.rng.shuffle(candidates)
        for c in candidates:
            if self.claim(c):
                return c
        return None


def _validate(n_questions: int, seed: int, hop_mix: Mapping[str, float], distractor_rate: float, n_distractors: int) -> None:
    if isinstance(n_questions, bool) or not isinstance(n_questions, int) or n_questions < 1:
        raise ValueError(f"n_questions must be a positive integer, got {n_questions!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):  # None would draw a new world in every process, under the same ids
        raise ValueError(f"the Synthetic world's seed must be an integer, got {seed!r}")
    unknown = [k for k in hop_mix if k not in KINDS]
    if unknown:
        raise ValueError(f"hop_mix has unknown kind {unknown[0]!r}; expected keys from {', '.join(KINDS)}")
    if any((not isinstance(v, int | float)) or v < 0 for v in hop_mix.values()) or sum(hop_mix.values()) <= 0:
        raise ValueError(f"hop_mix weights must be non-negative numbers with a positive sum, got {dict(hop_mix)}")
    if isinstance(distractor_rate, bool) or not isinstance(distractor_rate, int | float) or not 0.0 <= distractor_rate <= 1.0:
        raise ValueError(f"distractor_rate must be in [0, 1], got {distractor_rate!r}")
    if isinstance(n_distractors, bool) or not isinstance(n_distractors, int) or n_distractors < 0:
        raise ValueError(f"n_distractors must be an integer >= 0, got {n_distractors!r}")


class _Builder:
    def __init__(self, n_questions: int, seed: int, distractor_rate: float) -> None:
        self.rng = random.Random(seed)
        self.names = _Names(self.rng)
        self.distractor_rate = distractor_rate
        scale = max(n_questions, 20)
        n_countries = 8 + scale // 400
        self.countries = [self.names.word(2) for _ in range(n_countries)]
        self.city_country: dict[str, str] = {}
        for _ in range(12 + scale // 20):
            self.city_country[self.names.word(self.rng.choice((2, 3)))] = self.rng.choice(self.countries)
        self.cities = list(self.city_country)
        self.people: dict[str, Person] = {}
        self.films: dict[str, Film] = {}
        self.orgs: dict[str, Organisation] = {}
        self.namesakes: dict[str, list[str]] = {}
        self._used_dates: set[tuple[int, int, int]] = set()

    # ------------------------------------------------------------------ entities
    def _date(self) -> tuple[int, int, int]:
        while True:
            d = (self.rng.randint(1850, 1999), self.rng.randint(1, 12), self.rng.randint(1, 28))
            if d not in self._used_dates:
                self._used_dates.add(d)
                return d

    def _person_named(self, name: str, city: str | None = None) -> Person:
        year, month, day = self._date()
        p = Person(name, city or self.rng.choice(self.cities), day, month, year, self.rng.choice(_PROFESSIONS))
        self.people[name] = p
        return p

    def person(self, city: str | None = None) -> Person:
        p = self._person_named(self.names.person(), city)
        if self.rng.random() < self.distractor_rate and (twin := self.names.namesake(p.name)):
            other = [c for c in self.cities if c != p.city]
            self._person_named(twin, self.rng.choice(other))
            self.namesakes.setdefault(p.name, []).append(twin)
        return p

    def film(self) -> Film:
        director = self.person()
        f = Film(self.names.title(), director.name, self.rng.randint(1920, 2020), self.rng.choice(_GENRES))
        self.films[f.name] = f
        if self.rng.random() < self.distractor_rate and (twin := self.names.namesake(f.name)):
            self.films[twin] = Film(twin, self.person().name, self.rng.randint(1920, 2020), self.rng.choice(_GENRES))
            self.namesakes.setdefault(f.name, []).append(twin)
        return f

    def org(self) -> Organisation:
        kind = self.rng.choice(_ORG_KINDS)
        while True:
            name = f"{self.names._word(2)} {kind}"
            if self.names.claim(name):
                break
        o = Organisation(name, self.person().name, self.rng.randint(1800, 2010), kind)
        self.orgs[name] = o
        return o

    # ------------------------------------------------------------------ passages
    def passages(self) -> list[Passage]:
        out: list[Passage] = []
        r = random.Random(self.rng.random())
        for k in self.countries:
            river = r.choice(_RIVERS)
            out.append(Passage("", k, r.choice((f"{k} is a country known for the valley of the {river} river.",
                                                f"{k} is a small country; the {river} river runs through it."))))
        for c, k in self.city_country.items():
            out.append(Passage("", c, r.choice((f"{c} is a city in {k}.", f"{c} is a town located in {k}, on the {r.choice(_RIVERS)} river.",
                                                f"The city of {c} lies in the north of {k}."))))
        for p in self.people.values():
            out.append(Passage("", p.name, r.choice((
                f"{p.name} (born {p.date}) is a {p.profession} from {p.city}.",
                f"{p.name} was born on {p.date} in {p.city}. {p.name.split()[0]} worked as a {p.profession}.",
                f"Born in {p.city} on {p.date}, {p.name} became a well-known {p.profession}.",
            ))))
        for f in self.films.values():
            out.append(Passage("", f.name, r.choice((
                f"{f.name} is a {f.year} {f.genre} film directed by {f.director}.",
                f"Directed by {f.director}, {f.name} is a {f.genre} film released in {f.year}.",
                f"{f.name} is a {f.genre} film from {f.year}. It was directed by {f.director}.",
            ))))
        for o in self.orgs.values():
            desc = _ORG_DESCRIPTIONS[o.kind]
            out.append(Passage("", o.name, r.choice((f"{o.name} is a {desc} founded in {o.year} by {o.founder}.",
                                                     f"Founded by {o.founder} in {o.year}, {o.name} is a {desc}."))))
        return [Passage(f"syn-{i:06d}", p.title, p.text) for i, p in enumerate(out)]


def _question(b: _Builder, kind: str) -> tuple[str, tuple[str, ...], list[str], tuple[DecompositionStep, ...]]:
    """(question, answers, supporting titles, decomposition) of one question of ``kind``."""
    r = b.rng
    if kind == "1-hop":
        t = r.randrange(6)
        if t == 0:
            p = b.person()
            return f"Where was {p.name} born?", (p.city,), [p.name], (DecompositionStep(f"Where was {p.name} born?", p.city, p.name),)
        if t == 1:
            p = b.person()
            return f"When was {p.name} born?", (p.date, p.date_us), [p.name], (DecompositionStep(f"When was {p.name} born?", p.date, p.name),)
        if t == 2:
            f = b.film()
            return f"Who directed {f.name}?", (f.director,), [f.name], (DecompositionStep(f"Who directed {f.name}?", f.director, f.name),)
        if t == 3:
            o = b.org()
            return f"Who founded {o.name}?", (o.founder,), [o.name], (DecompositionStep(f"Who founded {o.name}?", o.founder, o.name),)
        if t == 4:
            f = b.film()
            q = f"When was {f.name} released?"
            return q, (str(f.year),), [f.name], (DecompositionStep(q, str(f.year), f.name),)
        c = r.choice(b.cities)
        k = b.city_country[c]
        return f"In which country is {c}?", (k,), [c], (DecompositionStep(f"In which country is {c}?", k, c),)
    if kind == "bridge":
        if r.random() < 0.5:
            f = b.film()
            p = b.people[f.director]
            steps = (DecompositionStep(f"Who directed {f.name}?", p.name, f.name), DecompositionStep("Where was #1 born?", p.city, p.name))
            return f"Where was the director of {f.name} born?", (p.city,), [f.name, p.name], steps
        o = b.org()
        p = b.people[o.founder]
        steps = (DecompositionStep(f"Who founded {o.name}?", p.name, o.name), DecompositionStep("When was #1 born?", p.date, p.name))
        return f"When was the founder of {o.name} born?", (p.date, p.date_us), [o.name, p.name], steps
    if kind == "3-hop":
        if r.random() < 0.5:
            f = b.film()
            p = b.people[f.director]
            first = DecompositionStep(f"Who directed {f.name}?", p.name, f.name)
            q = f"In which country was the director of {f.name} born?"
            anchor = f.name
        else:
            o = b.org()
            p = b.people[o.founder]
            first = DecompositionStep(f"Who founded {o.name}?", p.name, o.name)
            q = f"In which country was the founder of {o.name} born?"
            anchor = o.name
        k = b.city_country[p.city]
        steps = (first, DecompositionStep("Where was #1 born?", p.city, p.name), DecompositionStep("In which country is #2?", k, p.city))
        return q, (k,), [anchor, p.name, p.city], steps
    if kind == "comparison":
        if r.random() < 0.5:
            a, c = b.person(), b.person()
            winner = a if a.order < c.order else c
            steps = (DecompositionStep(f"When was {a.name} born?", a.date, a.name),
                     DecompositionStep(f"When was {c.name} born?", c.date, c.name))
            return f"Who was born first, {a.name} or {c.name}?", (winner.name,), [a.name, c.name], steps
        f, g = b.film(), b.film()
        while g.year == f.year:
            g = b.film()
        winner_f = f if f.year < g.year else g
        steps = (DecompositionStep(f"When was {f.name} released?", str(f.year), f.name),
                 DecompositionStep(f"When was {g.name} released?", str(g.year), g.name))
        return f"Which film came out first, {f.name} or {g.name}?", (winner_f.name,), [f.name, g.name], steps
    # yesno: half the pairs share a birth city
    a = b.person()
    c = b.person(city=a.city if r.random() < 0.5 else r.choice([x for x in b.cities if x != a.city]))
    answer = "yes" if a.city == c.city else "no"
    steps = (DecompositionStep(f"Where was {a.name} born?", a.city, a.name), DecompositionStep(f"Where was {c.name} born?", c.city, c.name))
    return f"Were {a.name} and {c.name} born in the same city?", (answer,), [a.name, c.name], steps


def world_id(n_questions: int, seed: int, hop_mix: Mapping[str, float], distractor_rate: float, n_distractors: int) -> str:
    """The prefix of the question ids of a world: ``syn-s<seed>-n<size>``, plus a digest of any other non-default
    argument, so that an id names one question of one world (question 5 of a 500-question world is not question 5
    of a 1000-question world)."""
    prefix = f"syn-s{seed}-n{n_questions}"
    others = {"hop_mix": dict(hop_mix), "distractor_rate": distractor_rate, "n_distractors": n_distractors}
    if others == {"hop_mix": DEFAULT_HOP_MIX, "distractor_rate": 0.3, "n_distractors": 8}:
        return prefix
    return f"{prefix}-{hashlib.sha1(json.dumps(others, sort_keys=True).encode()).hexdigest()[:6]}"


def generate_world(
    n_questions: int = 1000,
    seed: int = 0,
    hop_mix: Mapping[str, float] | None = None,
    distractor_rate: float = 0.3,
    n_distractors: int = 8,
    split: str = "train",
) -> SyntheticWorld:
    """Generate a world and ``n_questions`` questions over it (see the module docstring)."""
    if hop_mix is not None and not isinstance(hop_mix, Mapping):
        raise ValueError(f"hop_mix must be a dict of question kind -> weight (kinds: {', '.join(KINDS)}), got {hop_mix!r}")
    mix = dict(DEFAULT_HOP_MIX if hop_mix is None else hop_mix)
    _validate(n_questions, seed, mix, distractor_rate, n_distractors)
    b = _Builder(n_questions, seed, distractor_rate)
    id_prefix = world_id(n_questions, seed, mix, distractor_rate, n_distractors)
    kinds = [k for k in KINDS if mix.get(k, 0) > 0]
    weights = [mix[k] for k in kinds]
    drafts = []
    for i in range(n_questions):
        kind = b.rng.choices(kinds, weights)[0]
        drafts.append((i, kind, *_question(b, kind)))
    passages = b.passages()
    by_title = {p.title: p for p in passages}
    titles = list(by_title)
    examples = []
    for i, kind, question, answers, support, steps in drafts:
        supporting = [by_title[t] for t in support]
        near = [by_title[n] for t in support for n in b.namesakes.get(t, ()) if n in by_title]
        chosen = {p.id for p in supporting}
        distractors = [p for p in near if p.id not in chosen][:n_distractors]
        chosen |= {p.id for p in distractors}
        while len(distractors) < n_distractors and len(chosen) < len(titles):
            p = by_title[titles[b.rng.randrange(len(titles))]]
            if p.id not in chosen:
                chosen.add(p.id)
                distractors.append(p)
        context = supporting + distractors
        b.rng.shuffle(context)
        examples.append(Example(id=f"{id_prefix}-{i:06d}", question=question, answers=answers, type=kind,
                                supporting_titles=tuple(support), context=tuple(context), decomposition=steps,
                                dataset="synthetic", split=split))
    corpus = Corpus(passages, name=f"synthetic:n={n_questions},seed={seed}")
    return SyntheticWorld(examples=examples, corpus=corpus, passages_by_title=by_title, seed=seed)


_WORLDS: dict[tuple, SyntheticWorld] = {}
_MAX_WORLDS = 8


def _cached_world(n: int, seed: int, items: tuple) -> SyntheticWorld:
    """The world of these arguments, generated once per process (the last few are kept)."""
    key = (n, seed, items)
    world = _WORLDS.get(key)
    if world is None:
        kwargs = {k: (dict(v) if k == "hop_mix" and isinstance(v, tuple) else v) for k, v in items}  # _freeze made it a tuple
        world = generate_world(n_questions=n, seed=seed, **kwargs)
        if len(_WORLDS) >= _MAX_WORLDS:
            _WORLDS.pop(next(iter(_WORLDS)))
        _WORLDS[key] = world
    return world


def _freeze(kwargs: Mapping) -> tuple:
    return tuple(sorted((k, tuple(sorted(v.items())) if isinstance(v, Mapping) else v) for k, v in kwargs.items()))


def load_synthetic(n: int = 1000, seed: int = 0, **kwargs) -> list[Example]:
    """The questions of ``generate_world(n, seed, **kwargs)`` (the world is cached per process)."""
    return list(_cached_world(n, seed, _freeze(kwargs)).examples)


def synthetic_corpus(n: int = 1000, seed: int = 0, **kwargs) -> Corpus:
    """The corpus of ``generate_world(n, seed, **kwargs)``: every passage of the world."""
    return _cached_world(n, seed, _freeze(kwargs)).corpus


def synthetic_corpus_of(examples: Sequence[Example]) -> Corpus:
    """The corpus of the world these examples were generated in (every passage of that world); for
    Synthetic examples read back from a file, the union of their context passages."""
    ids = [e.id for e in examples]
    for world in _WORLDS.values():
        if [e.id for e in world.examples[: len(ids)]] == ids or {e.id for e in world.examples} >= set(ids):
            return world.corpus
    from jade_env.data.corpora import pooled_corpus

    return pooled_corpus(examples, name="synthetic-pooled")
