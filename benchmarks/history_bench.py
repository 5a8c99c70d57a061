"""Gallery benchmark: N history records, then time the first page and searches.

    python benchmarks/history_bench.py                 # 100,000 rows in a temporary SQLite
    python benchmarks/history_bench.py --rows 20000 --db postgresql+psycopg://u@host/db

Rows are inserted in bulk (no image files: the gallery query is what is measured; thumbnails
are files made once). Each timing is the median of ``--repeat`` runs of
``HistoryStore.search`` exactly as the Gallery tab calls it (page of 48 plus the total count).
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webui.history.db import open_database  # noqa: E402
from webui.history.query import GalleryQuery  # noqa: E402
from webui.history.schema import Generation  # noqa: E402
from webui.history.store import HistoryStore  # noqa: E402

log = logging.getLogger("history_bench")

WORDS = ("cat dog castle forest portrait landscape neon city night sunset ocean mountain robot "
         "dragon flower garden watercolor oil painting photo cinematic lighting detailed "
         "masterpiece anime girl boy old man woman knight wizard spaceship desert snow rain "
         "fog river bridge tower cyberpunk steampunk baroque minimal abstract").split()
MODES = ("txt2img", "img2img", "inpaint", "outpaint")
MODELS = ("sdxl-base-1.0", "juggernautXL_v9", "dreamshaperXL", "animagineXL-3.1")
SIZES = ((1024, 1024), (832, 1216), (1216, 832), (896, 1152))


def fill(store: HistoryStore, rows: int, batch: int = 5000) -> None:
    """Insert ``rows`` synthetic records (prompt words, modes, models, sizes, dates)."""
    rng = random.Random(42)
    start = datetime.now(timezone.utc) - timedelta(days=365)
    table = Generation.__table__
    for first in range(0, rows, batch):
        values = []
        for i in range(first, min(rows, first + batch)):
            w, h = rng.choice(SIZES)
            values.append(dict(
                created_at=start + timedelta(seconds=i * 300), mode=rng.choice(MODES),
                prompt=" ".join(rng.choices(WORDS, k=12)) + f" unique{i}",
                negative_prompt=" ".join(rng.choices(WORDS, k=4)), width=w, height=h,
                steps=20, cfg_scale=7.0, sampler="Euler a", seed=rng.randrange(2**32),
                model_name=rng.choice(MODELS), model_hash="0123456789", params={},
                infotext="", image_path=f"txt2img-images/bench/{i:07d}.png", duration=1.0,
                owner=f"user{i % 5}", starred=i % 97 == 0, source="", deleting=False))
        with store.engine.begin() as conn:
            conn.execute(table.insert(), values)


def timed(fn, repeat: int) -> float:
    """Median milliseconds of ``fn()``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


CASES = {
    "first page (newest, with total)": dict(),
    "first page, one user's history": dict(_owner="user3"),
    "search one common word": dict(text="castle"),
    "search two words": dict(text="neon cyberpunk"),
    "search rare word (1 hit)": dict(text="unique77777"),
    "search + mode + model filters": dict(text="dragon", mode="img2img", model="dreamshaperXL"),
    "starred only": dict(starred=True),
    "size filter, oldest first": dict(width=832, height=1216, newest_first=False),
    "page 100 (newest)": dict(page=100),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="history-bench-"))
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    store = HistoryStore(open_database(url), tmp / "outputs")
    t0 = time.perf_counter()
    fill(store, args.rows)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"{store.engine.dialect.name}: {args.rows:,} rows inserted in "
          f"{time.perf_counter() - t0:.1f} s; full-text search: {store.fts}")
    print(f"{'query':<36} {'ms (median)':>12} {'matches':>18}")
    for name, kw in CASES.items():
        owner = kw.pop("_owner", None)
        q = GalleryQuery(per_page=48, **kw)
        kw["_owner"] = owner
        page = store.search(q, owner=owner, is_admin=owner is None)
        ms = timed(lambda: store.search(q, owner=owner, is_admin=owner is None), args.repeat)
        print(f"{name:<36} {ms:>12.1f} {page.total_text():>18}")
    store.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
