"""Rule pre-annotators: sentiment, stance, topics and competitor mentions with scores and reasons."""

from toolkit.annotate.rules import RulePreannotator, RulesConfig

__all__ = ["RulePreannotator", "RulesConfig"]
