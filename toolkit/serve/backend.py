"""The ML-backend adapter (after Label Studio's ``LabelStudioMLBase``): ``setup``, ``predict``, ``fit``.

The model loads on first use. Results use the control names of the project's label config, so whatever
the project calls its controls, predictions show up in the labelling UI. Annotation events go to the review
store (:mod:`toolkit.serve.store`); with a retrain config, the backend retrains from them in the background
and swaps the new model in (:mod:`toolkit.serve.retrain`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.annotate import RulePreannotator
from toolkit.errors import ConfigError, ModelError, ToolkitError
from toolkit.model import TextClassifier, resolve_device
from toolkit.model.classifier import read_meta
from toolkit.predict.batch import BATCH_TOKENS, prediction_blocks
from toolkit.serve.retrain import Retrainer
from toolkit.serve.store import START_TRAINING, ReviewStore
from toolkit.studio.queue import certainty

log = logging.getLogger("toolkit.serve")


class BadRequest(ToolkitError):
    """The request is well-formed JSON but cannot be served (maps to HTTP 400/422)."""

    code = "E600"


@dataclass(frozen=True)
class Control:
    name: str
    to_name: str
    kind: str  # "choices" or "labels"
    values: tuple[str, ...]


@dataclass(frozen=True)
class Interface:
    """What a label config asks for: the data field holding the text and the controls over it."""

    text_field: str
    controls: tuple[Control, ...]


def parse_label_config(xml: str) -> Interface:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise BadRequest(f"label_config is not valid XML ({exc})") from None
    objects = {el.get("name"): el.get("value", "") for el in root.iter() if el.tag in ("Text", "HyperText", "Paragraphs")}
    controls = []
    for el in root.iter():
        if el.tag in ("Choices", "Labels") and el.get("toName") in objects:
            kind = "choices" if el.tag == "Choices" else "labels"
            values = tuple(c.get("value") for c in el if c.get("value"))
            controls.append(Control(el.get("name"), el.get("toName"), kind, values))
    if not controls:
        raise BadRequest("label_config has no Choices or Labels control over a Text object")
    text_field = objects[controls[0].to_name].lstrip("$")
    return Interface(text_field, tuple(controls))


def _match(task: dict[str, Any], controls: tuple[Control, ...]) -> Control | None:
    """The control for a model task: same name first, else the Choices control with exactly its labels."""
    choices = [c for c in controls if c.kind == "choices"]
    named = next((c for c in choices if c.name == task["name"]), None)
    return named or next((c for c in choices if set(c.values) == set(task["labels"])), None)


class ModelBackend:
    def __init__(self, model_dir: str | Path, *, store: str | Path | None = None, batch_size: int = 32,
                 device: str = "auto", retrain_config: str | Path | None = None, retrain_every: int = 50,
                 retrain_interval_s: float = 0.0) -> None:
        """``retrain_config`` (a training config) turns on retraining after every ``retrain_every`` changed
        annotations, at most once per ``retrain_interval_s``; new versions go to ``<store>/models``."""
        self.model_dir = Path(model_dir)
        self.device = resolve_device(device)  # an unusable device fails at start-up, not on the first request
        self.reviews = ReviewStore(store)
        self.batch_size = batch_size
        self._model: TextClassifier | None = None
        self._mentions: RulePreannotator | None = None
        self._lock = threading.Lock()
        self.retrainer: Retrainer | None = None
        if retrain_config is not None:
            if store is None:
                raise ConfigError("retraining needs a store folder for the annotations and model versions")
            self.retrainer = Retrainer(retrain_config, Path(store) / "models", self.reviews, every=retrain_every,
                                       interval_s=retrain_interval_s, on_trained=self.swap)
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._worker = threading.Thread(target=self._drain, daemon=True)
        self._worker.start()

    @property
    def model(self) -> TextClassifier:
        return self._current()[0]

    def _current(self) -> tuple[TextClassifier, RulePreannotator]:
        """The served model and its mention rules, read together so a swap never mixes two versions."""
        with self._lock:
            if self._model is None:
                self._model = TextClassifier.load(self.model_dir, device=self.device)
                self._mentions = self._model.rules or RulePreannotator()  # a rule-prior model's own rules
            return self._model, self._mentions

    def swap(self, model_dir: Path) -> None:
        """Load ``model_dir`` and serve it from the next request on; requests in flight finish on the old one."""
        model = TextClassifier.load(model_dir, device=self.device)
        mentions = model.rules or RulePreannotator()
        with self._lock:
            self._model, self._mentions, self.model_dir = model, mentions, Path(model_dir)
        log.info("now serving %s from %s", model.model_version, model_dir)

    def health(self) -> dict[str, Any]:
        """The served version and the retrain state, without loading the model for it."""
        with self._lock:
            version = self._model.model_version if self._model else read_meta(self.model_dir).get("model_version")
        return {"model_version": version, "model_dir": str(self.model_dir),
                "retrain": self.retrainer.status() if self.retrainer else None}

    def check(self) -> None:
        """Fail at start-up rather than on the first request when the folder is not a model."""
        if not (self.model_dir / "toolkit_model.json").is_file():
            raise ModelError(f"{self.model_dir}: not a toolkit model folder (toolkit_model.json is missing)")

    def setup(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("schema"):
            parse_label_config(payload["schema"])  # reject a config we cannot serve at connect time
        return {"model_version": self.model.model_version}

    def predict(self, tasks: list[dict[str, Any]], label_config: str) -> list[dict[str, Any]]:
        """One prediction per task, in order, batched through the same code as ``toolkit predict``."""
        interface = parse_label_config(label_config)
        texts = []
        for i, task in enumerate(tasks):
            text = (task.get("data") or {}).get(interface.text_field)
            if not isinstance(text, str):
                raise BadRequest(f"task {i} (id {task.get('id')}) has no text in data.{interface.text_field}")
            texts.append(text)
        clf, mentions_rules = self._current()
        articles = [str((task.get("data") or {}).get("article_id") or "") for task in tasks]
        probs = clf.predict_proba(texts, batch_size=self.batch_size, batch_tokens=BATCH_TOKENS, articles=articles)
        blocks = prediction_blocks(clf, probs, len(texts)) if texts else []
        span_control = next((c for c in interface.controls if c.kind == "labels"), None)
        mentions = mentions_rules.predict(texts) if span_control else [None] * len(texts)
        return [self._result(clf, block, interface, span_control, m, t) for block, m, t in zip(blocks, mentions, texts)]

    def _result(self, clf: TextClassifier, block: dict[str, Any], interface: Interface, span_control: Control | None,
                rules: dict[str, Any] | None, text: str) -> dict[str, Any]:
        result = []
        for task in clf.tasks:
            control = _match(task, interface.controls)
            if control is None:
                continue
            values = [block[task["name"]]["label"]] if task["kind"] == "single" else block[task["name"]]["labels"]
            values = [v for v in values if v in control.values]
            if values:
                result.append({"from_name": control.name, "to_name": control.to_name, "type": "choices",
                               "value": {"choices": values}})
        if span_control and rules:
            for m in rules["competitors"]:
                label = span_control.values[0] if span_control.values else "COMPETITOR"
                result.append({"from_name": span_control.name, "to_name": span_control.to_name, "type": "labels",
                               "value": {"start": m["start"], "end": m["end"], "text": text[m["start"]:m["end"]],
                                         "labels": [label]}})
        return {"result": result, "score": certainty(block), "model_version": clf.model_version}

    def fit(self, event: str, data: dict[str, Any]) -> None:
        """Queue a webhook event; it is stored (and may start a retrain) in the background, so the request
        returns at once."""
        self._events.put({"event": event, "received_at": time.time(), "data": data})

    def _drain(self) -> None:
        while True:
            item = self._events.get()
            try:
                self.reviews.add(item["event"], item["data"], item["received_at"])
                if self.retrainer is not None:
                    self.retrainer.request() if item["event"] == START_TRAINING else self.retrainer.notify()
            except ToolkitError as exc:  # a malformed event is logged and skipped; the worker keeps going
                log.warning("webhook %s not stored: %s", item["event"], exc)
            finally:
                self._events.task_done()

    def wait_idle(self) -> None:
        """Block until queued events are stored (tests, shutdown)."""
        self._events.join()
