"""Rule-based pre-annotation: sentiment, stance, topics and competitor mentions with scores and reasons.

How cues combine (all terms and weights come from ``labels/lexicon``, all factors from ``RulesConfig``):

1. One Aho-Corasick pass over ``text_norm`` finds every lexicon term, entity alias and subject alias.
   A lexical hit inside a longer lexical hit is dropped (不 inside 不确定).
2. Tone cues: a negator shortly before a cue in the same clause flips it; cues before a contrast marker
   (但, 然而) or in a concessive clause (尽管) are damped and cues after the contrast are boosted, so the
   main clause wins; cues in a hypothetical (如果) or a question are damped.
3. Stance cues are treated the same way. A conditional with a consequence or a negative cue
   (如果…可能面临…) is risk evidence. Tone also counts toward stance: toward bullish/risk for the subject,
   but positive tone about a competitor with no mention of the subject counts as risk.
4. Scores are a softmax over ``[scale * positive evidence, neutral bias, scale * negative evidence]``.
5. Topic scores are ``1 - exp(-sum of keyword weights)``; every named competitor adds to ``competitor``.
6. A unit without a named competitor can still mention one (kinds in ``anaphora.tsv``): a ``back``
   reference (双方, 与之相比) means the competitor named last in the preceding ``anaphora_window`` units of
   the article; a pronoun opening the unit (其…) the competitor of the unit just before, if that unit is
   not also about the followed company; an elided plural subject (都…) that unit's competitor in any
   case; a generic group (行业, 别人) set against the followed company in a later clause, the
   ``collective_entity``. Only ``annotate`` knows the preceding units; ``predict`` sees one text at a time.
"""

from __future__ import annotations

import bisect
import math
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import ahocorasick
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolkit.annotate.lexicon import LEXICON_FILES, Lexicon, load_lexicon
from toolkit.errors import ConfigError
from toolkit.ingest.normalize import normalize
from toolkit.labels import LabelSchema, Subject, load_schema
from toolkit.records import sentence_id
from toolkit.resources import labels_path

_CLAUSE_BREAK = re.compile(r"[,;:!?。！？…—]")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


class RulesConfig(BaseModel):
    """How rule cues combine; see ``configs/rules.yaml`` for what each number means."""

    model_config = ConfigDict(extra="forbid")

    subject: Subject | None = None
    negation_window: int = Field(3, ge=0)
    concession_weight: float = Field(0.35, ge=0)
    main_clause_weight: float = Field(1.3, ge=0)
    conditional_weight: float = Field(0.5, ge=0)
    conditional_risk: float = Field(1.5, ge=0)
    question_weight: float = Field(0.5, ge=0)
    anaphora_window: int = Field(3, ge=0)
    collective_entity: str | None = "rivals"
    sentiment_to_stance: float = Field(0.8, ge=0)
    competitor_good_news_risk: float = Field(1.0, ge=0)
    evidence_scale: float = Field(1.6, gt=0)
    neutral_bias: float = 1.0
    topic_threshold: float = Field(0.5, gt=0, lt=1)
    topic_thresholds: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path) -> RulesConfig:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            return cls.model_validate(data)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read rules config: {exc}") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"{path}: field {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


class _Hit(NamedTuple):
    start: int
    end: int
    term: str


class Context(NamedTuple):
    """What the preceding units of the same article said, for references back to them."""

    antecedent: str | None = None  # the competitor named last within ``anaphora_window`` units
    previous: str | None = None  # the last competitor mentioned in the unit just before
    previous_about_subject: bool = False  # whether that unit also names the followed company


_OPENING_NOISE = " \t\"'“‘「『(（[【《"  # what may precede an opening reference

@dataclass
class _Evidence:
    """Accumulated evidence for one single-choice task, with the reasons."""

    plus: float = 0.0
    minus: float = 0.0

    def add(self, weight: float) -> None:
        if weight >= 0:
            self.plus += weight
        else:
            self.minus -= weight


def _plain_factor(hit: _Hit, tone: bool) -> tuple[float, str]:
    """The factor of every cue in a unit without negation, clause structure or question."""
    return 1.0, "lexicon"


def _choice(labels: Sequence[str], plus: float, neutral: float, minus: float) -> dict[str, Any]:
    """Softmax over the (positive, neutral, negative) logits of a single-choice task, and its label."""
    top = max(plus, neutral, minus)
    a, b, c = math.exp(plus - top), math.exp(neutral - top), math.exp(minus - top)
    total = a + b + c
    label = labels[0] if a >= b and a >= c else labels[1] if b >= c else labels[2]
    return {"label": label, "scores": {labels[0]: a / total, labels[1]: b / total, labels[2]: c / total}}


class RulePreannotator:
    """Pre-annotates sentences with the rules; ``predict`` takes texts, ``annotate`` takes records.

    Parameters
    ----------
    schema : label schema (default: the bundled ``labels/schema.yaml``)
    lexicon_dir : folder of lexicon files (default: ``labels/lexicon``)
    config : how cues combine (default: ``RulesConfig()``)
    """

    TASKS = ("sentiment", "stance", "topics")  # the tasks a prediction block scores (besides competitor spans)

    def __init__(
        self, schema: LabelSchema | None = None, lexicon_dir: str | Path | None = None,
        config: RulesConfig | None = None,
    ) -> None:
        self.schema = schema or load_schema()
        self.config = config or RulesConfig()
        self.subject = self.config.subject or self.schema.subject
        self.topics = self.schema.task("topics").label_names
        unknown = sorted(set(self.config.topic_thresholds) - set(self.topics))
        if unknown:
            raise ConfigError(f"topic_thresholds names unknown topics: {', '.join(unknown)}")
        self.lexicon_dir = Path(lexicon_dir) if lexicon_dir else labels_path("lexicon")
        self.lexicon: Lexicon = load_lexicon(str(self.lexicon_dir), topics=self.topics)
        self.model_version = f"rules-{self.lexicon.version}"
        competitors = {k: e for k, e in self.schema.mentions.entities.items() if k != self.subject.id}
        self._entity_of: dict[str, str] = {
            normalize(alias): entity_id
            for entity_id, entity in competitors.items()
            for alias in entity.aliases + entity.ambiguous_aliases
        }
        # An ambiguous alias (理想 = "ideal") counts only with another mention or a context word present.
        self._context_of: dict[str, tuple[str, ...]] = {
            normalize(alias): tuple(normalize(word) for word in entity.context)
            for entity in competitors.values()
            for alias in entity.ambiguous_aliases
        }
        self._subject_terms = frozenset(normalize(a) for a in self.subject.aliases)
        collective = self.config.collective_entity
        if collective is not None and collective not in competitors:
            raise ConfigError(f"collective_entity {collective!r} is not a competitor entity of the schema")
        lex = self.lexicon
        self._back = frozenset(lex.references("back"))
        self._openings = lex.references("opening") + lex.references("opening-plural")
        self._plural = frozenset(lex.references("opening-plural"))
        self._compounds = lex.references("compound")
        contrasts = lex.references("contrast") if collective else ()
        self._contrasts = frozenset(contrasts)
        self._contrast_terms = re.compile("|".join(map(re.escape, contrasts))) if contrasts else None
        self._lexical = frozenset(lex.sentiment) | frozenset(lex.stance) | lex.negation | frozenset(lex.structure)
        self._ascii_terms = frozenset(t for t in self._all_terms() if _ASCII_WORD.match(t[0]))
        self._thresholds = {t: self.config.topic_thresholds.get(t, self.config.topic_threshold) for t in self.topics}
        self._sentiment_labels = self.schema.task("sentiment").label_names
        self._stance_labels = self.schema.task("stance").label_names
        self._automaton = self._build_automaton()

    @property
    def topic_thresholds(self) -> dict[str, float]:
        """The score each topic must reach to be chosen."""
        return dict(self._thresholds)

    def save(self, folder: str | Path) -> Path:
        """Write schema, rules config and lexicon files to ``folder``, so ``load`` rebuilds these exact rules
        wherever the folder goes (a model trained on the rules' scores needs the same rules to predict)."""
        folder = Path(folder)
        (folder / "lexicon").mkdir(parents=True, exist_ok=True)
        for name, model in (("schema.yaml", self.schema), ("rules.yaml", self.config)):
            data = model.model_dump(mode="json")
            (folder / name).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        for name in LEXICON_FILES:
            shutil.copyfile(self.lexicon_dir / name, folder / "lexicon" / name)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> RulePreannotator:
        """The rules ``save`` wrote to ``folder``."""
        folder = Path(folder)
        return cls(load_schema(folder / "schema.yaml"), folder / "lexicon", RulesConfig.from_file(folder / "rules.yaml"))

    def _all_terms(self) -> set[str]:
        lex = self.lexicon
        return (
            set(lex.sentiment) | set(lex.stance) | set(lex.topics) | lex.negation | set(lex.structure)
            | self._back | set(self._entity_of) | self._subject_terms
        )

    def _build_automaton(self) -> ahocorasick.Automaton:
        """Each term maps to (term, length, is ASCII, is lexical), so matching needs no set lookups."""
        automaton = ahocorasick.Automaton()
        for term in self._all_terms():
            automaton.add_word(term, (term, len(term), term in self._ascii_terms, term in self._lexical))
        automaton.make_automaton()
        return automaton

    def _hits(self, norm: str) -> list[_Hit]:
        found = []
        append = found.append
        for end, (term, length, is_ascii, is_lexical) in self._automaton.iter(norm):
            start = end - length + 1
            if is_ascii and (
                (start > 0 and _ASCII_WORD.match(norm[start - 1]))
                or (end + 1 < len(norm) and norm[end + 1].islower() and norm[end + 1].isascii())
            ):
                continue  # an ASCII term inside a longer ASCII word (AI in AIoT)
            append((start, -end - 1, term, is_lexical))
        if len(found) > 1:
            found.sort()
        kept: list[_Hit] = []
        lexical_end = -1
        for start, neg_end, term, is_lexical in found:
            if is_lexical:
                if -neg_end <= lexical_end:
                    continue  # inside a longer lexical hit
                lexical_end = -neg_end
            kept.append(_Hit(start, -neg_end, term))
        return kept

    def predict(self, texts: Iterable[str]) -> list[dict[str, Any]]:
        """Prediction blocks for raw texts (normalised here)."""
        return [self.predict_one(text) for text in texts]

    def predict_one(self, text: str, norm: str | None = None, context: Context | None = None) -> dict[str, Any]:
        """The prediction block for one unit; ``norm`` is ``normalize(text)`` if already computed.

        ``context`` describes the preceding units of the article, which references may point back to.
        """
        return self._predict(text, norm or normalize(text), context or Context())[0]

    def _predict(self, text: str, norm: str, context: Context) -> tuple[dict[str, Any], bool]:
        """The prediction block and whether the unit names the followed company."""
        cfg, lex = self.config, self.lexicon
        hits = self._hits(norm)
        structure, negation = lex.structure, lex.negation
        role_at = [(h, structure[h.term]) for h in hits if h.term in structure]
        negators = [h for h in hits if h.term in negation]
        question = norm.rstrip().endswith("?") or "吗" in norm[-3:]
        conditional = next((h.start for h, r in role_at if r == "conditional"), None) if role_at else None
        if negators or role_at or question:
            factor = self._structure(norm, role_at, negators, question, conditional)
        else:  # nothing can change a cue's weight
            factor = _plain_factor
        explanations: list[dict[str, Any]] = []
        tone, stance = _Evidence(), _Evidence()
        sentiment_of, stance_of = lex.sentiment, lex.stance
        for hit in hits:
            term = hit.term
            base_tone = sentiment_of.get(term)
            if base_tone is not None:
                f, why = factor(hit, True)
                weight = base_tone * f
                tone.add(weight)
                explanations.append(
                    {"task": "sentiment", "label": "positive" if weight >= 0 else "negative", "cue": term,
                     "start": hit.start, "end": hit.end, "weight": weight, "rule": why}
                )
            if term in stance_of:
                direction, base = stance_of[term]
                f, why = factor(hit, False)
                weight = base * f * (1 if direction == "bullish" else -1)
                stance.add(weight)
                explanations.append(
                    {"task": "stance", "label": "bullish" if weight >= 0 else "risk", "cue": term,
                     "start": hit.start, "end": hit.end, "weight": weight, "rule": why}
                )

        consequence = any(r in ("consequence", "alternative") for _, r in role_at)
        if conditional is not None and (consequence or tone.minus > 0 or stance.minus > 0):
            stance.add(-cfg.conditional_risk)
            explanations.append(
                {"task": "stance", "label": "risk", "cue": norm[conditional : conditional + 2],
                 "start": conditional, "weight": -cfg.conditional_risk, "rule": "conditional warning"}
            )

        mentions = self._mentions(hits, norm)
        entity_of = self._entity_of
        subject_at = next((h.start for h in hits if h.term in self._subject_terms), None)
        about_subject = subject_at is not None
        unnamed: set[str] = set()
        if not mentions:
            reference = self._reference(hits, norm, subject_at, context)
            if reference is not None:
                mentions = [reference[0]]
                entity_of = {**entity_of, reference[0].term: reference[1]}
                unnamed = {reference[0].term} - self._contrasts
        if mentions and not about_subject:
            stance.add(-cfg.competitor_good_news_risk * tone.plus)
            stance.add(cfg.sentiment_to_stance * tone.minus)
            if tone.plus:
                explanations.append(
                    {"task": "stance", "label": "risk", "weight": -cfg.competitor_good_news_risk * tone.plus,
                     "rule": "good news about a competitor"}
                )
        else:
            stance.add(cfg.sentiment_to_stance * (tone.plus - tone.minus))

        scale, bias = cfg.evidence_scale, cfg.neutral_bias
        topics = self._topics(hits, [entity_of[h.term] for h in mentions], explanations)
        block = {
            "model_version": self.model_version,
            "sentiment": _choice(self._sentiment_labels, scale * tone.plus, bias, scale * tone.minus),
            "stance": _choice(self._stance_labels, scale * stance.plus, bias, scale * stance.minus),
            "topics": topics,
            "competitors": [
                {"start": h.start, "end": h.end, "entity": entity_of[h.term], "surface": text[h.start : h.end]}
                | ({"anaphor": True} if h.term in unnamed else {})
                for h in mentions
            ],
            "explanations": explanations,
        }
        return block, about_subject

    def _structure(
        self, norm: str, role_at: list[tuple[_Hit, str]], negators: list[_Hit], question: bool, conditional: int | None
    ) -> Callable[[_Hit, bool], tuple[float, str]]:
        """``factor(hit, is_tone)``: a cue's multiplier from negation and clause structure, and the reason."""
        cfg = self.config
        breaks = [m.start() for m in _CLAUSE_BREAK.finditer(norm)]  # clause positions: negation scope, concession

        def clause(pos: int) -> int:
            return bisect.bisect_right(breaks, pos)

        contrast = next((h.start for h, r in role_at if r == "contrast" and h.start > 0), None)
        concessive = {clause(h.start) for h, r in role_at if r == "concessive"}

        def factor(hit: _Hit, tone: bool) -> tuple[float, str]:
            f, why = 1.0, []
            if any(
                n.end <= hit.start and hit.start - n.end <= cfg.negation_window and clause(n.start) == clause(hit.start)
                for n in negators
            ):
                f, why = -0.8, ["negation"]
            if contrast is not None:
                f *= cfg.concession_weight if hit.start < contrast else cfg.main_clause_weight
                why.append("before contrast" if hit.start < contrast else "main clause")
            elif clause(hit.start) in concessive:
                f *= cfg.concession_weight
                why.append("concessive clause")
            if tone and conditional is not None and hit.start >= conditional:
                f *= cfg.conditional_weight
                why.append("hypothetical")
            if tone and question:
                f *= cfg.question_weight
                why.append("question")
            return f, ", ".join(why) or "lexicon"

        return factor

    def _reference(
        self, hits: list[_Hit], norm: str, subject_at: int | None, context: Context
    ) -> tuple[_Hit, str] | None:
        """A competitor referred to without its name, as ``(hit, entity)``; see point 6 above."""
        if context.antecedent is not None:
            back = next((h for h in hits if h.term in self._back), None)
            if back is not None:
                return back, context.antecedent
        if context.previous is not None:
            body = norm.lstrip(_OPENING_NOISE)
            if not body.startswith(self._compounds):
                term = next((t for t in self._openings if body.startswith(t)), None)
                if term is not None and (term in self._plural or not context.previous_about_subject):
                    start = len(norm) - len(body)
                    return _Hit(start, start + len(term), term), context.previous
        if subject_at is not None and self._contrast_terms is not None:
            for match in self._contrast_terms.finditer(norm, 0, subject_at):
                if _CLAUSE_BREAK.search(norm, match.end(), subject_at):
                    return _Hit(match.start(), match.end(), match.group()), self.config.collective_entity
        return None

    def _mentions(self, hits: list[_Hit], norm: str) -> list[_Hit]:
        """Competitor mentions, longest first where they nest (鸿蒙 inside 鸿蒙智行 is not a second one)."""
        found: list[_Hit] = []
        for hit in hits:  # sorted by start, longest first
            if hit.term in self._entity_of and (not found or hit.end > found[-1].end):
                found.append(hit)
        confirmed = any(h.term not in self._context_of for h in found)
        return [
            h for h in found
            if h.term not in self._context_of or confirmed or any(w in norm for w in self._context_of[h.term])
        ]

    def _topics(self, hits: list[_Hit], entities: list[str], explanations: list[dict[str, Any]]) -> dict[str, Any]:
        """Topic scores and chosen labels; each keyword (and each competitor) adds its cue to ``explanations``."""
        totals: dict[str, float] = {}
        keywords, seen = self.lexicon.topics, set()
        for hit in hits:
            term = hit.term
            if term in keywords and term not in seen:
                seen.add(term)
                for topic, weight in keywords[term]:
                    totals[topic] = totals.get(topic, 0.0) + weight
                    explanations.append({"task": "topics", "label": topic, "cue": term, "start": hit.start,
                                         "end": hit.end, "weight": weight, "rule": "keyword"})
        if entities and "competitor" in self._thresholds:
            for entity in sorted(set(entities)):
                totals["competitor"] = totals.get("competitor", 0.0) + 1.0
                explanations.append(
                    {"task": "topics", "label": "competitor", "cue": entity, "weight": 1.0, "rule": "mention"}
                )
        scores = dict.fromkeys(self.topics, 0.0)
        for topic, weight in totals.items():
            if weight:
                scores[topic] = 1.0 - math.exp(-weight)
        thresholds = self._thresholds
        return {"labels": [t for t in self.topics if t in totals and scores[t] >= thresholds[t]], "scores": scores}

    def annotate(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Add a ``predictions`` block to each record (any dict with ``text``); the input is not modified.

        Missing ``text_norm`` and ``id`` are computed as ingest does (``article_id`` defaults to ""). Records
        of one article are expected in order, as ingest writes them, for anaphora to resolve.
        """
        last_named: dict[str, tuple[int, str]] = {}  # article id -> (position, entity) of its last named mention
        window = self.config.anaphora_window
        previous: tuple[str, int, str | None, bool] = ("", -2, None, False)  # article, position, entity, subject
        for position, record in enumerate(records):
            text = record["text"]
            norm = record.get("text_norm") or normalize(text)
            out = dict(record, text_norm=norm)
            article_id = str(record.get("article_id", ""))
            if "id" not in out:
                out["id"] = sentence_id(article_id, norm)
            seen = last_named.get(article_id)
            adjacent = previous[0] == article_id and previous[1] == position - 1
            context = Context(  # antecedent, previous, previous_about_subject
                seen[1] if seen and position - seen[0] <= window else None,
                previous[2] if adjacent else None,
                adjacent and previous[3],
            )
            prediction, about_subject = self._predict(text, norm, context)
            competitors = prediction["competitors"]
            named = [m["entity"] for m in competitors if not m.get("anaphor")]
            if named:
                last_named[article_id] = (position, named[-1])
            previous = (article_id, position, competitors[-1]["entity"] if competitors else None, about_subject)
            out["predictions"] = prediction
            yield out
