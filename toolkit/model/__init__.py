"""Models: pretrained encoders (local, built offline, or from a hub), the classifier, devices."""

from toolkit.model.classifier import Classifier, MultiTaskModel, TextClassifier
from toolkit.model.device import resolve_device
from toolkit.model.encoders import load_encoder, resolve_encoder

__all__ = ["Classifier", "MultiTaskModel", "TextClassifier", "load_encoder", "resolve_device", "resolve_encoder"]
