import xml.etree.ElementTree as ET

import pytest
import yaml

from toolkit.errors import SchemaError
from toolkit.labels import label_config_xml, load_schema
from toolkit.resources import labels_path


def controls(xml: str) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    root = ET.fromstring(xml)
    return {
        c.get("name"): (c.get("toName"), c.get("choice"), tuple(ch.get("value") for ch in c.iter("Choice")))
        for c in root.iter("Choices")
    }


def test_schema_encodes_the_three_tasks():
    schema = load_schema()
    assert schema.task_names == ("sentiment", "stance", "topics")
    assert schema.task("sentiment").label_names == ("positive", "neutral", "negative")
    assert schema.task("stance").label_names == ("bullish", "neutral", "risk")
    assert schema.task("topics").kind == "multi"
    assert set(schema.task("topics").label_names) == {"phone", "iot", "ev", "competitor", "finance", "tech", "overseas"}


def test_competitors_have_simplified_and_traditional_aliases():
    entities = load_schema().mentions.entities
    assert {"华为", "華為", "鸿蒙智行", "鴻蒙智行", "问界", "問界"} <= set(entities["huawei"].aliases)
    assert "特斯拉" in entities["tesla"].aliases
    for required in ("apple", "samsung", "oppo", "vivo", "honor", "byd", "nio", "xpeng", "li_auto", "leapmotor",
                     "gree", "midea", "haier", "nvidia", "qualcomm", "porsche"):
        assert required in entities


def test_generated_config_matches_the_shared_round1_config(shared):
    ours = controls(label_config_xml(load_schema()))
    theirs = controls((shared / "annotations" / "round1-label-config.xml").read_text(encoding="utf-8"))
    assert ours == theirs
    assert ET.fromstring(label_config_xml(load_schema())).find("Text").get("name") == "text"


def test_config_with_mentions_adds_a_span_control():
    root = ET.fromstring(label_config_xml(load_schema(), with_mentions=True))
    labels = root.find("Labels")
    assert labels.get("toName") == "text" and labels.find("Label").get("value") == "COMPETITOR"


def _write(tmp_path, mutate):
    data = yaml.safe_load(labels_path("schema.yaml").read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["tasks"][0].update(kind="several"), "tasks.0.kind"),
        (lambda d: d["tasks"][1]["labels"][0].pop("description"), "tasks.1.labels.0.description"),
        (lambda d: d["tasks"][2]["labels"].append(d["tasks"][2]["labels"][0]), "tasks.2.labels"),
        (lambda d: d["mentions"]["entities"]["apple"].update(aliases=["华为"]), "mentions"),
        (lambda d: d.pop("subject"), "subject"),
    ],
)
def test_malformed_schema_names_the_field(tmp_path, mutate, field):
    path = _write(tmp_path, mutate)
    with pytest.raises(SchemaError, match=rf"field {field}") as info:
        load_schema(path)
    assert str(path) in str(info.value)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("version: 1\ntasks: [\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="line"):
        load_schema(path)
