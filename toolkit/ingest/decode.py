"""Bytes to text: UTF-8 (with or without BOM), GB18030/GBK and Big5-HKSCS, detected with charset-normalizer.

A file that is not UTF-8 is read, in this order, in the encoding the user gives, in the charset an HTML page
declares, or in the one charset-normalizer detects. Detection guesses on short text; where the guess is
weak, the article carries a warning that says so instead of being skipped or silently garbled.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer

from toolkit.errors import DecodeError

# Encodings a Chinese news file is realistically in; restricting detection to them avoids exotic guesses.
# Big5-HKSCS is Big5 plus the Hong Kong characters (啲, 嘅, 佢哋) that plain Big5 cannot decode.
CANDIDATE_ENCODINGS = ("utf_8", "gb18030", "big5hkscs", "utf_16", "utf_32")
_UTF8_MAX_CHAR_BYTES = 4
_UNMARKED_WIDE = ("utf_16_le", "utf_16_be", "utf_32_le", "utf_32_be")
# Encoding names (WHATWG labels, as pages declare them) -> the codec that reads them: the GBK family as
# GB18030, its superset, and Big5 as Big5-HKSCS, as browsers do. A page's declaration is trusted only for
# these: pages that declare iso-8859-1 or utf-8 and are neither are common.
_CHINESE_LABELS = {
    **dict.fromkeys(
        ("gb18030", "gbk", "gb2312", "x-gbk", "chinese", "csgb2312", "iso-ir-58", "gb_2312", "gb_2312-80", "cp936"),
        "gb18030",
    ),
    **dict.fromkeys(("big5", "big5-hkscs", "big5hkscs", "cn-big5", "csbig5", "x-x-big5", "cp950"), "big5hkscs"),
}
# <meta charset=gbk>, <meta http-equiv="Content-Type" content="text/html; charset=gb2312">, <?xml encoding=…?>
_DECLARED = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)|<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)""", re.I)
_DECLARATION_BYTES = 4096
# charset-normalizer's default ceiling on "mess" (0.2) rejects every reading of short CJK text mixed with
# Latin product names (小米SU7 Ultra搭载HyperOS 2.0): a second pass accepts the least messy reading, and warns.
_RELAXED_THRESHOLD = 1.0
_TIE = 0.01  # chaos within this is a tie, as charset-normalizer itself ranks


@dataclass(slots=True)
class Decoded:
    text: str
    encoding: str
    warning: str | None = None


def codec_name(encoding: str) -> str:
    """The codec that reads ``encoding`` (GBK names read as GB18030, Big5 as Big5-HKSCS); ``LookupError``
    for a name Python does not know."""
    label = encoding.strip().lower()
    return _CHINESE_LABELS.get(label) or codecs.lookup(label).name


def _unmarked_wide(data: bytes) -> Decoded:
    """A file with NUL bytes and no byte-order mark: text only in UTF-16 or UTF-32, as some Windows tools
    save it (each ASCII character has a NUL byte there), else binary."""
    best = charset_normalizer.from_bytes(data, cp_isolation=list(_UNMARKED_WIDE)).best()
    if best is None:
        raise DecodeError("binary file (contains NUL bytes)")
    return Decoded(str(best), best.encoding)


def _looks_binary(data: bytes) -> bool:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return False
    return data.find(b"\x00", 0, 8192) != -1  # no copy of the head, as a slice would make


def decode_bytes(data: bytes, encoding: str | None = None, *, html: bool = False) -> Decoded:
    """Decode a text file's bytes, or raise ``DecodeError`` saying why it cannot be read as text.

    UTF-8 is tried first. Otherwise ``encoding`` (a codec name) is used when given, else the charset an
    HTML page (``html``) declares, else detection. A UTF-8 file cut inside its last character (a truncated
    download) keeps everything before the cut and carries a warning instead of being rejected.
    """
    if not data or data.isspace():  # what `not data.strip()` tests, without copying the file
        raise DecodeError("empty file")
    if _looks_binary(data):
        return _unmarked_wide(data)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        try:
            return Decoded(data.decode("utf-8"), "utf_8_sig")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"invalid UTF-8 after a UTF-8 BOM at byte {exc.start}") from None
    try:
        return Decoded(data.decode("utf-8"), "utf_8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and len(data) - exc.start < _UTF8_MAX_CHAR_BYTES:
            dropped = len(data) - exc.start
            return Decoded(
                data[: exc.start].decode("utf-8"),
                "utf_8",
                warning=f"truncated UTF-8: dropped {dropped} incomplete trailing byte(s)",
            )
    if encoding:
        codec = codec_name(encoding)
        try:
            return Decoded(data.decode(codec), codec)
        except UnicodeDecodeError as exc:
            raise DecodeError(f"neither UTF-8 nor {codec} (the encoding given): invalid byte at {exc.start}") from None
    declared = declared_encoding(data) if html else None
    if declared:
        try:
            return Decoded(data.decode(declared), declared)
        except UnicodeDecodeError as exc:
            detected = _detect(data)
            note = f"the page declares {declared} but is not valid {declared} (byte {exc.start}); read as {detected.encoding}"
            detected.warning = "; ".join(filter(None, (note, detected.warning)))
            return detected
    return _detect(data)


def declared_encoding(data: bytes) -> str | None:
    """The Chinese charset an HTML page declares in its head (``<meta charset>``, ``<?xml encoding?>``)."""
    match = _DECLARED.search(data, 0, _DECLARATION_BYTES)
    if not match:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii").lower()
    return _CHINESE_LABELS.get(label)


def _preference(match: charset_normalizer.CharsetMatch) -> int:
    return CANDIDATE_ENCODINGS.index(match.encoding) if match.encoding in CANDIDATE_ENCODINGS else len(CANDIDATE_ENCODINGS)


def _detect(data: bytes) -> Decoded:
    """charset-normalizer's reading among ``CANDIDATE_ENCODINGS``, with a warning where it is a guess."""
    matches = charset_normalizer.from_bytes(data, cp_isolation=list(CANDIDATE_ENCODINGS))
    weak = not matches
    if weak:
        matches = charset_normalizer.from_bytes(
            data, cp_isolation=list(CANDIDATE_ENCODINGS), threshold=_RELAXED_THRESHOLD
        )
    best = matches.best()
    if best is None:
        raise DecodeError(
            f"cannot detect the text encoding (tried {', '.join(CANDIDATE_ENCODINGS)}); "
            "give it with --encoding if you know it"
        )
    tied = [
        match
        for match in matches
        if abs(match.chaos - best.chaos) < _TIE and match.coherence == best.coherence and str(match) != str(best)
    ]
    warning = None
    if tied:
        # charset-normalizer's order among equals is arbitrary; GB18030 first, as most Chinese news is mainland
        best, *others = sorted([best, *tied], key=_preference)
        warning = (
            f"encoding guessed: {best.encoding} and {', '.join(m.encoding for m in others)} read this text "
            "equally well; if it is garbled, give the encoding with --encoding"
        )
    elif weak:
        warning = (
            f"encoding guessed with low confidence ({best.encoding}): short text, or text that mixes scripts; "
            "if it is garbled, give the encoding with --encoding"
        )
    return Decoded(str(best), best.encoding, warning)
