"""Area 1, start-up: from the moment before the process is started to the main screen ready
(session list filled and the newest session's story on screen), on a real pseudo-terminal,
against the floor any Textual app pays on this machine (a bare app showing one line) measured
in the same run, launches interleaved so that drift in the machine's load hits all alike."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, AreaResult, Figure, Skip, log, median
from bench.context import Context
from bench.pty_run import launch

TITLE = "Start-up to the main screen"
TARGET_RATIO = 2.0


def _floor(report: Path) -> float:
    return _floor_launch(report)[0]


def _floor_launch(report: Path) -> tuple[float, dict[str, Any]]:
    result = launch(
        [sys.executable, str(ROOT / "bench" / "_floor_app.py"), str(report)],
        report,
        env=_base_env(),
        cwd=ROOT,
        ready=lambda r: float(r["ready"]),
    )
    return result.ready_s, result.report


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k in keep}


def storyterm_env(home: Path, database_url: str, token: str | None) -> dict[str, str]:
    """A storyterm run of its own: own config and data folders, the given database, no Redis
    and no Ollama (the app must start without either)."""
    env = _base_env()
    env.update(
        {
            "STORYTERM_DATA_DIR": str(home / "data"),
            "STORYTERM_CONFIG_DIR": str(home / "config"),
            # The login hint beside the keyring's token lives here (not in the real home).
            "STORYTERM_STATE_DIR": str(home / "state"),
            "STORYTERM_EXPORT_DIR": str(home / "exports"),
            "STORYTERM_DATABASE_URL": database_url,
            "STORYTERM_REDIS_URL": "",
            "OLLAMA_HOST": "http://127.0.0.1:9",
        }
    )
    if token:
        env["STORYTERM_TOKEN"] = token
    return env


def login_token(database_url: str, username: str, password: str) -> str | None:
    """A token for the benchmark writer (None until identity exists on this branch)."""
    try:
        from storyterm.core.identity.accounts import IdentityService
    except ImportError:
        return None
    from storyterm.core.storage.store import Store
    from storyterm.settings import load_settings

    store = Store.open(database_url, None)
    try:
        settings = load_settings(database_url=database_url, redis_url="")
        _account, token = IdentityService(store, settings).login(username, password)
        return str(token)
    finally:
        store.close()


#: A keyring backend that works without a desktop session: the benchmark's stand-in for the
#: Secret Service / KWallet / Keychain a writer has (it keeps the login in a file in the run's
#: own home; never a default of storyterm's).
KEYRING_BACKEND = "keyrings.alt.file.PlaintextKeyring"


def keyring_env(home: Path, database_url: str, username: str, password: str) -> dict[str, str]:
    """A run whose login is in a keyring, as a writer's default start-up finds it: the
    benchmark writer logs in once with `storyterm login`, which saves the token there."""
    try:
        import keyrings.alt.file  # noqa: F401
    except ImportError as exc:
        raise Skip("keyrings.alt is not installed (pip install -e '.[bench]')") from exc
    env = storyterm_env(home, database_url, None)
    env.update({"PYTHON_KEYRING_BACKEND": KEYRING_BACKEND, "XDG_DATA_HOME": str(home / "xdg")})
    subprocess.run(
        [sys.executable, "-m", "storyterm", "login", "--username", username, "--password-stdin"],
        input=password + "\n",
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return env


def _storyterm(report: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    result = launch(
        [sys.executable, "-m", "storyterm"],
        report,
        env={**env, "STORYTERM_STARTUP_REPORT": str(report)},
        cwd=ROOT,
        ready=_storyterm_ready,
    )
    return result.ready_s, result.report


def _storyterm_ready(report: dict[str, Any]) -> float | None:
    """The TUI's report names the perf_counter moment it was ready (see storyterm.tui)."""
    for key in ("ready_at", "ready", "ready_perf_counter"):
        if key in report:
            return float(report[key])
    return None


def _environments(ctx: Context, scratch: Path) -> dict[str, dict[str, str]]:
    """The storyterm launches measured, by name: an empty database and the full dataset with
    the login in STORYTERM_TOKEN, and the full dataset on the default path (no token in the
    environment, the login read from the keyring)."""
    empty = ctx.empty_dataset("startup-empty")
    full = ctx.sqlite_dataset("startup-full")
    envs: dict[str, dict[str, str]] = {}
    for name, dataset in (("empty database", empty), (f"{ctx.size.sessions:,} sessions", full)):
        token = login_token(dataset.url, dataset.username, dataset.password)
        envs[name] = storyterm_env(scratch / name.replace(" ", "-"), dataset.url, token)
    name = f"{ctx.size.sessions:,} sessions, login from the keyring"
    envs[name] = keyring_env(scratch / "keyring", full.url, full.username, full.password)
    return envs


def run(ctx: Context, area: AreaResult) -> None:
    # 15 launches each: on this shared 2-core box one launch of the floor takes 265-400 ms of
    # CPU, and the median of 9 still moved the ratio by +-0.15 from run to run.
    runs = ctx.repeat(full=15, quick=2)
    scratch = Path(tempfile.mkdtemp(prefix="storyterm-bench-startup-"))
    report = scratch / "ready.json"
    floor: list[float] = []
    envs = _environments(ctx, scratch)
    cases: dict[str, list[float]] = {name: [] for name in envs}

    # One unmeasured launch of each warms the OS file cache (every later one finds it warm,
    # as a writer's second start does).
    _floor(report)
    for env in envs.values():
        _storyterm(report, env)
    details: dict[str, dict[str, Any]] = {}
    cpu: dict[str, list[float]] = {"floor": [], **{name: [] for name in envs}}
    for i in range(runs):
        seconds, floor_report = _floor_launch(report)
        floor.append(seconds)
        if "cpu_seconds" in floor_report:
            cpu["floor"].append(floor_report["cpu_seconds"])
        for name, env in envs.items():
            seconds, details[name] = _storyterm(report, env)
            cases[name].append(seconds)
            if "cpu_seconds" in details[name]:
                cpu[name].append(details[name]["cpu_seconds"])
        log(
            f"  run {i + 1}/{runs}: floor {floor[-1] * 1000:.0f} ms"
            + "".join(f", {name} {cases[name][-1] * 1000:.0f} ms" for name in cases)
        )
    floor_ms = median(floor) * 1000
    how = f"median of {runs} launches"
    area.add(Figure("bare Textual app showing one line (the floor)", floor_ms, "ms", how=how))
    for name, samples in cases.items():
        ms = median(samples) * 1000
        area.add(Figure(f"storyterm main screen ready — {name}", ms, "ms", how=how))
        area.add(
            Figure(
                f"storyterm / floor — {name}",
                ms / floor_ms,
                "x",
                "<=",
                TARGET_RATIO,
                how="ratio of medians",
            )
        )
        if cpu[name] and cpu["floor"]:
            area.add(
                Figure(
                    f"CPU used until ready, storyterm / floor — {name}",
                    median(cpu[name]) / median(cpu["floor"]),
                    "x",
                    how=f"ratio of medians, {median(cpu[name]) * 1000:.0f} / "
                    f"{median(cpu['floor']) * 1000:.0f} ms of CPU",
                )
            )
        detail = details.get(name)
        if detail:
            area.note(f"TUI's own start-up report ({name}, last run): {detail}")
    area.note(
        "Each launch is a fresh interpreter on a 160x45 pseudo-terminal (the real Linux driver, "
        "escape sequences read and discarded), timed from just before the process is started "
        "to the moment the app reports ready (perf_counter is CLOCK_MONOTONIC, shared by the "
        "parent and the child). The floor is a Textual app with one Static, ready after its "
        "first refresh. storyterm runs with its own empty config, the cache off and no Ollama; "
        "its login comes from STORYTERM_TOKEN, or, in the keyring case (a writer's default "
        f"path), from a keyring ({KEYRING_BACKEND}, as no desktop keyring runs here). "
        "The CPU figures are each process's own CPU time (all its threads) at the moment it "
        "was ready: on a shared machine they move much less than the wall-clock times, and "
        "show how much work start-up does compared with the floor."
    )
