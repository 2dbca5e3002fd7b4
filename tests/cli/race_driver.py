"""One side of a command-line race (tests/cli/test_cli_race.py): a process that runs one
storyterm command each time its parent says "go", and reports how it ended.

The command runs through click in this process (its own database connections, its own
storyteller and its own Ollama client), as `storyterm ...` would; only the interpreter start-up
is shared between rounds. A fresh `python -m storyterm` per round costs seconds here (the
LangChain import alone is about one), which would make 20 rounds on two databases take minutes.

Protocol, one line each: the process prints "ready" once imported; then for each "go" read on
stdin it runs the command and prints a JSON object {"code", "stdout", "stderr"}; it ends at EOF.

Usage: python -m tests.cli.race_driver -- ARGS...
"""

from __future__ import annotations

import json
import sys


def main(args: list[str]) -> None:
    import langchain_ollama  # noqa: F401  (imported now, not in the first round)
    from click.testing import CliRunner

    from storyterm.cli import cli

    runner = CliRunner()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        result = runner.invoke(cli, args)
        report = {"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            report["crash"] = repr(result.exception)  # a bug, not a refusal: the test says so
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    argv = sys.argv[1:]
    main(argv[1:] if argv[:1] == ["--"] else argv)
