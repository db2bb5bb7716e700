"""Locate the data folders (``labels/``, ``configs/``) in a source checkout or an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder ``name`` shipped with the package.

    A wheel carries it as ``toolkit/_data/<name>``; an editable install reads the repository's top-level
    folder, so edits to ``labels/`` take effect without reinstalling.
    """
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data folder {name!r} is missing from the installation")


def labels_path(filename: str) -> Path:
    return data_dir("labels") / filename


def config_path(filename: str) -> Path:
    return data_dir("configs") / filename


def cache_root() -> Path:
    """The toolkit's cache: ``$TOOLKIT_CACHE_DIR``, else the platform's user cache folder (platformdirs;
    ``~/.cache/toolkit`` on Linux). Built encoders and push indexes live under it."""
    if os.environ.get("TOOLKIT_CACHE_DIR"):
        return Path(os.environ["TOOLKIT_CACHE_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("toolkit", appauthor=False))
