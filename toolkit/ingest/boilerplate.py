"""Data-driven removal of web boilerplate from article text (rules in ``configs/boilerplate.yaml``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

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


def _syntax(pattern: str) -> Iterator[tuple[int, int]]:
    """Index and group depth of each character of a regular expression that is syntax.

    Escaped characters and the insides of character classes are skipped: there ``|`` and ``(`` are
    literals.
    """
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 1
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += pattern.startswith("^", i + 1)
            i += pattern.startswith("]", i + 1)  # "[]...]" and "[^]...]": a leading ] is a literal
        else:
            depth -= char == ")"
            yield i, depth
            depth += char == "("
        i += 1


def _alternatives(pattern: str) -> list[str]:
    """Split a regular expression at its top-level ``|`` (outside groups and character classes)."""
    cuts = [i for i, depth in _syntax(pattern) if depth == 0 and pattern[i] == "|"]
    return [pattern[start + 1 : end] for start, end in zip([-1, *cuts], [*cuts, len(pattern)])]


def _uncaptured(pattern: str) -> str:
    """The pattern with its capturing groups made non-capturing.

    A joined expression only needs to know whether a line matches, and a capturing group that opens an
    alternative costs a mark and hides its first literal from the regex engine's quick branch check.
    """
    opens = [i for i, _ in _syntax(pattern) if pattern[i] == "(" and not pattern.startswith("?", i + 1)]
    for i in reversed(opens):
        pattern = f"{pattern[: i + 1]}?:{pattern[i + 1 :]}"
    return pattern


_LEADING_ATOM = re.compile(r"\[\^?\]?(?:\\.|[^\\\]])*\]|\\[dDsSwW]")  # a class: [ab], [^>], \d, \S
_QUANTIFIER = re.compile(r"(?:([?*+])|\{(?=[\d,]*\d)(\d*)(,?)(\d*)\})\??(?!\+)")  # lazy or greedy, not possessive


def _distributed(pattern: str) -> list[str]:
    """The pattern as alternatives that open with a literal or a class where it opens with a group or
    a repeated item.

    ``(?:a|b)tail`` becomes ``atail`` and ``btail``; ``X?tail``, ``X*tail`` and ``X{2,4}tail`` (X a group
    or a class) become ``X tail`` or ``X X* tail`` or ``X X{1,3} tail``, plus ``tail`` where X may be
    absent; again while an alternative opens with a group. Whether a line matches stays the same. In a
    long alternation the regex engine skips an alternative that opens with a literal or a class in a
    few instructions when the line's first character differs, where it enters one that opens with a
    group (~70 instructions) or an optional item (~1,000).
    """
    if pattern.startswith("(?:"):
        end = next(i for i, depth in _syntax(pattern) if depth == 0 and pattern[i] == ")") + 1
        heads = _alternatives(pattern[3 : end - 1])
    elif atom := _LEADING_ATOM.match(pattern):
        end = atom.end()
        heads = [pattern[:end]]
    else:
        return [pattern]
    quantifier = _QUANTIFIER.match(pattern, end)
    if quantifier is None:
        if pattern[end : end + 1] in ("?", "*", "+", "{") or heads == [pattern[:end]]:
            return [pattern]  # possessive, or a class once: it opens with a class already
        return [alt for head in heads for alt in _distributed(head + pattern[end:])]
    sign, low, comma, high = quantifier.groups()
    if sign:
        least, most = {"?": (0, 1), "*": (0, None), "+": (1, None)}[sign]
    else:
        least = int(low or 0)
        most = int(high) if high else None if comma else least  # {2,} has no most, {2} means {2,2}
    rest = pattern[quantifier.end() :]
    absent = _distributed(rest) if least == 0 else []
    if most == 0:
        return absent
    again = "" if most == 1 else f"{pattern[:end]}{{{max(least - 1, 0)},{'' if most is None else most - 1}}}"
    return [alt for head in heads for alt in _distributed(head + again + rest)] + absent


LineTest = Callable[[str], re.Match[str] | None]


# What a pattern cannot keep once joined with other rules' alternatives into one expression: a global
# inline flag ((?i) must open the whole expression and would apply to every rule), group references by
# number (\1 would point at another rule's group) or name, and named groups (a name is defined once).
_STANDALONE = re.compile(r"\(\?[aiLmsux]+\)|\\[1-9]|\(\?P[<=]|\(\?\(")


def _line_tests(rules: tuple[Rule, ...]) -> list[LineTest]:
    """One ``match`` for the rules' ``^``-anchored alternatives and one ``search`` for the rest.

    Together they match a line exactly when some rule's pattern ``search``es it: an anchored alternative
    can only match at the start. Each alternative loses its capturing groups and is spread out
    (``_distributed``) first, so the engine skips most of them at a glance. A rule list without one
    kind gets no call for it. A rule that ``_STANDALONE`` finds cannot be joined and keeps its own
    ``search``.
    """
    standalone = [bool(_STANDALONE.search(rule.pattern.pattern)) for rule in rules]
    pieces = [
        _uncaptured(piece)
        for rule, alone in zip(rules, standalone)
        if not alone
        for piece in _alternatives(rule.pattern.pattern)
    ]
    # match() starts at the line's start: ^ is implied
    anchored = "|".join(alt for p in pieces if p.startswith("^") for alt in _distributed(p[1:]))
    floating = "|".join(alt for p in pieces if not p.startswith("^") for alt in _distributed(p))
    tests = (anchored and re.compile(anchored).match, floating and re.compile(floating).search)
    own = [rule.pattern.search for rule, alone in zip(rules, standalone) if alone]
    return [test for test in tests if test] + own


class LineMatcher:
    """Finds the lines that one rule list matches, and names the rule.

    Trying every rule at every position of every line is what made boilerplate removal slow. All rules
    are tried at once with ``_line_tests`` (those it cannot join, each on its own); only a line that
    matches is checked rule by rule for its name, again with each rule's own anchored ``match`` and
    floating ``search`` (cheaper than a search with the rule's whole pattern, which retries its ``^``
    alternatives at every position of the line).
    """

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self._tests = _line_tests(rules)
        self._named = [(rule.name, _line_tests((rule,))) for rule in rules]

    def hits(self, lines: list[str]) -> list[int]:
        """Indices of the (stripped) lines that some rule matches."""
        if len(self._tests) == 2:
            first, second = self._tests
            return [i for i, line in enumerate(lines) if line and (first(line) or second(line))]
        if len(self._tests) == 1:
            test = self._tests[0]
            return [i for i, line in enumerate(lines) if line and test(line)]
        tests = self._tests  # none, or some with rules that keep their own search
        return [i for i, line in enumerate(lines) if line and any(test(line) for test in tests)]

    def name(self, line: str) -> str:
        """The first rule, in file order, that matches a line ``hits`` returned."""
        for name, tests in self._named:
            for test in tests:
                if test(line):
                    return name
        raise LookupError(f"no boilerplate rule matches {line!r}")


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_body_lines: int = 3
    drop_line: tuple[Rule, ...] = ()
    truncate_after: tuple[Rule, ...] = ()

    @functools.cached_property
    def matchers(self) -> tuple[LineMatcher, LineMatcher]:
        """The ``drop_line`` and ``truncate_after`` matchers, built once per rule set."""
        return LineMatcher(self.drop_line), LineMatcher(self.truncate_after)


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
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"  # a file that is not a mapping at all
        raise SchemaError(f"{path}: field {loc}: {err['msg']}") from None


@dataclass(slots=True)
class CleanResult:
    """Kept text, its normalised form (same length) and how many lines each rule removed.

    ``removed`` is a plain dict: most articles remove nothing, and an empty ``Counter`` costs twenty
    times an empty dict to build.
    """

    text: str
    text_norm: str
    removed: dict[str, int] = field(default_factory=dict)


_BLANK_RUN = re.compile(r"\n{3,}")


def split_lines(text: str) -> tuple[list[str], list[str], list[str]]:
    """An article's lines, their normal forms and those stripped: the last are what the rules test.

    One OpenCC call per article; a normal form has its line's length, so the three lists align.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    probes = normalize(text).split("\n")
    return text.split("\n"), probes, [probe.strip() for probe in probes]


def strip_boilerplate(text: str, rules: RuleSet) -> CleanResult:
    """Drop boilerplate lines and cut trailing link lists; kept lines lose only their trailing space.

    Blank-line runs collapse to one blank line, so paragraph breaks survive but page layout does not.
    Lines are matched after normalisation and stripping; the rest is whole-list work, no per-line loop.
    """
    lines, probes, stripped = split_lines(text)
    removed: dict[str, int] = {}
    drop_rules, cut_rules = rules.matchers
    dropped = drop_rules.hits(stripped)
    site_lines = _site_name_lines(stripped, dropped, drop_rules) if dropped else set()
    if site_lines:
        dropped = sorted(set(dropped) | site_lines)
    end = len(lines)
    for i in cut_rules.hits(stripped):
        body_lines = i - stripped[:i].count("") - sum(1 for d in dropped if d < i)
        if body_lines >= rules.min_body_lines:
            removed[cut_rules.name(stripped[i])] = len(stripped) - i - stripped[i:].count("")
            end = i
            break
    for i in dropped:
        if i < end:
            name = REPRINT_RULE if i in site_lines else drop_rules.name(stripped[i])
            removed[name] = removed.get(name, 0) + 1
    drop_set = set(dropped)
    keep = [i for i in range(end) if i not in drop_set] if dropped else range(end)
    kept = [lines[i].rstrip() for i in keep]
    kept_norm = [probes[i][: len(line)] for i, line in zip(keep, kept)]
    return CleanResult(*_join(kept, kept_norm), removed)


REPRINT_RULE = "reprint_notice"
# the site a reprint notice names: 未经允许不得转载:某某汽车网 » 标题, 转载请注明出处:某某网
_NOTICE_SITE = re.compile(r"(?:转载|出处|来源)\s*:\s*([^\s»|:,。]{2,20}?)\s*(?:[»|]|-\s|$)")


def _site_name_lines(stripped: list[str], dropped: list[int], drop_rules: LineMatcher) -> set[int]:
    """Lines that are only the name of the site a dropped reprint notice names: the page's trailer repeats it
    on a line of its own (某某汽车网), which no sentence rule can tell from a heading otherwise."""
    sites = {m.group(1) for i in dropped if (m := _NOTICE_SITE.search(stripped[i]))  # cheap test first
             and drop_rules.name(stripped[i]) == REPRINT_RULE}
    return {i for i, line in enumerate(stripped) if line in sites} if sites else set()


def _join(lines: list[str], norm_lines: list[str]) -> tuple[str, str]:
    """Join the kept lines and their normal forms, collapsing blank-line runs to one and dropping leading
    and trailing blank lines.

    Each normal-form line has its line's length, so both texts have the same layout: one test decides for
    both, and it is a substring test because on CJK text a regex search costs ten times a plain ``in``.
    """
    text, norm = "\n".join(lines), "\n".join(norm_lines)
    if "\n\n\n" in text:
        text, norm = _BLANK_RUN.sub("\n\n", text), _BLANK_RUN.sub("\n\n", norm)
    return text.strip("\n"), norm.strip("\n")
