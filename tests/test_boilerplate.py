from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import SchemaError
from toolkit.ingest.boilerplate import _alternatives, _distributed, _uncaptured, load_rules, strip_boilerplate
from toolkit.ingest.normalize import normalize


# Pages as lines, each with the rule that must remove it (None: a body line that stays). A list title
# that truncate_after matches takes every later line with it, so those lines carry its name too.
PAGES = {
    "netease_page_in_both_scripts": [
        ("网易首页 > 网易号 > 正文", "breadcrumb"),
        ("分享至", "share_widget"),
        ("0", "share_widget"),
        ("小米公布财报,营收创新高。", None),
        ("汽车业务交付超预期。", None),
        ("第三段正文。", None),
        ("（完）", "end_marker"),
        ("本文版權歸作者所有,未經允許不得轉載。", "reprint_notice"),
        ("特别声明:以上内容为自媒体平台用户上传并发布,本平台仅提供信息存储服务。", "platform_disclaimer"),
        ("熱點推薦：", "related_links"),  # a colon may follow the list's title
        ("某条链接标题", "related_links"),
        ("2026-01-13 19:03:00", "related_links"),
    ],
    "reposted_wechat_article": [
        ("原標題：小米汽車交付提速", "original_title"),
        ("↑點擊上方藍字關注我們", "follow_prompt"),
        ("小米公布财报,营收创新高。", None),
        ("长按识别二维码，关注公众号", "follow_prompt"),
        ("汽车业务交付超预期,投资者关注产能。", None),  # 关注 inside a sentence is text
        ("第三段正文:点击率与在看数提升。", None),
        ("分享、点赞、在看", "share_widget"),
        ("写留言", "share_widget"),
        ("往期推荐", "related_links"),
        ("小米十五周年回顾", "related_links"),
    ],
    # The formula closing finance articles is boilerplate (neutral by the guidelines), yet the rules
    # would pre-annotate it negative/risk; a sentence that states a real risk keeps its place.
    "investment_disclaimers_but_not_risk_statements": [
        ("小米股價週二上漲5%。", None),
        ("分析师提醒,存储芯片涨价可能压缩利润,投资者需谨慎。", None),
        ("风险提示:新品销量不及预期;行业竞争加剧。", None),  # a broker note's risks are content
        ("第三段正文。", None),
        ("風險提示:本文所提及觀點僅供參考,不構成投資建議。", "investment_disclaimer"),
        ("股市有风险，投资需谨慎。", "investment_disclaimer"),
        ("以上内容仅供参考,投资者据此操作,风险自担。", "investment_disclaimer"),
    ],
    "portal_page_saved_as_text": [
        ("首页 | 新闻 | 财经 | 科技", "nav_menu"),
        ("小米汽车交付提速", None),
        ("2025-11-05 09:30 来源：证券时报网 作者：张三", "dateline"),
        ("字号：大 中 小", "share_widget"),
        ("（原標題：小米汽車十一月交付破四萬）", "original_title"),
        ("2025年11月5日,小米集团表示本月交付量突破四万辆。", None),  # a date that opens a sentence is text
        ("图片来源：视觉中国", "image_credit"),
        ("业务 | 收入 | 同比", None),  # a table row without its outer pipes
        ("声明指出,公司将继续扩产。", None),
        ("（文章來源：證券時報）", "editor_credit"),
        ("【免责声明】本文仅代表作者本人观点，与本网站无关。", "platform_disclaimer"),
        ("打开APP阅读更多精彩内容", "accessibility_widget"),
        ("上一篇：华为发布新款手机", "prev_next"),
        ("下一篇：比亚迪销量再创新高", "prev_next"),
    ],
    "traditional_page_with_weekday_and_share_row": [
        ("主頁 > 財經 > 科技", "breadcrumb"),
        ("小米汽車第三季交付量創新高", None),
        ("2025年11月18日 星期二 10:32", "dateline"),
        ("小米集團昨日公布，第三季電動車交付量按季增長逾三成。", None),
        ("公司表示，新工廠將於明年投產。", None),
        ("分享到：", "share_widget"),
        ("Facebook", "share_widget"),
        ("WhatsApp", "share_widget"),
        ("微博", "share_widget"),
        ("分析師認為，微信支付的份額仍在擴大。", None),  # a network named inside a sentence stays
    ],
    "credits_counters_tags_and_promotions": [
        ("作者：张三", None),  # the byline is part of the story, as in the reviewed export
        ("本文来自微信公众号“科技观察”，作者：张三，经授权发布。", "reprint_notice"),
        ("记者：你们明年的交付目标是多少？", None),  # an interview turn
        ("编辑部表示，这款车将于明年上市。", None),
        ("用户可扫描二维码参与试驾活动。", None),
        ("阅读量突破10万,评论区有人说价格太高了。", None),
        ("平台声明：该文观点仅代表作者本人，本号仅提供信息存储空间服务。", "platform_disclaimer"),
        ("责任编辑：李四 SF065", "editor_credit"),
        ("[校对：王五]", "editor_credit"),
        ("相关标签：小米 汽车", "tag_line"),
        ("0条评论", "share_widget"),
        ("阅读 1.2万", "share_widget"),
        ("举报/反馈", "share_widget"),
        ("海量资讯、精准解读，尽在某某财经APP", "follow_prompt"),
        ("返回首页，查看更多", "accessibility_widget"),
    ],
    "portal_story_footer": [
        ("24小时滚动播报最新的财经资讯和视频，更多粉丝福利扫描二维码关注（sinafinance）", "follow_prompt"),
        ("用户可扫描二维码关注活动进展，名额有限。", None),
        ("小米公众号发布声明称，新车将延期交付。", None),
    ],
    "taiwanese_wire_story": [
        ("記者張三／台北報導", None),  # the byline stays
        ("（中央社記者張三台北18日電）小米今天宣布在台推出新款手機。", None),
        ("▲小米新機亮相。（圖／記者王五攝）", "image_credit"),
        ("請繼續往下閱讀...", "accessibility_widget"),
        ("廣告", "share_widget"),
        ("圖像識別技術也被用於智慧工廠。", None),
        ("他說，這不代表公司立場。", None),
        ("編按：本文為作者觀點，不代表本刊立場。", "platform_disclaimer"),
        ("（編輯：李四）1141118", "editor_credit"),
        ("本網站所刊載之內容，版權均屬本公司所有。", "reprint_notice"),
        ("點我看更多", "accessibility_widget"),
    ],
    "investor_forum_post": [
        ("$小米集团-W(01810)$ 今天放量上涨，汽车交付超预期。", None),
        ("来自北京的消息称，新工厂将提前投产。", None),
        ("发布于2025-11-18 10:32", "dateline"),
        ("IP属地：北京", "post_meta"),
        ("来自iPhone客户端", "post_meta"),
        ("转发:12 评论:5 赞:30", "share_widget"),
        ("网页链接", "share_widget"),
        ("本话题在雪球有3条讨论，点击查看。", "post_meta"),
        ("点击下载雪球手机客户端", "follow_prompt"),
    ],
}


@pytest.mark.parametrize("page", PAGES.values(), ids=PAGES.keys())
def test_each_boilerplate_line_goes_under_its_rule_and_the_body_stays(page):
    result = strip_boilerplate("\n".join(line for line, _ in page), load_rules())
    assert result.text.split("\n") == [line for line, rule in page if rule is None]
    assert result.removed == Counter(rule for _, rule in page if rule)


def test_truncation_never_cuts_the_start_of_an_article():
    text = "相关推荐\n这是正文第一句。"
    assert strip_boilerplate(text, load_rules()).text == text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("drop_line:\n  - name: bad\n    pattern: '(unclosed'\n    example: x\n", "drop_line.0.pattern"),
        ("drop_line:\n  - name: nomatch\n    pattern: '^abc$'\n    example: xyz\n", "does not match its own example"),
        ("drop_lines: []\n", "drop_lines"),
        ("- a list\n", "field <root>: Input should be a valid dictionary"),
    ],
)
def test_malformed_rule_file_names_the_field(tmp_path, body, message):
    path = tmp_path / "rules.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SchemaError, match=message) as info:
        load_rules(path)
    assert str(path) in str(info.value)


def test_layout_is_normalised_but_kept_lines_are_not_rewritten():
    text = "\n\n  第一段正文。  \r\n\n\n\n第二段\t\n分享至\n第三段。\n\n"
    result = strip_boilerplate(text, load_rules())
    assert result.text == "  第一段正文。\n\n第二段\n第三段。"  # leading space kept, trailing space and runs gone
    assert len(result.text_norm) == len(result.text)


def test_alternatives_split_only_at_the_top_level():
    assert _alternatives(r"^a|b(c|d)|[|x]|\||[]|]y") == ["^a", "b(c|d)", "[|x]", r"\|", "[]|]y"]


def test_joined_rules_lose_only_their_capturing_groups():
    pattern = r"(a|b)\(c[(]d(?:e)(?=f)(?<!g)[^(]((h))"
    assert _uncaptured(pattern) == r"(?:a|b)\(c[(]d(?:e)(?=f)(?<!g)[^(](?:(?:h))"


@pytest.mark.parametrize(
    ("pattern", "alternatives"),
    [
        (r"(?:a|b)?c", ["ac", "bc", "c"]),
        (r"(?:a|(?:b|c)d)e", ["ae", "bde", "cde"]),
        (r"[-=\s]*(?:完|END)$", [r"[-=\s][-=\s]{0,}(?:完|END)$", "完$", "END$"]),
        (r"\d{1,6}$", [r"\d\d{0,5}$"]),
        (r"[+-]?\d", [r"[+-]\d", r"\d"]),
        (r"(?:a|b){0}c", ["c"]),
        (r"(?:a|b)*+c", [r"(?:a|b)*+c"]),  # possessive: kept as it is
        (r"[ab]c", [r"[ab]c"]),
        (r"(?=x)y", [r"(?=x)y"]),
    ],
)
def test_leading_groups_and_repeats_are_spread_into_alternatives(pattern, alternatives):
    assert _distributed(pattern) == alternatives


def test_joined_tests_find_exactly_the_lines_the_rules_search(examples):
    """The joined, rewritten expressions must keep every rule's meaning: compare with each rule's own
    search on the sample files' lines and on each rule's example, cut and padded."""
    rules = load_rules()
    lines = [normalize(line).strip() for path in sorted(examples.iterdir()) for line in path.read_text("utf-8").split("\n")]
    for rule in (*rules.drop_line, *rules.truncate_after):
        example = normalize(rule.example)
        lines += [example, f"正文{example}", f"{example}。", example[1:], example[:-1], f"({example})"]
    for matcher, rule_list in zip(rules.matchers, (rules.drop_line, rules.truncate_after)):
        expected = [i for i, line in enumerate(lines) if line and any(r.pattern.search(line) for r in rule_list)]
        assert 0 < len(expected) < len(lines) / 2
        assert matcher.hits(lines) == expected


_RULES = load_rules()
# The rules' own examples, whole and in pieces (so lines match or come near to it), and characters that
# end or break them.
_EXAMPLES = [normalize(rule.example) for rule in (*_RULES.drop_line, *_RULES.truncate_after)]
_PIECES = sorted(
    {example[i : i + n] for example in _EXAMPLES for n in (1, 2, 4) for i in range(0, len(example), n)}
    | set(_EXAMPLES)
    | set(" :|/>()【】-—。,0123456789小米")
    | {"2025", "1234567", "    "}  # runs that cross the rules' repeat bounds
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join), min_size=1, max_size=8))
def test_joined_tests_agree_with_each_rules_search_on_generated_lines(lines):
    for matcher, rule_list in zip(_RULES.matchers, (_RULES.drop_line, _RULES.truncate_after)):
        expected = [i for i, line in enumerate(lines) if line and any(r.pattern.search(line) for r in rule_list)]
        assert matcher.hits(lines) == expected


def test_a_line_is_named_after_the_first_matching_rule_in_file_order(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "drop_line:\n"
        "  - {name: promo, pattern: '扫码', example: 请扫码关注}\n"  # floating: searched through the line
        "  - {name: widget, pattern: '^请.{0,3}$', example: 请扫码}\n",  # anchored: tried at the start only
        encoding="utf-8",
    )
    result = strip_boilerplate("正文一句。\n请扫码\n请关注\n正文二句。", load_rules(path))
    assert result.text == "正文一句。\n正文二句。"
    assert result.removed == {"promo": 1, "widget": 1}


def test_rules_that_cannot_share_one_expression_keep_their_own(tmp_path):
    """A global flag, a group reference and a named group each mean something else once a rule's
    alternatives are joined with other rules' (or fail to compile there); such rules are tried alone."""
    path = tmp_path / "rules.yaml"
    path.write_text(
        "drop_line:\n"
        "  - {name: issue_no, pattern: '^第(\\d+)期$', example: 第12期}\n"  # group 1 when joined
        "  - {name: rule_line, pattern: '^(.)\\1{3,}$', example: ======}\n"  # \\1: its own group only
        "  - {name: copyright, pattern: '(?i)copyright', example: COPYRIGHT 2026}\n"
        "  - {name: source, pattern: '^(?P<who>来源|出处):(?P=who)?', example: 来源:新华社}\n"
        "  - {name: tagged, pattern: '^(?P<who>作者):', example: 作者:张三}\n",
        encoding="utf-8",
    )
    text = "正文一句。\n第12期\n======\nCopyright 2026\n来源:新华社\n作者:张三\n正文二句。\n正文三句。"
    result = strip_boilerplate(text, load_rules(path))
    assert result.text == "正文一句。\n正文二句。\n正文三句。"
    assert result.removed == {"issue_no": 1, "rule_line": 1, "copyright": 1, "source": 1, "tagged": 1}


def test_a_line_that_is_only_the_site_a_reprint_notice_names_goes_too():
    body = ["小米汽車第三季度交付量創新高。", "公司表示將繼續擴大產能。", "分析師認為電動車業務仍面臨價格戰壓力。",
            "某某汽車網記者報道,銷量持續增長。"]  # the name inside a sentence is story text
    text = "\n".join(body + ["未經允許不得轉載：某某汽車網 » 小米汽車交付創新高", "某某汽車網"])
    result = strip_boilerplate(text, load_rules())
    assert result.text.split("\n") == body and result.removed == {"reprint_notice": 2}
    alone = "\n".join(body + ["某某汽車網"])  # without a notice naming it, a short line stays
    assert strip_boilerplate(alone, load_rules()).text == alone
