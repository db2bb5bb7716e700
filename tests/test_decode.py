import codecs
import gzip

import pytest

from toolkit.errors import DecodeError
from toolkit.ingest.decode import Decoded, codec_name, decode_bytes

SIMPLIFIED = "小米集团发布第三季度财报,总营收同比增长22.3%,智能手机出货量保持增长。汽车业务首次实现单季盈利。"
TRADITIONAL = "小米集團發布第三季度財報,總營收同比增長22.3%,智慧型手機出貨量保持增長。汽車業務首次實現單季盈利。"


def test_utf8_plain_and_with_bom():
    assert decode_bytes(SIMPLIFIED.encode("utf-8")).text == SIMPLIFIED
    decoded = decode_bytes(codecs.BOM_UTF8 + SIMPLIFIED.encode("utf-8"))
    assert decoded.text == SIMPLIFIED
    assert decoded.encoding == "utf_8_sig"


def test_gbk_is_detected():
    decoded = decode_bytes(SIMPLIFIED.encode("gbk"))
    assert decoded.text == SIMPLIFIED
    assert decoded.encoding == "gb18030"


def test_big5_is_detected_and_read_as_big5_hkscs():
    decoded = decode_bytes(TRADITIONAL.encode("big5"))
    assert decoded.text == TRADITIONAL
    assert decoded.encoding == "big5hkscs"
    assert decoded.warning is None


def test_hong_kong_characters_outside_plain_big5_are_read():
    cantonese = "佢哋話小米嘅新手機好好賣，啲人排晒隊買。港股今日升咗兩個百分點。"
    with pytest.raises(UnicodeDecodeError):
        cantonese.encode("big5hkscs").decode("big5")
    assert decode_bytes(cantonese.encode("big5hkscs")).text == cantonese


def test_short_text_mixing_chinese_and_latin_is_read_with_a_warning_not_skipped():
    text = "向经典致敬,Anker推Nano Pro款iPhone充电器"  # too "messy" for charset-normalizer's default ceiling
    decoded = decode_bytes(text.encode("gbk"))
    assert (decoded.text, decoded.encoding) == (text, "gb18030")
    assert "low confidence" in decoded.warning and "--encoding" in decoded.warning


def test_text_both_encodings_read_equally_is_read_as_gb18030_and_the_warning_names_both():
    decoded = decode_bytes("手机".encode("gbk"))  # the same four bytes are 忒儂 in Big5
    assert (decoded.text, decoded.encoding) == ("手机", "gb18030")
    assert "gb18030 and big5hkscs" in decoded.warning


def test_a_given_encoding_reads_what_is_not_utf8_and_names_itself_when_it_fails():
    traditional = "手機"  # detection alone would read these bytes as GB18030 (see above)
    assert decode_bytes(traditional.encode("big5"), "big5") == Decoded(traditional, "big5hkscs")
    assert decode_bytes(SIMPLIFIED.encode("utf-8"), "big5").encoding == "utf_8"  # UTF-8 is always tried first
    with pytest.raises(DecodeError, match="big5hkscs .the encoding given.: invalid byte at 0"):
        decode_bytes(b"\x80\x80 " + SIMPLIFIED.encode("gbk"), "big5")


def test_an_html_page_is_read_in_the_charset_it_declares():
    page = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=big5"></head><p>手機</p></html>'
    assert decode_bytes(page.encode("big5"), html=True) == Decoded(page, "big5hkscs")
    assert decode_bytes(page.encode("big5")).encoding == "gb18030"  # as a text file: no declaration read
    xml = '<?xml version="1.0" encoding="GB2312"?><html><p>手机</p></html>'
    assert decode_bytes(xml.encode("gbk"), html=True) == Decoded(xml, "gb18030")


def test_a_declared_charset_the_page_is_not_in_is_reported_and_detection_reads_it():
    # 全 and 然 are byte pairs Big5 does not have; most GBK text is also valid (garbled) Big5
    page = "<html><head><meta charset='big5'></head><p>" + SIMPLIFIED + "全年利润然而承压。</p></html>"
    decoded = decode_bytes(page.encode("gbk"), html=True)
    assert (decoded.text, decoded.encoding) == (page, "gb18030")
    assert "declares big5hkscs but is not valid big5hkscs" in decoded.warning


@pytest.mark.parametrize(("name", "codec"), [("GBK", "gb18030"), ("gb2312", "gb18030"), ("Big5", "big5hkscs"), ("utf-8", "utf-8")])
def test_codec_names(name, codec):
    assert codec_name(name) == codec


def test_truncated_utf8_keeps_the_complete_text_and_warns():
    data = SIMPLIFIED.encode("utf-8")[:-2]  # cut inside the final "。"
    decoded = decode_bytes(data)
    assert decoded.text == SIMPLIFIED[:-1]
    assert "truncated UTF-8" in decoded.warning


@pytest.mark.parametrize("codec", ["utf_16_le", "utf_16_be", "utf_32_le"])
def test_utf16_or_utf32_without_a_byte_order_mark_is_read_not_skipped_as_binary(codec):
    # Some Windows tools save "Unicode" text without a BOM; its ASCII characters carry NUL bytes.
    text = SIMPLIFIED + "\r\nXiaomi 17 Pro\r\n"
    decoded = decode_bytes(text.encode(codec))
    assert (decoded.text, decoded.encoding) == (text, codec)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n\t ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (gzip.compress(SIMPLIFIED.encode("utf-8") * 20), "binary"),
        (bytes(range(256)) * 8, "binary"),
    ],
)
def test_unreadable_input_raises_with_reason(data, reason):
    with pytest.raises(DecodeError, match=reason):
        decode_bytes(data)
