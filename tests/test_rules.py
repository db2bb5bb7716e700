"""Rule families of the pre-annotator, on sentences written for these tests."""

import pytest

from toolkit.annotate import RulePreannotator, RulesConfig
from toolkit.errors import ConfigError, SchemaError
from toolkit.ingest.normalize import normalize
from toolkit.labels import Subject
from toolkit.resources import labels_path


@pytest.fixture(scope="module")
def rules():
    return RulePreannotator()


def one(rules, text):
    return next(rules.annotate([{"text": text}]))["predictions"]


def test_prediction_block_shape(rules):
    p = one(rules, "小米汽车今年交付目标已提前完成,毛利率提升至25%。")
    assert p["model_version"] == rules.model_version and p["model_version"].startswith("rules-")
    for task in ("sentiment", "stance"):
        assert set(p[task]["scores"]) == set(rules.schema.task(task).label_names)
        assert sum(p[task]["scores"].values()) == pytest.approx(1.0)
        assert p[task]["label"] == max(p[task]["scores"], key=p[task]["scores"].get)
    assert set(p["topics"]["scores"]) == set(rules.topics)
    assert p["sentiment"]["label"] == "positive" and p["stance"]["label"] == "bullish"
    assert {"ev", "finance"} <= set(p["topics"]["labels"])
    assert any(e["cue"] == "提前完成" and e["task"] == "sentiment" for e in p["explanations"])


def test_negation_flips_tone(rules):
    assert one(rules, "小米手机出货量大幅增长。")["sentiment"]["label"] == "positive"
    negated = one(rules, "小米手机出货量并未增长。")
    assert negated["sentiment"]["label"] == "negative"
    assert any("negation" in e["rule"] for e in negated["explanations"])


def test_concessive_main_clause_wins(rules):
    p = one(rules, "尽管面临关税压力,但小米海外收入仍然创新高。")
    assert p["sentiment"]["label"] == "positive"
    reversed_ = one(rules, "虽然交付量创新高,但毛利率持续下滑。")
    assert reversed_["sentiment"]["label"] == "negative"


def test_conditional_warning_is_risk(rules):
    p = one(rules, "如果内存价格继续上涨,小米可能面临利润被压缩的局面。")
    assert p["stance"]["label"] == "risk"
    assert any(e["rule"] == "conditional warning" for e in p["explanations"])
    assert one(rules, "小米需要加快建设渠道,否则难以形成规模。")["stance"]["label"] == "risk"


def test_good_news_about_a_competitor_is_risk(rules):
    p = one(rules, "比亚迪海外销量大增,市场份额快速提升。")
    assert p["sentiment"]["label"] == "positive"
    assert p["stance"]["label"] == "risk"
    assert "competitor" in p["topics"]["labels"]
    assert [m["entity"] for m in p["competitors"]] == ["byd"]


def test_traditional_input_gets_same_labels_and_exact_spans(rules):
    simplified = one(rules, "华为鸿蒙智行销量大增,问界抢占了高端市场。")
    traditional_text = "華為鴻蒙智行銷量大增,問界搶佔了高端市場。"
    traditional = one(rules, traditional_text)
    for task in ("sentiment", "stance"):
        assert traditional[task]["label"] == simplified[task]["label"]
    assert traditional["topics"]["labels"] == simplified["topics"]["labels"]
    spans = [(m["surface"], m["entity"]) for m in traditional["competitors"]]
    assert spans == [("華為", "huawei"), ("鴻蒙智行", "huawei"), ("問界", "huawei")]
    for m in traditional["competitors"]:
        assert traditional_text[m["start"] : m["end"]] == m["surface"]


def test_ambiguous_alias_needs_context(rules):
    assert one(rules, "这是理想的结果。")["competitors"] == []
    assert [m["entity"] for m in one(rules, "理想靠家庭场景打动用户,销量稳定。")["competitors"]] == ["li_auto"]
    assert [m["entity"] for m in one(rules, "格力、美的和海尔仍占据主导。")["competitors"]] == ["gree", "midea", "haier"]


def test_ascii_terms_need_word_boundaries(rules):
    p = one(rules, "小米AIoT平台连接设备数增长。")
    assert not any(e["cue"] == "AI" for e in p["explanations"])
    assert "iot" in p["topics"]["labels"]


@pytest.mark.parametrize("text", ["", "。。。!!", "   ", "——"])
def test_empty_and_punctuation_only_text_is_neutral(rules, text):
    p = one(rules, text)
    assert p["sentiment"]["label"] == "neutral" and p["stance"]["label"] == "neutral"
    assert p["topics"]["labels"] == [] and p["competitors"] == []


def test_very_long_text(rules):
    text = "小米汽车交付量持续增长," * 2000 + "但利润承压。"
    p = one(rules, text)
    assert p["sentiment"]["label"] in {"positive", "negative", "neutral"}
    assert len(p["explanations"]) > 2000


def test_records_keep_their_fields_and_get_ids(rules):
    out = next(rules.annotate([{"text": "小米發布新品。", "article_id": "a1", "extra": 1}]))
    assert out["extra"] == 1 and out["text_norm"] == normalize("小米發布新品。")
    assert out["id"].startswith("s")


def test_followed_company_is_configurable():
    huawei = RulePreannotator(config=RulesConfig(subject=Subject(id="huawei", name="华为", aliases=("华为", "问界"))))
    p = next(huawei.annotate([{"text": "问界销量大增,市场份额快速提升。"}]))["predictions"]
    assert p["competitors"] == [] and p["stance"]["label"] == "bullish"


def test_saved_rules_predict_as_the_originals(tmp_path):
    custom = RulePreannotator(config=RulesConfig(topic_threshold=0.3, evidence_scale=2.0))
    loaded = RulePreannotator.load(custom.save(tmp_path / "rules"))
    texts = ["小米汽车交付大增,但华为问界价格战压力不小。", "如果芯片供应不足,可能面临减产。"]
    assert loaded.predict(texts) == custom.predict(texts)
    assert loaded.config == custom.config and loaded.schema == custom.schema
    assert loaded.model_version == custom.model_version  # same lexicon files, same version


def test_unknown_topic_threshold_is_rejected():
    with pytest.raises(ConfigError, match="unknown topics: phones"):
        RulePreannotator(config=RulesConfig(topic_thresholds={"phones": 0.4}))


@pytest.mark.parametrize(
    ("file", "line", "message"),
    [
        ("sentiment.tsv", "增长 lots", "weight must be a number"),
        ("stance.tsv", "领先 bull 1.0", "stance must be 'bullish' or 'risk'"),
        ("topics.tsv", "手机 phones", "unknown topic 'phones'"),
        ("structure.tsv", "但是 but", "unknown role"),
        ("negation.tsv", "不 1", "expected 1 whitespace-separated fields"),
        ("anaphora.tsv", "双方 forward", "unknown reference kind"),
    ],
)
def test_malformed_lexicon_names_file_and_line(tmp_path, file, line, message):
    folder = tmp_path / "lexicon"
    folder.mkdir()
    for source in labels_path("lexicon").glob("*.tsv"):
        (folder / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    target = folder / file
    n_lines = len(target.read_text(encoding="utf-8").splitlines())
    with target.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    with pytest.raises(SchemaError, match=message) as info:
        RulePreannotator(lexicon_dir=folder)
    assert f"{target}:{n_lines + 1}:" in str(info.value)


def test_model_version_changes_with_the_lexicon(tmp_path, rules):
    folder = tmp_path / "lexicon"
    folder.mkdir()
    for source in labels_path("lexicon").glob("*.tsv"):
        (folder / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    with (folder / "sentiment.tsv").open("a", encoding="utf-8") as fh:
        fh.write("大卖 1.5\n")
    assert RulePreannotator(lexicon_dir=folder).model_version != rules.model_version


def test_anaphora_refers_back_to_the_last_named_competitor(rules):
    records = [
        {"text": "华为的高端手机强势回归。", "article_id": "a"},
        {"text": "小米发布新品。", "article_id": "a"},
        {"text": "双方的护城河都很深。", "article_id": "a"},
        {"text": "双方的护城河都很深。", "article_id": "b"},  # another article: nothing to refer to
    ]
    out = [r["predictions"] for r in rules.annotate(records)]
    assert out[2]["competitors"] == [
        {"start": 0, "end": 2, "entity": "huawei", "surface": "双方", "anaphor": True}
    ]
    assert "competitor" in out[2]["topics"]["labels"]
    assert out[3]["competitors"] == []


def test_anaphora_window_is_bounded():
    rules = RulePreannotator(config=RulesConfig(anaphora_window=1))
    records = [{"text": "华为销量增长。", "article_id": "a"}, {"text": "小米发布新品。", "article_id": "a"},
               {"text": "两家各有千秋。", "article_id": "a"}]
    assert list(rules.annotate(records))[2]["predictions"]["competitors"] == []


def _article(rules, *texts):
    return [r["predictions"]["competitors"] for r in rules.annotate({"text": t, "article_id": "a"} for t in texts)]


def test_opening_pronoun_refers_to_the_competitor_of_the_unit_before(rules):
    out = _article(rules, "蔚来发布了新一代换电站。", "其补能速度领先同级车型。")
    assert out[1] == [{"start": 0, "end": 1, "entity": "nio", "surface": "其", "anaphor": True}]
    # Traditional text and an opening quote: the span still points at the pronoun
    out = _article(rules, "蔚來發布了新一代換電站。", "「該公司表示,訂單充足。」")
    assert out[1] == [{"start": 1, "end": 4, "entity": "nio", "surface": "該公司", "anaphor": True}]


def test_opening_pronoun_is_ambiguous_after_the_followed_company(rules):
    # 其 may mean Xiaomi here: no mention
    assert _article(rules, "小米与蔚来同日发布新车。", "其定价低于市场预期。")[1] == []
    # a pronoun refers only to the unit just before, not to one further back
    assert _article(rules, "蔚来发布了新一代换电站。", "市场反应平淡。", "其补能速度领先。")[2] == []


def test_opening_plural_subject_covers_both_companies(rules):
    out = _article(rules, "小米和蔚来今年都推出了SUV。", "都在押注智能驾驶,但路线不同")
    assert out[1] == [{"start": 0, "end": 1, "entity": "nio", "surface": "都", "anaphor": True}]


def test_words_that_only_start_like_a_reference_do_not_fire(rules):
    assert _article(rules, "蔚来发布了新一代换电站。", "其他品牌也在跟进类似方案。")[1][0]["entity"] == "rivals"
    assert _article(rules, "蔚来发布了新一代换电站。", "其中,小米的方案成本最低。")[1] == []
    assert _article(rules, "蔚来发布了新一代换电站。", "都市通勤用户最关心续航。")[1] == []


def test_generic_group_set_against_the_followed_company_is_a_rival_mention(rules):
    p = one(rules, "当别家还在打价格战时,小米已经开始比拼软件体验。")
    assert p["competitors"] == [{"start": 1, "end": 3, "entity": "rivals", "surface": "别家"}]
    assert "competitor" in p["topics"]["labels"]
    assert one(rules, "小米在行业中率先实现盈利。")["competitors"] == []  # the company comes first
    assert one(rules, "行业景气度回升带动小米出货。")["competitors"] == []  # same clause: no contrast
    assert one(rules, "行业景气度回升,出货量增长。")["competitors"] == []  # no followed company


def test_unknown_collective_entity_is_rejected():
    with pytest.raises(ConfigError, match="collective_entity 'others'"):
        RulePreannotator(config=RulesConfig(collective_entity="others"))
