import codecs

import pytest

from toolkit.errors import DecodeError
from toolkit.ingest.decode import decode_bytes

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


def test_big5_is_detected():
    decoded = decode_bytes(TRADITIONAL.encode("big5"))
    assert decoded.text == TRADITIONAL
    assert decoded.encoding == "big5"


def test_truncated_utf8_keeps_the_complete_text_and_warns():
    data = SIMPLIFIED.encode("utf-8")[:-2]  # cut inside the final "。"
    decoded = decode_bytes(data)
    assert decoded.text == SIMPLIFIED[:-1]
    assert "truncated UTF-8" in decoded.warning


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty"), (b"  \n\t ", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary")],
)
def test_unreadable_input_raises_with_reason(data, reason):
    with pytest.raises(DecodeError, match=reason):
        decode_bytes(data)
