"""Start-up stays light: importing storyterm, its core and its command line loads no LangChain
and no ollama client; they load when a generation or a model listing is asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
import storyterm, storyterm.cli, storyterm.cli.story
import storyterm.errors, storyterm.core.generation.catalog, storyterm.core.runtime
import storyterm.core.service, storyterm.core.storage.store, storyterm.core.generation.storyteller
from storyterm.cli import cli
from storyterm.core.runtime import Runtime
from storyterm.core.generation.events import Failed, Finished, Saved, TextDelta

runtime = Runtime()
runtime.models, runtime.storyteller  # built, but nothing asked of Ollama yet
try:
    cli.main(["--help"], standalone_mode=False)
finally:
    runtime.close()
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ("langchain", "langchain_core", "langchain_ollama", "ollama")
)
print(json.dumps(heavy))
import storyterm.core.memory.prompt  # what a generation loads: the probe does see LangChain
print("langchain_core" in sys.modules)
"""


def test_start_up_imports_no_langchain_and_no_ollama() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    *_help, before, after = result.stdout.strip().splitlines()
    heavy = json.loads(before)
    assert heavy == [], f"loaded at start-up: {heavy[:10]}"
    assert after == "True"
