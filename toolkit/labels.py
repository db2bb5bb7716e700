"""The label scheme: the only place label names live.

Loaded from ``labels/schema.yaml`` and validated with pydantic; the Label Studio labelling config is
generated from it, so the scheme is never maintained twice.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import quoteattr

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toolkit.errors import SchemaError
from toolkit.resources import labels_path

DEFAULT_SCHEMA = "schema.yaml"
TEXT_FIELD = "text"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)


class Task(_Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["single", "multi"]
    description: str
    guidance: str = ""
    labels: tuple[Label, ...] = Field(min_length=2)

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: tuple[Label, ...]) -> tuple[Label, ...]:
        names = [label.name for label in labels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate label names: {', '.join(dupes)}")
        return labels


class Entity(_Strict):
    name: str
    category: str = ""
    aliases: tuple[str, ...] = Field(min_length=1)
    ambiguous_aliases: tuple[str, ...] = ()
    context: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _context_for_ambiguous(self) -> Entity:
        if self.ambiguous_aliases and not self.context:
            raise ValueError("ambiguous_aliases need context words that confirm them")
        return self


class Subject(_Strict):
    id: str
    name: str
    aliases: tuple[str, ...] = Field(min_length=1)


class Mentions(_Strict):
    label: str = "COMPETITOR"
    entities: dict[str, Entity]

    @model_validator(mode="after")
    def _alias_owned_once(self) -> Mentions:
        owner: dict[str, str] = {}
        for entity_id, entity in self.entities.items():
            for alias in entity.aliases + entity.ambiguous_aliases:
                if alias in owner and owner[alias] != entity_id:
                    raise ValueError(f"alias {alias!r} is listed for both {owner[alias]!r} and {entity_id!r}")
                owner[alias] = entity_id
        return self


class LabelSchema(_Strict):
    version: int
    subject: Subject
    tasks: tuple[Task, ...]
    mentions: Mentions

    @field_validator("tasks")
    @classmethod
    def _unique_tasks(cls, tasks: tuple[Task, ...]) -> tuple[Task, ...]:
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate task names in {names}")
        return tasks

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"no task {name!r}; tasks are {', '.join(t.name for t in self.tasks)}")

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def parse_schema(data: object, *, source: str = "<schema>") -> LabelSchema:
    """Validate a parsed YAML mapping; errors name the file and the dotted field path."""
    try:
        return LabelSchema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SchemaError(f"{source}: field {_field_path(first['loc'])}: {first['msg']}{more}") from None


def load_schema(path: str | Path | None = None) -> LabelSchema:
    """Load and validate a label schema file (default: the bundled ``labels/schema.yaml``)."""
    return _load_schema(str(Path(path) if path else labels_path(DEFAULT_SCHEMA)))


@functools.lru_cache(maxsize=8)
def _load_schema(path: str) -> LabelSchema:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read label schema ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SchemaError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_schema(data, source=path)


def label_config_xml(schema: LabelSchema, *, with_mentions: bool = False) -> str:
    """Generate the Label Studio labelling config for ``schema``.

    Control names are the task names and every control labels the ``text`` object, so predictions and
    exports map one-to-one onto the schema. ``with_mentions`` adds a span control for competitor names.
    """
    lines = ["<View>", f'  <Text name="{TEXT_FIELD}" value="${TEXT_FIELD}"/>']
    if with_mentions:
        lines.append(f'  <Labels name="mentions" toName="{TEXT_FIELD}">')
        lines.append(f"    <Label value={quoteattr(schema.mentions.label)}/>")
        lines.append("  </Labels>")
    for task in schema.tasks:
        choice = "single" if task.kind == "single" else "multiple"
        required = ' required="true"' if task.kind == "single" else ""
        lines.append(f"  <Header value={quoteattr(task.name.capitalize())}/>")
        lines.append(
            f'  <Choices name="{task.name}" toName="{TEXT_FIELD}" choice="{choice}" showInline="true"{required}>'
        )
        for label in task.labels:
            lines.append(f"    <Choice value={quoteattr(label.name)} hint={quoteattr(label.description)}/>")
        lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"
