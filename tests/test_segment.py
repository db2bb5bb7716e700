from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.ingest.pipeline import sentence_records
from toolkit.records import SentenceRecord, sentence_id, sentence_ids
from toolkit.segment import SegmentConfig, segment


def kinds_and_texts(text, **cfg):
    return [(u.kind, u.text) for u in segment(text, SegmentConfig(**cfg))]


def test_splits_on_terminators_and_keeps_closing_quotes():
    text = "雷军说:“这是奇迹!”随后股价上涨。营收增长了吗?是的;利润也增长……市场认可"
    assert [t for _, t in kinds_and_texts(text)] == [
        "雷军说:“这是奇迹!”",
        "随后股价上涨。",
        "营收增长了吗?",
        "是的;",
        "利润也增长……",
        "市场认可",
    ]


def test_never_splits_inside_numbers():
    text = "营收3.5亿元,同比增长4.2万台,百公里加速1.98秒,交付1,000辆。第二句。"
    assert [t for _, t in kinds_and_texts(text)] == [
        "营收3.5亿元,同比增长4.2万台,百公里加速1.98秒,交付1,000辆。",
        "第二句。",
    ]


def test_line_kinds():
    text = "\n".join(
        [
            "01 年度成績單:營收創新高",
            "挑戰 1:歐洲市場信任度偏低",
            "• 手机出货量增长;",
            "1. 汽车交付超过10万辆,毛利率提升至25%,北京工厂满负荷运转,订单排队超过半年。",
            "| 业务 | 收入 |",
            "## 市场展望",
            "小米表示将继续加大研发投入。",
        ]
    )
    assert kinds_and_texts(text) == [
        ("heading", "01 年度成績單:營收創新高"),
        ("heading", "挑戰 1:歐洲市場信任度偏低"),
        ("bullet", "• 手机出货量增长;"),
        ("bullet", "1. 汽车交付超过10万辆,毛利率提升至25%,北京工厂满负荷运转,订单排队超过半年。"),
        ("table_row", "| 业务 | 收入 |"),
        ("heading", "市场展望"),
        ("sentence", "小米表示将继续加大研发投入。"),
    ]


def test_table_rows_without_text_are_no_units():
    text = "| 业务 | 收入 |\n|---|:--:|\n| 手机 | 460 |\n|  |  |\n| - |\n| 汽车 |  |\n汽车收入同比增长。"
    assert kinds_and_texts(text) == [
        ("table_row", "| 业务 | 收入 |"),
        ("table_row", "| 手机 | 460 |"),
        ("table_row", "| 汽车 |  |"),  # an empty cell in a row with text: the row stays
        ("sentence", "汽车收入同比增长。"),
    ]


def test_long_unit_is_split_at_a_clause_boundary():
    clause = "小米汽车交付量持续增长,"
    text = clause * 10 + "创下新高。"
    units = segment(text, SegmentConfig(max_chars=50))
    assert all(len(u.text) <= 50 for u in units)
    assert all(u.text.endswith(",") for u in units[:-1])
    assert "".join(u.text for u in units) == text


def test_unit_without_any_boundary_is_cut_at_the_limit():
    text = "小" * 30
    assert [len(u.text) for u in segment(text, SegmentConfig(max_chars=8))] == [8, 8, 8, 6]


def test_blank_and_punctuation_only_text():
    assert segment("") == []
    assert segment(" \n\u3000\n") == []
    assert segment("。。。!!") == []


def test_lines_of_only_punctuation_or_symbols_are_no_units():
    # rules, ornaments and lone bullet marks between paragraphs; emoji and numbers are content
    lines = ["小米发布新机。", "----------", "***", "———", "＊＊＊", "· · ·", "=====", "…………", "- ", "•", "¥", "👍", "2025"]
    assert kinds_and_texts("\n".join(lines)) == [
        ("sentence", "小米发布新机。"),
        ("heading", "👍"),
        ("heading", "2025"),
    ]
    # one match takes a long rule whole (refusing it position by position rescanned the line: quadratic)
    assert kinds_and_texts("小米。\n" + "-" * 100_000 + "\n华为。") == [("sentence", "小米。"), ("sentence", "华为。")]


def test_a_run_of_terminators_and_closers_ends_one_sentence():
    assert [u.text for u in segment("小米发布新机。……华为跟进！？")] == ["小米发布新机。……", "华为跟进！？"]
    assert [u.text for u in segment("他说：“涨了。”。股价随后回落。")] == ["他说：“涨了。”。", "股价随后回落。"]
    assert [u.text for u in segment("股价随后回落。 。\n—— 完")] == ["股价随后回落。", "—— 完"]  # a stray 。 is none


texts = st.text(
    alphabet=st.sampled_from(list("小米汽車华为盈利。!?;…,、:“”()|•#- \n\t1.30abc")), max_size=400
)


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(min_value=8, max_value=80))
def test_offsets_always_point_back_into_the_text(text, max_chars):
    for unit in segment(text, SegmentConfig(max_chars=max_chars)):
        assert text[unit.start : unit.end] == unit.text
        assert unit.text.strip() == unit.text
        assert 0 < len(unit.text) <= max_chars


@settings(max_examples=200, deadline=None)
@given(texts)
def test_ids_are_stable_and_unique(text):
    first = sentence_records("a1", text, SegmentConfig())
    second = sentence_records("a1", text, SegmentConfig())
    assert [r["id"] for r in first] == [r["id"] for r in second]
    assert len({r["id"] for r in first}) == len(first)
    for rec in first:
        assert text[rec["start"] : rec["end"]] == rec["text"]
        assert len(rec["text_norm"]) == len(rec["text"])
        SentenceRecord.model_validate(rec)


def test_editing_one_sentence_changes_only_its_id():
    before = sentence_records("a1", "第一句。第二句。第三句。", SegmentConfig())
    after = sentence_records("a1", "第一句。第二句改了。第三句。", SegmentConfig())
    assert before[0]["id"] == after[0]["id"]
    assert before[1]["id"] != after[1]["id"]
    assert before[2]["id"] == after[2]["id"]


def test_repeated_sentence_in_one_article_gets_distinct_ids():
    records = sentence_records("a1", "重复一句。中间。重复一句。", SegmentConfig())
    assert records[0]["id"] != records[2]["id"]
    assert sentence_records("a1", "重复一句。", SegmentConfig())[0]["id"] == records[0]["id"]


def test_batch_ids_equal_single_ids():
    norms = ["重复一句。", "中间。", "重复一句。", "重复一句。"]
    assert sentence_ids("a1", norms) == [
        sentence_id("a1", "重复一句。"),
        sentence_id("a1", "中间。"),
        sentence_id("a1", "重复一句。", 1),
        sentence_id("a1", "重复一句。", 2),
    ]


def test_pieces_of_an_over_long_unit_do_not_end_in_space():
    units = segment("0000000 00000000", SegmentConfig(max_chars=8))
    assert [u.text for u in units] == ["0000000", "00000000"]
