"""Turning area results into bench/RESULTS.md (and the JSON it is rendered from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, AreaResult, fmt

#: Hand-written: what was found and fixed, appended to RESULTS.md on every render.
FINDINGS = BENCH_DIR / "FINDINGS.md"


def load_results(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    return {"machine": {}, "areas": {}}


def merge(
    previous: dict[str, Any], machine: dict[str, str], areas: list[AreaResult]
) -> dict[str, Any]:
    """The stored results with the areas of this run replacing their older figures."""
    merged = {"machine": machine, "areas": dict(previous.get("areas", {}))}
    for area in areas:
        merged["areas"][area.key] = area.to_json()
    return merged


def render(results: dict[str, Any], order: list[tuple[str, str]]) -> str:
    machine = results.get("machine", {})
    areas = {k: AreaResult.from_json(dict(v)) for k, v in results.get("areas", {}).items()}
    lines = [
        "# storyterm benchmark results",
        "",
        "Written by `python -m bench` (all areas; `--only AREA` reruns one and keeps the others' "
        "figures, `--quick` is a smoke run that writes to bench/out/ instead). Percentiles are "
        "nearest-rank over the stated number of calls; medians are over the stated number of "
        "runs. Each area says when and by which command its figures were measured.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", "## Summary", "", "| area | figures | pass | miss | measured |"]
    lines += ["| --- | ---: | ---: | ---: | --- |"]
    for n, (key, title) in enumerate(order, 1):
        area = areas.get(key)
        if area is None:
            lines.append(f"| {n}. {title} | — | — | — | not measured yet |")
            continue
        if area.skipped:
            lines.append(f"| {n}. {title} | — | — | — | skipped: {area.skipped} |")
            continue
        verdicts = [f.verdict for f in area.figures]
        lines.append(
            f"| {n}. {title} | {len(verdicts)} | {verdicts.count('pass')} | "
            f"{verdicts.count('MISS')} | {area.date} |"
        )
    for n, (key, title) in enumerate(order, 1):
        lines += ["", f"## {n}. {title}", ""]
        area = areas.get(key)
        if area is None:
            lines.append("Not measured yet.")
            continue
        stamp = f"_{area.date}, `{area.command}`, {area.seconds:.0f} s, load {area.load}"
        stamp += " (quick run: few samples)_" if area.quick else "_"
        lines += [stamp, ""]
        if area.skipped:
            lines.append(f"Skipped: {area.skipped}")
        if area.figures:
            lines += [
                "| what | p50 | p99 or value | max | target | |",
                "| --- | ---: | ---: | ---: | ---: | --- |",
            ]
            for f in area.figures:
                p50 = fmt(f.p50, f.unit) if f.p50 is not None else ""
                measured = fmt(f.value, f.unit)
                worst = fmt(f.worst, f.unit) if f.worst is not None else ""
                how = f" ({f.how})" if f.how and f.p50 is None else ""
                mark = {"pass": "pass", "MISS": "**MISS**", "info": ""}[f.verdict]
                note = f" — {f.note}" if f.note else ""
                cells = [f"{f.name}{note}", p50, measured + how, worst, f.target_text(), mark]
                lines.append("| " + " | ".join(cells) + " |")
        if area.notes:
            lines.append("")
            lines += [f"- {note}" for note in area.notes]
    if FINDINGS.exists():
        lines += ["", FINDINGS.read_text().rstrip()]
    return "\n".join(lines) + "\n"
