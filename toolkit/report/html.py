"""``toolkit report``: one self-contained HTML page (figures inlined as PNG data URIs, no external assets).

It reads what the pipeline stages wrote in a work dir — ingest, pre-annotation, predictions with article
summaries, the evaluation report folder and the model card — and shows whatever is there.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

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


def _figure(src: str, caption: str) -> str:
    return f'<figure><img src="{src}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if isinstance(c, (int, float)) else ''}>{c if isinstance(c, str) and c.startswith('<a ') else html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


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
    """Write one self-contained HTML report for a pipeline work dir."""
    wd, out = Path(workdir), Path(out)
    sentences_path = wd / "sentences.jsonl"
    if not sentences_path.is_file():
        raise InputError(f"{wd}: no sentences.jsonl; run `toolkit pipeline` (or `toolkit ingest`) into this folder first")
    sentences = list(read_records(sentences_path))
    articles = {a["id"]: a for a in read_records(sidecar_path(sentences_path, "articles"))}
    parts = [f"<h1>toolkit report</h1><p class=muted>work dir <code>{html.escape(str(wd))}</code></p>"]

    kinds, scripts = Counter(s["kind"] for s in sentences), Counter(s.get("script", "?") for s in sentences)
    parts.append("<h2>Corpus</h2>" + _table(
        ["articles", "units", "by kind", "by script", "duplicates"],
        [[len(articles), len(sentences), ", ".join(f"{k} {v}" for k, v in kinds.items()),
          ", ".join(f"{k} {v}" for k, v in scripts.items()), sum("duplicate_of" in s for s in sentences)]]))
    parts.append(_table(["article", "title", "published", "units", "boilerplate removed"], [
        [f'<a href="#article-{html.escape(a["id"])}">{html.escape(a["id"])}</a>', a.get("title") or "", a.get("published_at") or "",
         a.get("n_units", 0), ", ".join(f"{k} {v}" for k, v in a.get("boilerplate_removed", {}).items())]
        for a in articles.values()]))

    parts.append("<h2>Label distributions</h2>")
    for name, title in (("preannotated.jsonl", "rule pre-annotation"), ("predictions.jsonl", "model predictions")):
        if (wd / name).is_file():
            counts = _counts(list(read_records(wd / name)))
            if counts:
                parts.append(_figure(_distribution_chart(counts, title), title))

    reviewed = reviewed or []
    manifest = wd / "dataset" / "manifest.json"
    if not reviewed and manifest.is_file():
        reviewed = [Path(s["path"]) for s in json.loads(manifest.read_text())["sources"] if Path(s["path"]).is_file()]
    reviewed_records = [r for p in reviewed for r in read_records(p)] if reviewed else []
    multi = [r for r in reviewed_records if len(r.get("annotations") or []) >= 2]
    if reviewed_records and not multi:
        parts.append("<h2>Annotator agreement</h2><p>Each reviewed unit has one annotation: no agreement to measure.</p>")
    if multi:
        report = agreement_report(multi, load_schema())
        rows = [[task, s["units"], round(s["percent_agreement"], 3), ", ".join(f"{k}: {v:.3f}" for k, v in s["cohen_kappa"].items()) or "-",
                 round(s["fleiss_kappa"], 3), round(s["krippendorff_alpha"], 3)] for task, s in report["fields"].items()]
        parts.append("<h2>Annotator agreement</h2>" + _table(
            ["field", "units with ≥2 annotators", "% agree", "Cohen κ", "Fleiss κ", "Krippendorff α"], rows)
            + f"<p>{len(report['disagreements'])} disagreements.</p>")

    report_dir = wd / "report"
    if (report_dir / "metrics.json").is_file():
        metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))
        rows = []
        for task, m in metrics["systems"]["model"].items():
            key = "accuracy" if "accuracy" in m else "micro_f1"
            for metric in (key, "macro_f1"):
                rows.append([task, metric] + [
                    round(metrics["systems"][s][task][metric], 3) if task in metrics["systems"].get(s, {}) else "-"
                    for s in ("model", "rules", "tfidf")])
        parts.append(f"<h2>Evaluation</h2><p>{metrics['n']} units of <code>{html.escape(metrics['data'])}</code>, "
                     f"model <code>{html.escape(metrics['model_version'])}</code>.</p>"
                     + _table(["task", "metric", "model", "rules", "TF-IDF"], rows))
        for png in sorted(report_dir.glob("confusion_*.png")):
            parts.append(_figure(_img_file(png), png.stem.replace("_", " ")))
        if (report_dir / "reliability.png").is_file():
            parts.append(_figure(_img_file(report_dir / "reliability.png"), "reliability diagram"))

    predictions = wd / "predictions.jsonl"
    summaries = list(read_records(sidecar_path(predictions, "articles"))) if sidecar_path(predictions, "articles").is_file() else []
    if summaries:
        parts.append("<h2>Articles: stance and risks</h2>")
        chart = _stance_over_time(summaries, articles)
        if chart:
            parts.append(_figure(chart, "net stance per article"))
        risks = sorted(((r["risk"], s["article_id"], r) for s in summaries for r in s.get("top_risks", [])),
                       key=lambda t: -t[0])[:15]
        if risks:
            parts.append("<h3>Top risk sentences</h3>" + _table(["risk", "sentence", "article"], [
                [round(risk, 3), r["text"], f'<a href="#article-{html.escape(aid)}">{html.escape(aid)}</a>'] for risk, aid, r in risks]))
        for s in summaries:
            shares = "; ".join(f"{task} {html.escape(json.dumps(s[task]))}" for task in s
                               if isinstance(s[task], dict) and task not in ("competitors",))
            net = f'net stance {s["net_stance"]:+.2f}; ' if "net_stance" in s else ""
            a = articles.get(s["article_id"], {})
            link = f' · <a href="{html.escape(a["url"])}">source</a>' if a.get("url") else ""
            parts.append(
                f'<section class=article id="article-{html.escape(s["article_id"])}"><h3>{html.escape(a.get("title") or s["article_id"])}</h3>'
                f'<p class=muted>{html.escape(s["article_id"])} · {html.escape(a.get("published_at") or "undated")} · {s["units"]} units{link}</p>'
                f'<p>{net}{shares}; competitors {html.escape(json.dumps(s["competitors"], ensure_ascii=False))}</p>'
                + _table(["risk", "top risk sentences"], [[round(r["risk"], 3), r["text"]] for r in s.get("top_risks", [])])
                + "</section>")

    card = wd / "model" / "model-best" / "README.md"
    if card.is_file():
        parts.append("<h2>Model card</h2><pre>" + html.escape(card.read_text(encoding="utf-8")) + "</pre>")

    page = (f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>toolkit report</title>'
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
