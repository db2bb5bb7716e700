"""toolkit: annotation and classifier training for Chinese financial and tech news.

The CLI (``toolkit ...``) is a thin layer over this API, which notebooks import::

    from toolkit import ingest, RulePreannotator, Trainer, TrainConfig, TextClassifier, evaluate_model, push, pull

Names are imported on first use, so ``import toolkit`` stays cheap (no PyTorch until a model is touched).
``ingest`` is the one bound at once: it shares its name with the stage's package ``toolkit.ingest``, whose
import would otherwise leave the package, not the function, as ``toolkit.ingest``. Import the package's
modules with ``from toolkit.ingest.… import …``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "ingest_articles": "toolkit.ingest",
    "RulePreannotator": "toolkit.annotate",
    "RulesConfig": "toolkit.annotate",
    "Trainer": "toolkit.train.trainer",
    "TrainConfig": "toolkit.train.config",
    "load_train_config": "toolkit.train.config",
    "build_dataset": "toolkit.train.data",
    "TextClassifier": "toolkit.model",
    "load_encoder": "toolkit.model",
    "evaluate_model": "toolkit.evaluate.report",
    "run_predict": "toolkit.predict.run",
    "push": "toolkit.studio.push",
    "pull": "toolkit.studio.export",
    "load_schema": "toolkit.labels",
}
__all__ = ["ingest", *_API, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


from toolkit.ingest import ingest  # noqa: E402  (after __version__, which the ingest modules read)
