"""Normalisation to Simplified, half-width text that stays character-aligned with the original.

``normalize(text)`` always returns a string of the same length as ``text`` so that an offset found in the
normalised text (by a lexicon or a model) is the same offset in the original, Traditional text included.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Sequence
from typing import Literal

import opencc

Script = Literal["hans", "hant", "mixed"]

# Full-width ASCII forms (！ … ～) to their half-width forms, the ideographic space to a space, and
# Traditional-style corner quotes to the curly quotes used in Simplified text. All are 1:1 characters.
_WIDTH_CHARS = {chr(cp): chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}
_WIDTH_CHARS.update({"\u3000": " ", "「": "“", "」": "”", "『": "‘", "』": "’"})
_FULL_WIDTH = re.compile(f"[{''.join(_WIDTH_CHARS)}]")

_CJK_BLOCKS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# A unit is Traditional when its Traditional-only characters outnumber Simplified-only ones this many times.
_DOMINANCE = 3
_COUNT_CAP = 24


@functools.lru_cache(maxsize=2)
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def _convert_chars(chars: str, config: str) -> str:
    """Convert each character on its own, keeping any that would change length."""
    converted = _converter(config).convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):
        return chars
    return "".join(new if len(new) == 1 else old for old, new in zip(chars, converted))


def to_simplified(text: str) -> str:
    """OpenCC t2s with phrase rules; falls back to per-character conversion if the length would change."""
    converted = _converter("t2s").convert(text)
    if len(converted) == len(text):
        return converted
    return _convert_chars(text, "t2s")


def normalize(text: str) -> str:
    """Half-width punctuation and Simplified characters, same length as ``text``."""
    return to_simplified(_half_width(text))


def _half_width(text: str) -> str:
    """Map ``_WIDTH_CHARS`` over ``text`` with one ``replace`` per distinct full-width character present.

    ``str.translate`` looks every character up in the map, ~70 ns each on CJK text: as much as OpenCC
    itself. A news article holds a handful of distinct full-width marks, and ``replace`` is a C scan.
    """
    for char in set(_FULL_WIDTH.findall(text)):
        text = text.replace(char, _WIDTH_CHARS[char])
    return text


@functools.lru_cache(maxsize=1)
def _script_chars() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Character-class regexes of Traditional-only and Simplified-only characters.

    A character is Traditional-only when OpenCC t2s changes it, Simplified-only when s2t does (and t2s
    does not). Searching with a character class runs at C speed, which is what ingest needs per article.
    """
    block = "".join(chr(cp) for lo, hi in _CJK_BLOCKS for cp in range(lo, hi + 1))
    to_s = _convert_chars(block, "t2s")
    to_t = _convert_chars(block, "s2t")
    trad = "".join(c for c, s in zip(block, to_s) if s != c)
    simp = "".join(c for c, s, t in zip(block, to_s, to_t) if s == c and t != c)
    return re.compile(f"[{trad}]"), re.compile(f"[{simp}]")


def _script_of(n_trad: int, n_simp: int, default: Script) -> Script:
    """Script from counts of script-specific characters; ``default`` when there are none.

    Ties go to Traditional: several "Simplified-only" characters (后, 么, 并) also occur in Traditional
    text. One script must outnumber the other ``_DOMINANCE`` times to win outright.
    """
    if not n_trad and not n_simp:
        return default
    if n_trad >= n_simp:
        return "hant" if n_trad >= _DOMINANCE * n_simp or n_simp <= 1 else "mixed"
    return "hans" if n_simp >= _DOMINANCE * n_trad else "mixed"


Matches = list[re.Match[str]]


def _find(pattern: re.Pattern[str], text: str, start: int, end: int, cap: int | None) -> Matches:
    """Matches of ``pattern`` in ``text[start:end]``, stopping at ``cap``."""
    return list(itertools.islice(pattern.finditer(text, start, end), cap))


def _span_evidence(text: str, start: int, end: int) -> tuple[Matches, Matches]:
    """Traditional-only and Simplified-only characters of a span, found only as far as deciding needs.

    A count past ``_COUNT_CAP`` is needed only when both reach it. With one script's count exact and
    small, the other only has to be counted up to ``_DOMINANCE`` times it for ``_script_of`` to decide
    the same way: a Traditional article is not counted in full for the few Simplified characters in its
    one Simplified line. So the losing script's matches are always complete: only a count that reached
    the cap is cut short, and such a count never loses.
    """
    trad, simp = _script_chars()
    found_trad, found_simp = _find(trad, text, start, end, _COUNT_CAP), _find(simp, text, start, end, _COUNT_CAP)
    n_trad, n_simp = len(found_trad), len(found_simp)
    if n_trad == n_simp == _COUNT_CAP:
        found_trad, found_simp = _find(trad, text, start, end, None), _find(simp, text, start, end, None)
    elif max(n_trad, n_simp) == _COUNT_CAP and _DOMINANCE * min(n_trad, n_simp) > _COUNT_CAP:
        needed = _DOMINANCE * min(n_trad, n_simp)
        if n_trad == _COUNT_CAP:
            found_trad = _find(trad, text, start, end, needed)
        else:
            found_simp = _find(simp, text, start, end, needed)
    return found_trad, found_simp


def _decide(evidence: tuple[Matches, Matches], default: Script) -> Script:
    return _script_of(len(evidence[0]), len(evidence[1]), default)


def _scan(text: str, default: Script) -> tuple[Script, tuple[Matches, Matches] | None]:
    """The text's script and, when it has characters specific to both scripts, those found deciding it.

    Two searches decide a text with one script's evidence only, the common case.
    """
    trad, simp = _script_chars()
    has_trad, has_simp = trad.search(text) is not None, simp.search(text) is not None
    if has_trad != has_simp:  # one script's evidence only: no need to count
        return ("hant" if has_trad else "hans"), None
    if not has_trad:
        return default, None
    evidence = _span_evidence(text, 0, len(text))
    return _decide(evidence, default), evidence


def detect_script(text: str, default: Script = "hans") -> Script:
    """``hant``, ``hans`` or ``mixed`` by counting script-specific characters; ``default`` without any."""
    return _scan(text, default)[0]


def unit_scripts(
    text: str, spans: Sequence[tuple[int, int] | tuple[int, int, str]]
) -> tuple[Script, list[Script]]:
    """Script of ``text`` and of each ``text[start:end]`` span (``(start, end, ...)``, in text order), a
    span without evidence taking the text's.

    Only spans holding a character of the text's minority script can differ from the text's script, so
    only those are counted (all spans when the text itself is mixed). A single-script text, the common
    case, costs two character-class searches; a text with a few minority characters reuses the ones found
    while deciding its script.
    """
    article, evidence = _scan(text, "hans")
    scripts = [article] * len(spans)
    if evidence is None:
        return article, scripts
    if article == "mixed":
        return article, [_decide(_span_evidence(text, span[0], span[1]), article) for span in spans]
    minority = evidence[1] if article == "hant" else evidence[0]  # complete (see _span_evidence)
    starts = [span[0] for span in spans]
    touched = {bisect.bisect_right(starts, match.start()) - 1 for match in minority}
    for i in touched - {-1}:  # spans are in text order; -1: before the first span
        scripts[i] = _decide(_span_evidence(text, spans[i][0], spans[i][1]), article)
    return article, scripts
