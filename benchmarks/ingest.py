"""Ingest throughput: MB of article text per second on one core.

Builds a corpus of at least --mb megabytes by repeating the bundled sample articles (each copy gets a
distinct id and a numbered first line, so ids and duplicate tracking do real work), writes it both as
.txt files and as article JSONL, and times `toolkit.ingest.ingest` on each.

    python benchmarks/ingest.py --mb 50                          # bundled sample articles
    python benchmarks/ingest.py --mb 50 --source ../shared/corpus  # real scraped articles
    python benchmarks/ingest.py --mb 50 --full-width                # samples punctuated as news pages are
    python benchmarks/ingest.py --mb 10 --markdown                  # the files as .md: Markdown parsing
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from _speed import cpu_description, reference_loop_seconds

from toolkit.ingest import ingest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "examples" / "articles"


# ASCII punctuation (and the space) to the full-width forms most Chinese news pages print.
FULL_WIDTH = str.maketrans(",:();!?% ", "，：（）；！？％\u3000")


def build_corpus(
    workdir: Path, target_bytes: int, source: Path = SAMPLES, full_width: bool = False, suffix: str = ".txt"
) -> tuple[Path, Path, int]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(source.glob("*.txt"))]
    if full_width:
        texts = [text.translate(FULL_WIDTH) for text in texts]
    txt_dir = workdir / "txt"
    txt_dir.mkdir()
    jsonl = workdir / "articles.jsonl"
    total = 0
    i = 0
    with jsonl.open("w", encoding="utf-8") as fh:
        while total < target_bytes:
            body = f"第{i}期 市场观察\n" + texts[i % len(texts)]
            (txt_dir / f"a{i:06d}{suffix}").write_text(body, encoding="utf-8")
            fh.write(json.dumps({"id": f"a{i:06d}", "text": body}, ensure_ascii=False) + "\n")
            total += len(body.encode("utf-8"))
            i += 1
    return txt_dir, jsonl, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50.0, help="corpus size in MB of UTF-8 text")
    parser.add_argument("--source", type=Path, default=SAMPLES, help="folder of .txt articles to repeat")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per input form; the best is reported")
    parser.add_argument("--full-width", action="store_true", help="turn the articles' ASCII punctuation full-width")
    parser.add_argument("--markdown", action="store_true", help="write the files as .md, which ingest parses")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the goal states
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        suffix = ".md" if args.markdown else ".txt"
        txt_dir, jsonl, total = build_corpus(work, int(args.mb * 1_000_000), args.source, args.full_width, suffix)
        mb = total / 1_000_000
        width = " (full-width punctuation)" if args.full_width else ""
        print(f"corpus: {mb:.1f} MB of {args.source}{width} repeated; python {platform.python_version()}; 1 core")
        print(f"cpu: {cpu_description()}; reference loop (5 M additions): {reference_loop_seconds():.3f} s")
        for name, source in (("article JSONL", jsonl), (f"{suffix} files", txt_dir)):
            walls, cpus = [], []
            for _ in range(args.repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                summary = ingest([source], work / f"out-{name[0]}.jsonl", show_progress=False)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            print(
                f"{name:14s} {summary.articles:7d} articles {summary.sentences:9d} units  best of {args.repeat}: "
                f"{min(walls):6.1f} s wall {mb / min(walls):5.2f} MB/s, {min(cpus):6.1f} s CPU {mb / min(cpus):5.2f} MB/s"
            )


if __name__ == "__main__":
    main()
