"""Area 7, export of the 1,000-part session: Markdown, JSON and EPUB, first into an empty folder
and again over an earlier export (exporting again updates in place)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import OUT_DIR, AreaResult, Figure, Skip, median
from bench.context import Context

TITLE = "Export of the 1,000-part session"


def run(ctx: Context, area: AreaResult) -> None:
    try:
        from storyterm.core.export import export_session
    except ImportError as exc:
        raise Skip("storyterm.core.export is not on this branch yet") from exc
    from storyterm.core.service import SessionService
    from storyterm.core.storage.store import Store

    runs = ctx.repeat(full=5, quick=2)
    dataset = ctx.sqlite_dataset("export")
    store = Store.open(dataset.url, None)
    # Beside the benchmark's other files, on the disk a project's generated_stories/ lives on,
    # not in /tmp: creating a file in a fresh /tmp folder was 2-4x slower on this machine.
    (OUT_DIR / "work").mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="export-scratch-", dir=OUT_DIR / "work"))
    try:
        service = SessionService(store)
        user, sid = dataset.user_id, dataset.big_session_id
        cases = [("md",), ("json",), ("epub",), ("md", "json", "epub")]
        for formats in cases:
            fresh: list[float] = []
            again: list[float] = []
            size = 0
            files = 0
            for i in range(runs):
                out = scratch / f"{'-'.join(formats)}-{i}"
                # Export ends with one syncfs, which flushes whatever else is dirty on the
                # filesystem: here the benchmark's own dataset copies and the previous run's
                # rmtree. Flush those first (untimed), so the figure is the export's own work.
                os.sync()
                t0 = time.perf_counter()
                result = export_session(service, user, sid, out_dir=out, formats=formats)
                fresh.append(time.perf_counter() - t0)
                os.sync()
                t0 = time.perf_counter()
                export_session(service, user, sid, out_dir=out, formats=formats)
                again.append(time.perf_counter() - t0)
                files = len(result.files)
                size = sum(p.stat().st_size for p in result.files if p.exists())
                shutil.rmtree(out, ignore_errors=True)
            name = " + ".join(formats)
            how = f"median of {runs} runs"
            # Issue 5: a 1,000-part story exports "in well under a second"; we hold the whole
            # export (every format) to 600 ms.
            target = {"op": "<=", "target": 600.0} if len(formats) > 1 else {}
            area.add(
                Figure(
                    f"export {name} into an empty folder",
                    median(fresh) * 1000,
                    "ms",
                    how=how,
                    note=f"{files:,} files, {size / 1024 / 1024:.1f} MiB",
                    **target,
                )
            )
            area.add(
                Figure(
                    f"export {name} again (in place)", median(again) * 1000, "ms", how=how, **target
                )
            )
    finally:
        store.close()
        shutil.rmtree(scratch, ignore_errors=True)
    area.note(
        f"The session: {dataset.big_parts:,} parts, {dataset.big_words:,} words, read from "
        "SQLite through the service (as `storyterm export` and the TUI's export key do). Issue 5 "
        "asks for well under a second; the whole export is held to 600 ms. Each timed export "
        "starts after an untimed os.sync(): export's closing syncfs would otherwise also flush "
        "the benchmark's own dataset copies and the previous run's deleted folder."
    )
