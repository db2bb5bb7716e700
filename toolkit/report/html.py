"""``toolkit report``: one self-contained HTML page (figures inlined as PNG data URIs, no external assets).

It reads what the pipeline stages wrote in a work dir — ingest, pre-annotation, predictions with article
summaries, the evaluation report folder and the model card — and shows whatever is there.
"""

from __future__ import annotations

import base64
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from toolkit.errors import InputError  # noqa: E402
from toolkit.io import read_records, sidecar_path  # noqa: E402
from toolkit.labels import load_schema  # noqa: E402
from toolkit.predict.summary import task_blocks  # noqa: E402
from toolkit.studio.agreement import agreement_report  # noqa: E402

CSS = """
body{font-family:system-ui,-apple-system,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0} td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4} .num{text-align:right} .muted{color:#777} figure{display:inline-block;margin:.5rem 1rem .5rem 0}
img{max-width:520px} pre{background:#f7f7f7;padding:.8rem;overflow:auto;font-size:.85rem;white-space:pre-wrap}
section.article{margin:1rem 0;padding:.5rem 1rem;border-left:3px solid #9ab}
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _img_file(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


@dataclass(frozen=True)
class Link:
    """A table cell that links somewhere; the template writes it as ``<a>``, everything else as escaped text."""

    href: str
    text: str


def _anchor(article_id: str) -> Link:
    return Link(f"#article-{article_id}", article_id)


def safe_url(url: Any) -> str | None:
    """``url`` if it is an http(s) address, else None: scraped pages carry ``javascript:`` and ``data:`` links."""
    if not isinstance(url, str):
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


TEMPLATE = """<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>toolkit report</title>
<style>{{ css }}</style></head><body>
{%- macro table(header, rows) -%}
<table><tr>{% for h in header %}<th>{{ h }}</th>{% endfor %}</tr>
{%- for row in rows %}<tr>{% for c in row %}<td{% if c is number %} class=num{% endif %}>
{%- if c.href is defined %}<a href="{{ c.href }}">{{ c.text }}</a>{% else %}{{ c }}{% endif %}</td>{% endfor %}</tr>{% endfor %}</table>
{%- endmacro -%}
{%- macro figure(f) %}<figure><img src="{{ f.src }}" alt="{{ f.caption }}"><figcaption>{{ f.caption }}</figcaption></figure>{% endmacro -%}
<h1>toolkit report</h1><p class=muted>work dir <code>{{ workdir }}</code></p>
<h2>Corpus</h2>{{ table(corpus.header, corpus.rows) }}{{ table(articles.header, articles.rows) }}
<h2>Label distributions</h2>{% for f in distributions %}{{ figure(f) }}{% endfor %}
{%- if agreement %}<h2>Annotator agreement</h2>{% if agreement.rows %}{{ table(agreement.header, agreement.rows) }}
<p>{{ agreement.disagreements }} disagreements.</p>{% else %}<p>Each reviewed unit has one annotation: no agreement to measure.</p>{% endif %}{% endif %}
{%- if evaluation %}<h2>Evaluation</h2><p>{{ evaluation.n }} units of <code>{{ evaluation.data }}</code>, model <code>{{ evaluation.model_version }}</code>.</p>
{{ table(evaluation.header, evaluation.rows) }}{% for f in evaluation.figures %}{{ figure(f) }}{% endfor %}{% endif %}
{%- if summaries %}<h2>Articles: stance and risks</h2>{% if summaries.chart %}{{ figure(summaries.chart) }}{% endif %}
{%- if summaries.risks %}<h3>Top risk sentences</h3>{{ table(["risk", "sentence", "article"], summaries.risks) }}{% endif %}
{%- for a in summaries.articles %}<section class=article id="article-{{ a.id }}"><h3>{{ a.title }}</h3>
<p class=muted>{{ a.id }} · {{ a.published }} · {{ a.units }} units{% if a.url %} · <a href="{{ a.url }}">source</a>{% endif %}</p>
<p>{{ a.net }}{{ a.shares }}; competitors {{ a.competitors }}</p>{{ table(["risk", "top risk sentences"], a.risks) }}</section>{% endfor %}{% endif %}
{%- if card %}<h2>Model card</h2><pre>{{ card }}</pre>{% endif %}
</body></html>
"""


def _distribution_chart(counts: dict[str, Counter[str]], title: str) -> str:
    fig, axes = plt.subplots(1, len(counts), figsize=(3.4 * len(counts), 2.8))
    for ax, (task, counter) in zip(axes if len(counts) > 1 else [axes], counts.items()):
        labels = list(counter)
        ax.bar(labels, [counter[k] for k in labels], color="#5b8db8")
        ax.set_title(task)
        ax.tick_params(axis="x", rotation=35)
    fig.suptitle(title, y=1.04)
    fig.tight_layout()
    return _png(fig)


def _counts(records: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Label counts per task found in the records' prediction blocks (whatever tasks the model has)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        for task, block in task_blocks(r.get("predictions") or {}).items():
            counts[task].update([block["label"]] if "label" in block else block["labels"] or ["(none)"])
    return dict(counts)


def _stance_over_time(summaries: list[dict[str, Any]], articles: dict[str, dict[str, Any]]) -> str | None:
    dated = sorted(
        (articles.get(s["article_id"], {}).get("published_at") or "", s["article_id"], s["net_stance"])
        for s in summaries if "net_stance" in s
    )
    if not dated:
        return None
    fig, ax = plt.subplots(figsize=(7, 2.8))
    xs = [d or f"(undated) {a[:10]}" for d, a, _ in dated]
    ax.plot(range(len(xs)), [n for _, _, n in dated], "o-", color="#b85b5b")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(xs)), [x[:16] for x in xs], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("net stance\n(bullish − risk share)")
    ax.set_title("per-article stance by publication date")
    return _png(fig)


def build_report(workdir: str | Path, out: str | Path, *, reviewed: list[Path] | None = None) -> Path:
    """Write one self-contained HTML report for a pipeline work dir. The page is rendered by a jinja2 template
    that escapes every value: titles, sentences and URLs come from scraped pages."""
    wd, out = Path(workdir), Path(out)
    sentences_path = wd / "sentences.jsonl"
    if not sentences_path.is_file():
        raise InputError(f"{wd}: no sentences.jsonl; run `toolkit pipeline` (or `toolkit ingest`) into this folder first")
    sentences = list(read_records(sentences_path))
    articles = {a["id"]: a for a in read_records(sidecar_path(sentences_path, "articles"))}
    kinds, scripts = Counter(s["kind"] for s in sentences), Counter(s.get("script", "?") for s in sentences)
    context: dict[str, Any] = {
        "css": CSS, "workdir": str(wd),
        "corpus": {"header": ["articles", "units", "by kind", "by script", "duplicates"],
                   "rows": [[len(articles), len(sentences), ", ".join(f"{k} {v}" for k, v in kinds.items()),
                             ", ".join(f"{k} {v}" for k, v in scripts.items()),
                             sum("duplicate_of" in s for s in sentences)]]},
        "articles": {"header": ["article", "title", "published", "units", "boilerplate removed"],
                     "rows": [[_anchor(a["id"]), a.get("title") or "", a.get("published_at") or "", a.get("n_units", 0),
                               ", ".join(f"{k} {v}" for k, v in a.get("boilerplate_removed", {}).items())]
                              for a in articles.values()]},
        "distributions": [], "agreement": None, "evaluation": None, "summaries": None, "card": None,
    }
    for name, title in (("preannotated.jsonl", "rule pre-annotation"), ("predictions.jsonl", "model predictions")):
        if (wd / name).is_file() and (counts := _counts(list(read_records(wd / name)))):
            context["distributions"].append({"src": _distribution_chart(counts, title), "caption": title})
    context["agreement"] = _agreement(wd, reviewed or [])
    context["evaluation"] = _evaluation(wd / "report")
    context["summaries"] = _summaries(wd / "predictions.jsonl", articles)
    card = wd / "model" / "model-best" / "README.md"
    if card.is_file():
        context["card"] = card.read_text(encoding="utf-8")
    page = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(TEMPLATE).render(context)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _agreement(wd: Path, reviewed: list[Path]) -> dict[str, Any] | None:
    manifest = wd / "dataset" / "manifest.json"
    if not reviewed and manifest.is_file():
        reviewed = [Path(s["path"]) for s in json.loads(manifest.read_text())["sources"] if Path(s["path"]).is_file()]
    records = [r for p in reviewed for r in read_records(p)]
    if not records:
        return None
    multi = [r for r in records if len(r.get("annotations") or []) >= 2]
    if not multi:
        return {"rows": []}
    report = agreement_report(multi, load_schema())
    rows = [[task, s["units"], round(s["percent_agreement"], 3),
             ", ".join(f"{k}: {v:.3f}" for k, v in s["cohen_kappa"].items()) or "-",
             round(s["fleiss_kappa"], 3), round(s["krippendorff_alpha"], 3)] for task, s in report["fields"].items()]
    return {"header": ["field", "units with ≥2 annotators", "% agree", "Cohen κ", "Fleiss κ", "Krippendorff α"],
            "rows": rows, "disagreements": len(report["disagreements"])}


def _evaluation(report_dir: Path) -> dict[str, Any] | None:
    if not (report_dir / "metrics.json").is_file():
        return None
    metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))
    rows = []
    for task, m in metrics["systems"]["model"].items():
        key = "accuracy" if "accuracy" in m else "micro_f1"
        for metric in (key, "macro_f1"):
            rows.append([task, metric] + [
                round(metrics["systems"][s][task][metric], 3) if task in metrics["systems"].get(s, {}) else "-"
                for s in ("model", "rules", "tfidf")])
    figures = [{"src": _img_file(png), "caption": png.stem.replace("_", " ")} for png in sorted(report_dir.glob("confusion_*.png"))]
    if (report_dir / "reliability.png").is_file():
        figures.append({"src": _img_file(report_dir / "reliability.png"), "caption": "reliability diagram"})
    return {"n": metrics["n"], "data": metrics["data"], "model_version": metrics["model_version"],
            "header": ["task", "metric", "model", "rules", "TF-IDF"], "rows": rows, "figures": figures}


def _summaries(predictions: Path, articles: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    path = sidecar_path(predictions, "articles")
    summaries = list(read_records(path)) if path.is_file() else []
    if not summaries:
        return None
    chart = _stance_over_time(summaries, articles)
    risks = sorted(((r["risk"], s["article_id"], r) for s in summaries for r in s.get("top_risks", [])),
                   key=lambda t: -t[0])[:15]
    out = []
    for s in summaries:
        a = articles.get(s["article_id"], {})
        out.append({
            "id": s["article_id"], "title": a.get("title") or s["article_id"], "published": a.get("published_at") or "undated",
            "units": s["units"], "url": safe_url(a.get("url")),
            "net": f'net stance {s["net_stance"]:+.2f}; ' if "net_stance" in s else "",
            "shares": "; ".join(f"{task} {json.dumps(s[task])}" for task in s
                                if isinstance(s[task], dict) and task != "competitors"),
            "competitors": json.dumps(s["competitors"], ensure_ascii=False),
            "risks": [[round(r["risk"], 3), r["text"]] for r in s.get("top_risks", [])],
        })
    return {"chart": {"src": chart, "caption": "net stance per article"} if chart else None,
            "risks": [[round(risk, 3), r["text"], _anchor(aid)] for risk, aid, r in risks], "articles": out}
