"""Data-driven removal of web boilerplate from article text (rules in ``configs/boilerplate.yaml``)."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, field_validator, model_validator

from toolkit.errors import SchemaError
from toolkit.ingest.normalize import normalize
from toolkit.resources import config_path

DEFAULT_RULES = "boilerplate.yaml"


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    pattern: re.Pattern[str]
    example: str

    @field_validator("pattern", mode="before")
    @classmethod
    def _compile(cls, value: str) -> re.Pattern[str]:
        try:
            return re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None

    @model_validator(mode="after")
    def _example_matches(self) -> Rule:
        if not self.pattern.search(normalize(self.example)):
            raise ValueError(f"rule {self.name!r} does not match its own example {self.example!r}")
        return self


def _combine(rules: tuple[Rule, ...]) -> re.Pattern[str] | None:
    """One alternation with a named group per rule: a single search per line instead of one per rule."""
    if not rules:
        return None
    return re.compile("|".join(f"(?P<r{i}>{rule.pattern.pattern})" for i, rule in enumerate(rules)))


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_body_lines: int = 3
    drop_line: tuple[Rule, ...] = ()
    truncate_after: tuple[Rule, ...] = ()

    _patterns: dict[str, re.Pattern[str] | None] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object) -> None:
        self._patterns.update(drop_line=_combine(self.drop_line), truncate_after=_combine(self.truncate_after))

    def matcher(self, which: str) -> Callable[[str], str | None]:
        """A function giving the name of the first ``which`` rule matching a line, or None."""
        pattern, rules = self._patterns[which], getattr(self, which)
        if pattern is None:
            return lambda line: None

        def match(line: str) -> str | None:
            found = pattern.search(line)
            return rules[int(found.lastgroup[1:])].name if found else None

        return match


@functools.lru_cache(maxsize=8)
def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and validate a boilerplate rule file; errors name the file and the failing rule field."""
    path = Path(path) if path else config_path(DEFAULT_RULES)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SchemaError(f"{path}: cannot read boilerplate rules: {exc}") from None
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise SchemaError(f"{path}: field {loc}: {err['msg']}") from None


@dataclass
class CleanResult:
    """Kept text, its normalised form (same length) and how many lines each rule removed."""

    text: str
    text_norm: str
    removed: Counter[str] = field(default_factory=Counter)


def strip_boilerplate(text: str, rules: RuleSet) -> CleanResult:
    """Drop boilerplate lines and cut trailing link lists; kept lines are returned unchanged.

    Blank-line runs collapse to one blank line, so paragraph breaks survive but page layout does not.
    """
    kept: list[tuple[str, str]] = []
    removed: Counter[str] = Counter()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    probes = normalize(text).split("\n")  # one OpenCC call per article; same length, so lines align
    body_lines = 0
    drop_rule, cut_rule = rules.matcher("drop_line"), rules.matcher("truncate_after")
    for i, (line, probe) in enumerate(zip(lines, probes)):
        probe = probe.strip()
        if not probe:
            if kept and kept[-1][0] != "":
                kept.append(("", ""))
            continue
        if body_lines >= rules.min_body_lines:
            cut = cut_rule(probe)
            if cut is not None:
                removed[cut] += sum(1 for rest in lines[i:] if rest.strip())
                break
        drop = drop_rule(probe)
        if drop is not None:
            removed[drop] += 1
            continue
        width = len(line.rstrip())
        kept.append((line[:width], probes[i][:width]))
        body_lines += 1
    while kept and kept[-1][0] == "":
        kept.pop()
    return CleanResult("\n".join(k[0] for k in kept), "\n".join(k[1] for k in kept), removed)
