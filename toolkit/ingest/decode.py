"""Bytes to text: UTF-8 (with or without BOM), GB18030/GBK and Big5, detected with charset-normalizer."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import charset_normalizer

from toolkit.errors import DecodeError

# Encodings a Chinese news file is realistically in; restricting detection to them avoids exotic guesses.
CANDIDATE_ENCODINGS = ("utf_8", "gb18030", "big5", "utf_16", "utf_32")
_UTF8_MAX_CHAR_BYTES = 4


@dataclass(slots=True)
class Decoded:
    text: str
    encoding: str
    warning: str | None = None


def _looks_binary(data: bytes) -> bool:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return False
    return data.find(b"\x00", 0, 8192) != -1  # no copy of the head, as a slice would make


def decode_bytes(data: bytes) -> Decoded:
    """Decode a text file's bytes, or raise ``DecodeError`` saying why it cannot be read as text.

    A UTF-8 file cut inside its last character (a truncated download) keeps everything before the cut
    and carries a warning instead of being rejected.
    """
    if not data or data.isspace():  # what `not data.strip()` tests, without copying the file
        raise DecodeError("empty file")
    if _looks_binary(data):
        raise DecodeError("binary file (contains NUL bytes)")
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
    best = charset_normalizer.from_bytes(data, cp_isolation=list(CANDIDATE_ENCODINGS)).best()
    if best is None:
        raise DecodeError(f"cannot detect the text encoding (tried {', '.join(CANDIDATE_ENCODINGS)})")
    return Decoded(str(best), best.encoding)
