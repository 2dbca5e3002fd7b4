"""Exporting from the TUI: `e` writes the export_formats setting into the export folder, ctrl+e
asks for the formats and the folder of one export, `y` copies the folder's path, and a folder
that cannot take the story says so and gets nothing."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Checkbox, Input

from storyterm.core.runtime import Runtime
from storyterm.tui.app import StorytermApp
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.export import ExportScreen
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (120, 36)


def notifications(app: StorytermApp) -> list[str]:
    return [n.message for n in app._notifications]


def story_folders(root: Path) -> list[Path]:
    return sorted(root.iterdir()) if root.exists() else []


async def test_e_writes_the_configured_formats_and_y_copies_the_folder(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=2, status="completed")
    runtime.settings.export_formats = ["txt", "epub"]
    root = Path(runtime.settings.export_dir)  # STORYTERM_EXPORT_DIR (tests/conftest.py)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("e")  # a completed story: the input is off, letters are commands
        await wait_until(pilot, lambda: any("Exported" in m for m in notifications(app)))
        [folder] = story_folders(root)
        assert sorted(p.name for p in folder.iterdir()) == ["story.epub", "story.txt"]
        note = next(m for m in notifications(app) if "Exported" in m)
        assert str(folder.resolve()) in note
        assert note.endswith("Press y to copy the folder's path.")
        await pilot.press("y")
        assert app.clipboard == str(folder.resolve())
        assert f"Copied {folder.resolve()} to the clipboard." in notifications(app)


async def test_y_before_any_export_says_how_to_export(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=1, status="completed")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("y")
        assert app.clipboard == ""
        assert any(m.startswith("Nothing has been exported yet") for m in notifications(app))


async def open_dialog(pilot, app: StorytermApp) -> ExportScreen:  # type: ignore[no-untyped-def]
    await ready(pilot)
    await pilot.press("ctrl+e")
    await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen))
    screen = app.screen
    assert isinstance(screen, ExportScreen)
    return screen


async def test_the_dialog_exports_exactly_the_chosen_formats_to_the_chosen_folder(
    runtime: Runtime, tmp_path: Path
) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=2, status="completed")
    chosen = tmp_path / "for the e-reader"
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dialog(pilot, app)
        # It opens on the export_formats setting (md, json and epub by default).
        ticked = {
            name
            for name in ("md", "txt", "json", "epub")
            if screen.query_one(f"#format-{name}", Checkbox).value
        }
        assert ticked == {"md", "json", "epub"}
        assert screen.query_one("#folder", Input).value == str(runtime.settings.export_dir)
        # md off (focused first), txt on, json stays, epub off.
        await pilot.press("space", "tab", "space", "tab", "tab", "space")
        assert screen.chosen_formats() == ("txt", "json")
        screen.query_one("#folder", Input).value = str(chosen)
        await pilot.click("#export")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_until(pilot, lambda: any("Exported" in m for m in notifications(app)))
        [folder] = story_folders(chosen)
        assert sorted(p.name for p in folder.iterdir()) == ["story.json", "story.txt"]
        assert str(folder.resolve()) in next(m for m in notifications(app) if "Exported" in m)
    # That export only: the export folder of the settings got nothing.
    assert story_folders(Path(runtime.settings.export_dir)) == []


async def test_a_bad_folder_in_the_dialog_says_so_and_exports_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=2, status="completed")
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dialog(pilot, app)
        folder = screen.query_one("#folder", Input)
        folder.value = str(blocker / "stories")
        folder.focus()
        await pilot.press("enter")
        error = screen.query_one("#error")
        await wait_until(pilot, lambda: error.has_class("-shown"))
        assert f"{blocker} is a file, not a folder" in str(error.visual)
        assert app.screen is screen and app.focused is folder  # the writer fixes it here
        # No format ticked is said too, before any folder is looked at.
        for box in screen.query(Checkbox):
            box.value = False
        await pilot.click("#export")
        await wait_until(pilot, lambda: "at least one format" in str(error.visual))
        await pilot.press("escape")  # Esc cancels: nothing is exported
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.app.workers.wait_for_complete()
        assert not any("Exported" in m for m in notifications(app))
    assert blocker.read_text() == "a file, not a folder"
    assert story_folders(Path(runtime.settings.export_dir)) == []


async def test_e_into_a_bad_export_folder_says_so_and_offers_the_dialog(
    runtime: Runtime, tmp_path: Path
) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=2, status="completed")
    blocker = tmp_path / "exports-file"
    blocker.write_text("in the way")
    runtime.settings.export_dir = blocker
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("e")
        await wait_until(pilot, lambda: any("not a folder" in m for m in notifications(app)))
        message = next(m for m in notifications(app) if "not a folder" in m)
        assert message.startswith(f"{blocker} is a file, not a folder")
        assert message.endswith("Press ctrl+e to export to another folder.")
        assert not any("Exported" in m for m in notifications(app))
    assert blocker.read_text() == "in the way"
