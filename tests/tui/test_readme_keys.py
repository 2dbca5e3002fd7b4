"""The README's key table names keys the app has, and says what `d` and `x` do as the app does
them (tests/tui/test_history.py and test_flows.py press them)."""

from __future__ import annotations

import re
from pathlib import Path

from storyterm.tui.main.keys import help_sections
from storyterm.tui.screens.trash import TrashScreen
from storyterm.tui.widgets.story_view import StoryView

README = Path(__file__).resolve().parents[2] / "README.md"


def _key_table() -> list[list[str]]:
    """The rows of the README's key table (the table under "| key |"), as cells."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| key |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _app_keys() -> set[str]:
    """Every key the help screen lists (and the trash view's own), one key per entry."""
    labels = [key for _title, rows in help_sections(StoryView.BINDINGS) for key, _ in rows]
    labels += [b.key_display or b.key for b in TrashScreen.BINDINGS]  # type: ignore[union-attr]
    keys: set[str] = set()
    for label in labels:
        for key in re.split(r" / | ", label):
            first, _, last = key.partition("-")
            if first.isdigit() and last.isdigit():
                keys |= {str(n) for n in range(int(first), int(last) + 1)}
            else:
                keys.add(key)
    return keys


def test_every_key_in_the_readme_table_is_a_key_of_the_app() -> None:
    rows = _key_table()
    assert rows, "the README has no key table"
    named = {key for row in rows for cell in row[0::2] for key in re.findall(r"`([^`]+)`", cell)}
    named |= {key for row in rows for key in re.findall(r"`(\S+)`", row[1]) if len(key) == 1}
    # One letter is case-sensitive (c and C differ); a named key is not (F5 is f5).
    app_keys = {k if len(k) == 1 else k.lower() for k in _app_keys()}
    missing = sorted(k for k in named if (k if len(k) == 1 else k.lower()) not in app_keys)
    assert not missing, f"the README's key table names keys the app does not have: {missing}"


def test_the_readme_says_what_d_and_x_do() -> None:
    """They move to the trash after asking, and `u` right after brings it back: not "asks
    first" alone, which read as if a yes were final."""
    [row] = [row for row in _key_table() if row[0] == "`d` / `x`"]
    assert row[1] == "story / selected part to the trash (asks; `u` right after brings it back)"
