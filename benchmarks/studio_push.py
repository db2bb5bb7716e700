"""Push throughput to a real Label Studio: 10,000 tasks with predictions, then the same again.

Starts a throw-away local server (first start migrates, ~1 min, not timed) unless --data-dir points at a
running one, pre-annotates --n sentences (sample units repeated with distinct ids), and times
`toolkit.studio.push.push` into a new project: the first push (duplicate check + import) and a re-push
(duplicate check only, must create 0 tasks), then a re-push without the local push index (as from another
machine: the duplicate check lists every task and prediction from the server).

    python benchmarks/studio_push.py --n 10000
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

from toolkit.annotate import RulePreannotator
from toolkit.ingest import ingest
from toolkit.io import read_records
from toolkit.studio import server
from toolkit.studio.client import Studio, resolve_connection
from toolkit.studio.push import push

SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "articles"


def sentences(n: int, workdir: Path) -> list[dict]:
    ingest([SAMPLES], workdir / "s.jsonl", show_progress=False)
    units = list(read_records(workdir / "s.jsonl"))
    out = []
    for i, unit in enumerate(itertools.islice(itertools.cycle(units), n)):
        out.append(dict(unit, id=f"{unit['id']}-{i}", text=f"{unit['text']}({i})"))
    return list(RulePreannotator().annotate(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, help="use the server started from this data dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = args.data_dir or work / "studio"
        own = args.data_dir is None
        if own:
            server.start(data_dir, server.free_port(), timeout=400)
        try:
            records = sentences(args.n, work)
            studio = Studio(resolve_connection(data_dir=data_dir))
            project = f"bench-{uuid.uuid4().hex[:8]}"
            print(f"python {platform.python_version()}; Label Studio at {studio.connection.url}; "
                  f"{len(records)} tasks with predictions into {project!r}")
            os.environ["TOOLKIT_CACHE_DIR"] = str(work / "cache")
            for label in ("first push", "re-push", "re-push, no local index"):
                if label.endswith("no local index"):
                    os.environ["TOOLKIT_CACHE_DIR"] = str(work / "empty-cache")
                start = time.perf_counter()
                summary = push(studio, records, project, show_progress=False)
                elapsed = time.perf_counter() - start
                print(f"{label:24s} {elapsed:6.1f} s  created {summary.created:6d}  "
                      f"predictions added {summary.predictions_added:6d}  unchanged {summary.unchanged:6d}")
        finally:
            if own:
                server.stop(data_dir)


if __name__ == "__main__":
    main()
