"""Rule lexicons from published dictionaries (cntext's YAML format), read from a file or a wheel."""

from __future__ import annotations

import zipfile

import pytest
from typer.testing import CliRunner

from toolkit.annotate import RulePreannotator
from toolkit.annotate.lexicon import sentiment_terms
from toolkit.annotate.lexicon_import import import_lexicon
from toolkit.cli import app
from toolkit.errors import InputError
from toolkit.resources import labels_path

runner = CliRunner()
FINANCE = """Name: Chinese Financial Sentiment Dictionary
Desc: test copy
Refer: Jiang et al. 2019
Category:
- pos
- neg
Dictionary:
    pos:
    - \ufeff盈利增長
    - 出色
    - 好
    neg:
    - 虧損
    - 下滑
    - 3x
"""
NTUSD = """Name: NTUSD
Refer: NTU
Dictionary:
    positive:
    - 出色
    - 下滑
    negative:
    - 下滑
    - 低迷
"""


@pytest.fixture
def dictionaries(tmp_path):
    finance = tmp_path / "zh_common_FinanceSenti.yaml"
    finance.write_text(FINANCE, encoding="utf-8")
    ntusd = tmp_path / "zh_common_NTUSD.yaml"
    ntusd.write_text(NTUSD, encoding="utf-8")
    wheel = tmp_path / "cntext-0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(finance, "cntext/io/data/zh_common_FinanceSenti.yaml")
        zf.write(ntusd, "cntext/io/data/zh_common_NTUSD.yaml")
        zf.writestr("cntext/io/data/en_common_NRC.yaml", "Name: English\nDictionary: {}\n")
    return finance, ntusd, wheel


def test_published_terms_replace_the_sentiment_file_with_their_provenance(dictionaries, tmp_path):
    finance, ntusd, wheel = dictionaries
    for sources in ([finance, ntusd], [wheel]):
        out = tmp_path / f"lex-{len(sources)}"
        result = import_lexicon(sources, out)
        weights = sentiment_terms(out / "sentiment.tsv")
        # Simplified, summed over dictionaries (NTUSD counts half), a BOM stripped; a single character,
        # a non-word and a term the dictionaries cancel out (下滑 = -1 + 0.5 - 0.5) are left out
        assert weights == {"盈利增长": 1.0, "出色": 1.5, "亏损": -1.0, "下滑": -1.0, "低迷": -0.5}
        assert result["dictionaries"] == ["Chinese Financial Sentiment Dictionary", "NTUSD"]
        text = (out / "sentiment.tsv").read_text(encoding="utf-8")
        assert "Jiang et al. 2019" in text and "sha256" in text
        base = labels_path("lexicon")
        assert (out / "stance.tsv").read_bytes() == (base / "stance.tsv").read_bytes()
    rules = RulePreannotator(lexicon_dir=tmp_path / "lex-1")
    assert rules.predict(["公司季度亏损,业绩低迷。"])[0]["sentiment"]["label"] == "negative"


def test_keep_base_sentiment_adds_the_bundled_terms_and_errors_are_clear(dictionaries, tmp_path):
    finance, _, wheel = dictionaries
    import_lexicon([finance], tmp_path / "merged", keep_base_sentiment=True)
    merged = sentiment_terms(tmp_path / "merged" / "sentiment.tsv")
    base = sentiment_terms(labels_path("lexicon") / "sentiment.tsv")
    assert merged["亏损"] == base.get("亏损", -1.0) and all(merged[t] == w for t, w in base.items())
    with pytest.raises(InputError, match="not one of the known dictionaries"):
        import_lexicon([tmp_path / "merged" / "sentiment.tsv"], tmp_path / "x")
    with pytest.raises(InputError, match="the output folder is the base lexicon"):
        import_lexicon([finance], labels_path("lexicon"))
    broken = tmp_path / "zh_common_HowNet.yaml"
    broken.write_text("Name: x\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a dictionary file"):
        import_lexicon([broken], tmp_path / "y")
    result = runner.invoke(app, ["lexicon", "import", str(wheel), "--out", str(tmp_path / "cli"),
                                 "--dictionary", "zh_common_FinanceSenti"])
    assert result.exit_code == 0, result.output
    assert "4 sentiment terms (2 positive, 2 negative)" in result.output
    result = runner.invoke(app, ["lexicon", "import", str(wheel), "--out", str(tmp_path / "cli2"), "--dictionary", "nope"])
    assert result.exit_code == 1 and "unknown dictionaries nope" in result.output
