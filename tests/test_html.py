"""HTML pages: the text handed to segmentation carries the page's structure and nothing of its markup."""

import pytest

from toolkit.ingest.html import extract_page


def test_inline_markup_keeps_its_text_and_a_short_page_keeps_its_sentences(units):
    # ~100 characters of body: trafilatura's default threshold (250) replaced this page's extraction with
    # one line per text node ("小米集团" / "第三季度营收达到1131亿元," / "同比增长" / ...).
    html = """<html><head><title>小米季度业绩</title></head><body><article><h1>小米季度业绩超预期</h1>
    <p><b>小米集团</b>第三季度营收达到1131亿元,<em>同比增长</em>22.3%。<a href="/x">详情</a></p>
    <p>智能电动汽车业务收入290亿元。</p><p>手机业务保持稳定,出货量排名全球第三,高端化取得进展。</p>
    </article><footer>版权所有 &copy; 2025 某网站</footer></body></html>"""
    article, found = units(html, "html")
    assert found == [
        ("heading", "小米季度业绩超预期"),
        ("sentence", "小米集团第三季度营收达到1131亿元,同比增长22.3%。"),
        ("sentence", "详情"),
        ("sentence", "智能电动汽车业务收入290亿元。"),
        ("sentence", "手机业务保持稳定,出货量排名全球第三,高端化取得进展。"),
    ]
    assert "published_at" not in article  # not 2025-01-01 from the footer's copyright year


def test_text_is_as_printed_not_markdown_escaped(units):
    html = """<html><body><article><h1>小米目标价上调</h1>
    <p>多家券商将小米集团[1810.HK]目标价上调至30~35港元,预计毛利率<20%的业务占比下降。</p>
    <p>1. 手机业务出货量同比增长3*4个百分点,汽车业务交付周期约为_4_周,订单排队时间较长。</p>
    </article></body></html>"""
    _, found = units(html, "html")
    assert found[1:] == [
        ("sentence", "多家券商将小米集团[1810.HK]目标价上调至30~35港元,预计毛利率<20%的业务占比下降。"),
        ("bullet", "1. 手机业务出货量同比增长3*4个百分点,汽车业务交付周期约为_4_周,订单排队时间较长。"),
    ]


def test_lists_tables_and_line_breaks_become_units_of_their_kind(units):
    html = """<html><head><meta property="article:published_time" content="2025-11-05T09:30:00+08:00">
    <link rel="canonical" href="https://news.example.com/2025/11/05/xiaomi.html"></head><body><article><h2>业务概览</h2>
    <p>小米集团公布了第三季度各业务的收入情况,整体表现好于市场此前的预期。</p>
    <table><tr><th>业务</th><th>收入</th></tr><tr><td>手机</td><td>460</td></tr><tr><td></td><td></td></tr>
    <tr><td>汽车</td><td>290</td></tr></table>
    <ol><li>手机出货量排名全球第三,高端机型占比继续提升</li><li>汽车<ul><li>交付量创新高</li></ul></li><li></li></ol>
    <p>雷军表示:<br>明年将继续加大研发投入。</p></article></body></html>"""
    article, found = units(html, "html")
    assert found == [
        ("heading", "业务概览"),
        ("sentence", "小米集团公布了第三季度各业务的收入情况,整体表现好于市场此前的预期。"),
        ("table_row", "| 业务 | 收入 |"),
        ("table_row", "| 手机 | 460 |"),
        ("table_row", "| 汽车 | 290 |"),
        ("bullet", "- 手机出货量排名全球第三,高端机型占比继续提升"),
        ("bullet", "- 汽车"),  # numbered or not, a list item is a bullet
        ("bullet", "- 交付量创新高"),
        ("sentence", "雷军表示:"),
        ("sentence", "明年将继续加大研发投入。"),
    ]
    assert article["published_at"] == "2025-11-05"
    assert article["url"] == "https://news.example.com/2025/11/05/xiaomi.html"  # a saved page's own address


BRIEF = ("sentence", "华为今天发布新款折叠屏手机。")


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("<p>华为今天发布新款折叠屏手机。</p>", [BRIEF]),
        ("华为今天发布新款折叠屏手机。", [BRIEF]),
        ("\n  <P>华为今天发布新款折叠屏手机。</P><p>小米股价下跌2%。</p>", [BRIEF, ("sentence", "小米股价下跌2%。")]),
        ("华为今天发布新款折叠屏手机。<br>小米股价下跌2%。", [BRIEF, ("sentence", "小米股价下跌2%。")]),
        (
            "<h2>华为发布会</h2><p>华为今天发布新款折叠屏手机。</p><ul><li>售价9999元</li><li>下月发货</li></ul>",
            [("heading", "华为发布会"), BRIEF, ("bullet", "- 售价9999元"), ("bullet", "- 下月发货")],
        ),
    ],
)
def test_an_article_body_without_a_document_around_it_keeps_its_text_and_structure(units, fragment, expected):
    # A scraper's JSONL often holds only the body's markup; trafilatura returned nothing for a one-block
    # fragment and flattened a short one's heading and list into a single line.
    article, found = units(fragment, "html")
    assert found == expected
    assert article["n_units"] == len(expected)


def test_a_table_beside_text_of_its_own_block_keeps_its_rows(units):
    # trafilatura leaves such a table's rows as HTML (<tr><td>), not its own <row><cell>.
    html = """<html><body><article><div>导语:华为今天发布新款折叠屏手机,售价高于上一代产品。
    <p>小米股价盘中下跌2%,市场担心竞争加剧,多家券商下调目标价。</p>
    <table><tbody><tr><th>业务</th><th>收入</th></tr><tr><td>手机</td><td>460</td></tr></tbody></table>
    </div></article></body></html>"""
    _, found = units(html, "html")
    assert found[-2:] == [("table_row", "| 业务 | 收入 |"), ("table_row", "| 手机 | 460 |")]


def test_a_wechat_article_keeps_its_sub_headings_and_paragraphs(units):
    # WeChat (公众号) pages hold the text in <section><span>…</span></section>, with no <p>: trafilatura's
    # own extraction skipped them, and its fallback dropped the sub-headings and joined every paragraph.
    paragraphs = [
        "<span>小米集团周二宣布,旗下电动汽车累计交付量突破十万辆,比原计划提前两个月完成全年目标。</span>",
        "<strong>一、产能</strong>",
        "<span>分析师认为,</span><strong><span>产能爬坡</span></strong><span>仍是明年最大的挑战。</span>",
        "<br>",
        "<span>汽车业务毛利率提升至百分之二十五,首次实现单季经营盈利,高于市场此前的普遍预期。</span>",
        "<strong>二、海外</strong>",
        "<span>小米计划进入欧洲汽车市场,首站可能选择德国和法国,目前正在当地招聘销售团队。</span>",
    ]
    sections = "".join(f"<section style='margin:0'>{p}</section>" for p in paragraphs)
    html = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>小米汽车交付破十万</title></head><body>
    <div id="page-content"><h1 class="rich_media_title">小米汽车交付破十万</h1>
    <div class="rich_media_meta_list"><a id="js_name">财经观察</a><em id="publish_time">2025-11-18 09:30</em></div>
    <div class="rich_media_content" id="js_content" style="visibility: hidden;">{sections}</div>
    <div class="rich_media_tool"><span>阅读 2.1万</span><span>赞 356</span></div></div></body></html>"""
    article, found = units(html, "html")
    assert found == [
        ("sentence", "小米集团周二宣布,旗下电动汽车累计交付量突破十万辆,比原计划提前两个月完成全年目标。"),
        ("heading", "一、产能"),
        ("sentence", "分析师认为,产能爬坡仍是明年最大的挑战。"),
        ("sentence", "汽车业务毛利率提升至百分之二十五,首次实现单季经营盈利,高于市场此前的普遍预期。"),
        ("heading", "二、海外"),
        ("sentence", "小米计划进入欧洲汽车市场,首站可能选择德国和法国,目前正在当地招聘销售团队。"),
    ]
    assert (article["title"], article["published_at"]) == ("小米汽车交付破十万", "2025-11-18")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "<h1>小米股价盘中涨超5%</h1><p>小米集团股价盘中涨超5%,报42港元。</p>",
            [("heading", "小米股价盘中涨超5%"), ("sentence", "小米集团股价盘中涨超5%,报42港元。")],
        ),
        (
            "<div class='content'><p><b>小米</b>发布了新手机,售价<a href='/p'>3999元</a>。</p></div>",
            [("sentence", "小米发布了新手机,售价3999元。")],
        ),
    ],
)
def test_a_page_with_little_text_keeps_its_lines_and_its_sentences_whole(units, body, expected):
    # With under 50 characters trafilatura gives every text node of the page on a line of its own; joined,
    # they ran the headline into the sentence and put spaces around each bold word or link.
    html = f"<html><head><title>快讯</title></head><body>{body}<script>var x = 1;</script></body></html>"
    assert units(html, "html")[1] == expected


def test_a_page_without_text_gives_an_empty_article():
    assert extract_page("<html><body></body></html>").text == ""
    assert extract_page("\x00").text == ""
    assert extract_page("<p> </p>").text == ""


@pytest.mark.parametrize(
    ("title", "headline"),
    [
        ("小米汽车交付提速_网易订阅", "小米汽车交付提速"),
        ("小米汽车交付提速_财经频道_新浪网", "小米汽车交付提速"),
        ("小米汽車交付提速_經濟日報", "小米汽車交付提速"),
        ("小米_百度百科", "小米_百度百科"),  # a two-character head is the page's subject, not a headline
        ("小米汽车交付提速", "小米汽车交付提速"),
    ],
)
def test_a_page_title_loses_the_site_names_chinese_sites_append(title, headline):
    html = f"""<html><head><title>{title}</title></head><body><div>
    <p>小米集团周二表示,其电动汽车本月交付量突破四万辆,创历史新高,全年交付目标将提前完成。</p>
    <p>分析师认为,随着北京二期工厂投产,小米汽车的产能瓶颈将明显缓解,但价格竞争依然激烈。</p></div></body></html>"""
    assert extract_page(html).title == headline
