import re

from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.ingest.normalize import _WIDTH_CHARS, _half_width, _script_of, detect_script, normalize, unit_scripts


def test_traditional_becomes_simplified_and_punctuation_half_width():
    assert normalize("小米集團「發布」財報：總營收增長，華為鴻蒙智行") == '小米集团“发布”财报:总营收增长,华为鸿蒙智行'
    assert normalize("ＳＵ７　交付") == "SU7 交付"


def test_script_detection():
    assert detect_script("小米汽車今年交付目標為35萬輛") == "hant"
    assert detect_script("小米汽车今年交付目标为35万辆") == "hans"
    assert detect_script("小米汽車交付目标为35万辆,銷量創新高,营收创新高") == "mixed"
    assert detect_script("SU7 2025") == "hans"


@settings(deadline=None)  # the first example builds OpenCC's tables
@given(st.text(max_size=200))
def test_normalised_text_is_character_aligned(text):
    assert len(normalize(text)) == len(text)


@settings(deadline=None, max_examples=300)
@given(
    st.lists(st.sampled_from(["小米汽車", "交付目标", "后来", "么", "華為", "SU7", "。", " "]), max_size=30),
    st.integers(min_value=1, max_value=9),
)
def test_unit_scripts_agree_with_detect_script(parts, step):
    text = "".join(parts)
    # units in text order with gaps between them, as segmentation leaves spaces out
    spans = [(i, min(i + step, len(text))) for i in range(0, len(text), step + 1)]
    article, scripts = unit_scripts(text, spans)
    assert article == detect_script(text)
    assert scripts == [detect_script(text[s:e], article) for s, e in spans]


def test_capped_counting_decides_as_full_counts():
    # 國 is Traditional-only and 国 Simplified-only; the counts straddle the counting cap on both sides.
    for n_trad in range(0, 90, 3):
        for n_simp in range(0, 90):
            text = "國" * n_trad + "小米" + "国" * n_simp
            assert detect_script(text) == _script_of(n_trad, n_simp, "hans"), (n_trad, n_simp)


def test_unit_scripts_past_the_counting_cap_agree_with_detect_script():
    # Long texts with one script dominant: the article's script is decided from capped counts, and the
    # minority characters found then must be all of them, or a span holding one would keep the wrong script.
    for n_major, n_minor in [(30, 1), (30, 9), (80, 8), (80, 24), (80, 30), (200, 60)]:
        for major, minor in [("國", "国"), ("国", "國")]:
            units = [major * 10 + "。"] * (n_major // 10) + [minor + "。"] * n_minor
            text = "".join(units[::2] + units[1::2])  # minority units spread through the text
            spans = [(m.start(), m.end()) for m in re.finditer("[^。]+。", text)]
            article, scripts = unit_scripts(text, spans)
            assert article == detect_script(text), (n_major, n_minor, major)
            assert scripts == [detect_script(text[s:e], article) for s, e in spans], (n_major, n_minor, major)


def test_half_width_maps_every_full_width_character_as_a_translate_table_would():
    text = "小米，" + "".join(_WIDTH_CHARS) + "「華為」『問界』　！" * 3
    assert _half_width(text) == text.translate(str.maketrans(_WIDTH_CHARS))
    assert _half_width("小米。") == "小米。"  # 。 has no half-width form in the map
