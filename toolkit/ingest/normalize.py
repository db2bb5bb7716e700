"""Normalisation to Simplified, half-width text that stays character-aligned with the original.

``normalize(text)`` always returns a string of the same length as ``text`` so that an offset found in the
normalised text (by a lexicon or a model) is the same offset in the original, Traditional text included.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Literal

import opencc

Script = Literal["hans", "hant", "mixed"]

# Full-width ASCII forms (！ … ～) to their half-width forms, the ideographic space to a space, and
# Traditional-style corner quotes to the curly quotes used in Simplified text. All are 1:1 characters.
_WIDTH_MAP = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_WIDTH_MAP.update({0x3000: 0x20, ord("「"): ord("“"), ord("」"): ord("”"), ord("『"): ord("‘"), ord("』"): ord("’")})

_NEEDS_WIDTH_MAP = re.compile("[\uff01-\uff5e\u3000「」『』]")

_CJK_BLOCKS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# A unit is Traditional when its Traditional-only characters outnumber Simplified-only ones this many times.
_DOMINANCE = 3


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
    if _NEEDS_WIDTH_MAP.search(text):
        text = text.translate(_WIDTH_MAP)
    return to_simplified(text)


_TRAD_MARK, _SIMP_MARK = "\x01", "\x02"


@functools.lru_cache(maxsize=1)
def _script_table() -> tuple[dict[int, str], frozenset[str], frozenset[str]]:
    """Translation table marking script-specific characters, plus the two character sets."""
    block = "".join(chr(cp) for lo, hi in _CJK_BLOCKS for cp in range(lo, hi + 1))
    to_s = _convert_chars(block, "t2s")
    to_t = _convert_chars(block, "s2t")
    trad_only = frozenset(c for c, s in zip(block, to_s) if s != c)
    simp_only = frozenset(c for c, t in zip(block, to_t) if t != c) - trad_only
    table = {ord(c): _TRAD_MARK for c in trad_only} | {ord(c): _SIMP_MARK for c in simp_only}
    return table, trad_only, simp_only


def unit_scripts(text: str, spans: Sequence[tuple[int, int]]) -> tuple[Script, list[Script]]:
    """Script of ``text`` and of each ``text[start:end]`` span, a span without evidence taking the text's.

    When ``text`` uses only one script's specific characters every span gets the text's script without
    any per-span work, which is the common case.
    """
    table, trad_only, simp_only = _script_table()
    article = detect_script(text)
    if trad_only.isdisjoint(text) or simp_only.isdisjoint(text):
        return article, [article] * len(spans)
    marks = text.translate(table)
    return article, [_script_from_counts(marks, start, end, article) for start, end in spans]


def _script_from_counts(marks: str, start: int, end: int, default: Script) -> Script:
    n_trad = marks.count(_TRAD_MARK, start, end)
    n_simp = marks.count(_SIMP_MARK, start, end)
    if not n_trad and not n_simp:
        return default
    if n_trad >= n_simp:
        return "hant" if n_trad >= _DOMINANCE * n_simp or n_simp <= 1 else "mixed"
    return "hans" if n_simp >= _DOMINANCE * n_trad else "mixed"


def detect_script(text: str, default: Script = "hans") -> Script:
    """``hant``, ``hans`` or ``mixed`` by counting script-specific characters.

    A text with no script-specific character returns ``default``. Ties go to Traditional: several
    "Simplified-only" characters (后, 么, 并) also occur in Traditional text.
    """
    table, trad_only, simp_only = _script_table()
    has_trad, has_simp = not trad_only.isdisjoint(text), not simp_only.isdisjoint(text)
    if has_trad != has_simp:  # one script's evidence only: no need to count
        return "hant" if has_trad else "hans"
    if not has_trad:
        return default
    return _script_from_counts(text.translate(table), 0, len(text), default)
