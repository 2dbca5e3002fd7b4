"""Every third-party package storyterm imports is declared in pyproject.toml: a package that
only arrives as another's dependency can vanish with that package's next release."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Import names whose distribution is spelled otherwise.
DISTRIBUTION = {
    "jwt": "pyjwt",
    "argon2": "argon2-cffi",
    "ebooklib": "ebooklib",
    "markdown_it": "markdown-it-py",
    "pydantic_core": "pydantic-core",
    "yaml": "pyyaml",
}


def imported_top_level_names() -> set[str]:
    names: set[str] = set()
    for folder in ("storyterm", "migrations"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"storyterm", "__future__"}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        re.split(r"[<>=!\[ ;]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]
    }


def test_every_imported_package_is_declared() -> None:
    wanted = {
        DISTRIBUTION.get(name, name.replace("_", "-")).lower()
        for name in imported_top_level_names()
    }
    assert wanted - declared() == set()
