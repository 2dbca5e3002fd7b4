"""Writing with the model from the TUI, against the loopback Ollama-protocol server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.context import ContextScreen
from storyterm.tui.screens.model import ModelScreen
from storyterm.tui.widgets.direction import DirectionBar, DirectionInput
from storyterm.tui.widgets.part_view import PartHeader, PartView
from storyterm.tui.widgets.status_bar import StatusBar
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import (
    make_app,
    ready,
    screen_text,
    seed_session,
    sessions_t,
    wait_until,
    writer_id,
)

SIZE = (120, 36)

HOSTILE = (
    "Mara read it aloud: \x1b[31mRED ALERT\x1b[0m and then \x1b]0;pwned-title\x07 the lamp. "
    "[bold]not bold[/bold] [link=https://evil.example]click[/link] \x1b[2J\x1b[H\x9b31m done."
)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest", "mistral-small3.1:latest"], tokens=60) as server:
        yield server


def main(app) -> MainScreen:  # type: ignore[no-untyped-def]
    assert isinstance(app.screen, MainScreen)
    return app.screen


def notifications(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


async def test_enter_streams_the_next_part_and_saves_it(writing: Runtime) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "The Keeper's Letter", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        assert screen.query_one(StatusBar).ollama == "up"
        assert isinstance(app.focused, DirectionInput)
        await pilot.press(*"Mara reads the letter", "enter")
        await wait_until(pilot, lambda: screen.session.part_count == 2 and not screen.generating)
        stored = writing.sessions.open(alice, sid).parts
        assert [p.seq for p in stored] == [1, 2]
        part = stored[-1]
        assert str(part.state) == "done" and part.direction == "Mara reads the letter"
        assert part.word_count > 20
        view = screen.query_one("#part-2", PartView)
        assert view.part.content == part.content and not view.streaming
        assert screen.query_one(DirectionBar).input.text == ""  # used: it is in the part now
        assert screen.session.part_count == 2
        row = screen.panel.session_list.get_option(sid)
        assert "2p" in str(row.prompt)
        await pilot.pause()
        text, _raw = screen_text(app)
        assert "Part 2" in text and "Mara reads the letter" in text
        # The row as drawn, not only its data (it is redrawn alone, from a cache of drawn rows).
        assert "2p ·" in text and "1p ·" not in text


async def test_esc_stops_mid_stream_and_keeps_the_text(writing: Runtime, fake: FakeOllama) -> None:
    fake.tokens, fake.rate = 2000, 40.0
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads")
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press(*"The storm", "enter")
        await wait_until(pilot, lambda: screen.generating)
        view = screen.query_one("#part-1", PartView)
        await wait_until(pilot, lambda: view._streamed_chars > 40)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating)
        part = writing.sessions.open(alice, sid).parts[-1]
        assert str(part.state) == "interrupted" and part.word_count > 3
        assert "interrupted" in view.query_one(PartHeader).meta.plain
        assert any("Stopped." in m for m in notifications(app))
        assert isinstance(app.focused, DirectionInput)  # Esc stopped; it did not leave


async def test_f_after_esc_goes_on_streaming_into_the_same_part(
    writing: Runtime, fake: FakeOllama
) -> None:
    fake.tokens, fake.rate = 2000, 40.0
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads")
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press(*"The storm", "enter")
        await wait_until(pilot, lambda: screen.generating)
        view = screen.query_one("#part-1", PartView)
        await wait_until(pilot, lambda: view._streamed_chars > 40)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating)
        stopped = writing.sessions.get_part(alice, sid, 1).content
        assert any("F goes on from there" in m for m in notifications(app))

        fake.tokens, fake.rate = 80, 40.0
        await pilot.press("escape", "F")
        await wait_until(pilot, lambda: screen.generating)
        view = screen.query_one("#part-1", PartView)
        # The old text stays on screen and the new words stream on after it.
        await wait_until(pilot, lambda: view._streamed_chars > 20)
        assert view.streaming and view.shown_text.startswith(stopped.split("\n")[0])
        await wait_until(pilot, lambda: not screen.generating, timeout=20)
        part = writing.sessions.get_part(alice, sid, 1)
        assert (part.take, part.takes, str(part.take_kind)) == (2, 2, "continued")
        assert str(part.state) == "done" and part.content.startswith(stopped)
        assert len(part.content) > len(stopped) + 20
        assert view.part.content == part.content and not view.streaming
        assert "take 2/2" in view.query_one(PartHeader).title.plain
        assert writing.sessions.get(alice, sid).part_count == 1


async def test_enter_while_a_part_is_written_keeps_the_new_direction(
    writing: Runtime, fake: FakeOllama
) -> None:
    fake.tokens, fake.rate = 2000, 40.0
    alice = writer_id(writing)
    seed_session(writing, alice, "Salt Roads")
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press(*"The storm", "enter")
        view = screen.query_one(DirectionBar)
        await wait_until(pilot, lambda: screen.generating and view.input.text == "")
        await pilot.press(*"Then calm", "enter")
        await wait_until(pilot, lambda: any("stays in the input" in m for m in notifications(app)))
        assert view.input.text == "Then calm" and screen.session.part_count == 0
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating)
        assert writing.sessions.get(alice, screen.session.id).part_count == 1


async def test_a_part_asked_for_away_from_the_newest_parts_waits_for_them(
    writing: Runtime,
) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads", parts=2)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        story = screen.query_one(StoryView)
        story.has_more_after = True  # as if the writer had paged far back
        await pilot.press(*"Go on", "enter")
        await wait_until(pilot, lambda: screen.session.part_count == 3 and not screen.generating)
        assert [v.seq for v in story.part_views] == [1, 2, 3] and not story.has_more_after
        assert writing.sessions.open(alice, sid).parts[-1].direction == "Go on"


async def test_ollama_down_is_a_notification_and_the_direction_stays(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=1)
    app = make_app(runtime)  # OLLAMA_HOST points at a closed port
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press(*"They reach the harbour", "enter")
        await wait_until(
            pilot, lambda: any("Ollama is not running" in m for m in notifications(app))
        )
        await wait_until(pilot, lambda: not screen.generating)
        assert screen.query_one(DirectionBar).input.text == "They reach the harbour"
        assert runtime.sessions.get(alice, sid).part_count == 1
        assert screen.query_one(StoryView).part_view(2) is None
        assert screen.query_one(StatusBar).ollama == "down"


async def test_a_missing_model_says_how_to_get_it(writing: Runtime) -> None:
    alice = writer_id(writing)
    seed_session(writing, alice, "Salt Roads", model="llama9:latest")
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press(*"Go", "enter")
        await wait_until(pilot, lambda: any("ollama pull" in m for m in notifications(app)))
        assert main(app).query_one(DirectionBar).input.text == "Go"
        # The core's message names no key; the main screen adds its own.
        [missing] = [m for m in notifications(app) if "ollama pull" in m]
        assert missing.endswith("Press m to choose the story's model.")


async def test_hostile_model_output_is_shown_as_literal_text(
    writing: Runtime, fake: FakeOllama
) -> None:
    fake.reply = HOSTILE
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "placeholder")
    # The core refuses control characters in titles; one that got in some other way (an old
    # import, a hand-edited database) must still be harmless.
    with writing.store.engine.begin() as conn:
        conn.execute(
            sessions_t.update()
            .where(sessions_t.c.id == sid)
            .values(title="[red]Hostile[/red] \x1b]0;title\x07")
        )
    app = make_app(writing)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press(*"Read it", "enter")
        await wait_until(pilot, lambda: screen.session.part_count == 1 and not screen.generating)
        stored = writing.sessions.open(alice, sid).parts[-1].content
        assert "\x1b[31m" in stored  # the text is kept as the model wrote it...
        text, raw = screen_text(app)
        # ...and shown as text: markup stays literal, escapes become visible symbols.
        assert "[bold]not bold[/bold]" in text
        assert "␛[31mRED ALERT␛[0m" in text
        assert "␛]0;pwned-title␇" in text
        assert "[red]Hostile[/red]" in text
        # Nothing the model wrote reaches the terminal as a control sequence.
        for sequence in ("\x1b]0;", "\x07", "\x1b[2J", "\x1b[31mRED", "\x9b"):
            assert sequence not in raw, repr(sequence)


async def test_regenerate_writes_the_last_part_again(writing: Runtime, fake: FakeOllama) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads", parts=2)
    fake.reply = "A different ending, written again."
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "ctrl+r")
        await wait_until(
            pilot,
            lambda: (
                not screen.generating
                and screen.query_one("#part-2", PartView).part.content.startswith("A different")
            ),
        )
        parts = writing.sessions.open(alice, sid).parts
        assert [p.seq for p in parts] == [1, 2]
        assert parts[-1].content == "A different ending, written again."
        assert parts[-1].direction == "Direction for part 2"
        assert screen.query_one("#part-2", PartView).part.content == parts[-1].content


async def test_the_context_viewer_shows_what_the_model_was_sent(writing: Runtime) -> None:
    alice = writer_id(writing)
    seed_session(writing, alice, "Salt Roads", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "v")
        await wait_until(pilot, lambda: isinstance(app.screen, ContextScreen))
        assert "Nothing has been sent" in str(app.screen.query_one("#note").visual)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("w", *"The tide turns", "enter")
        await wait_until(pilot, lambda: screen.session.part_count == 2 and not screen.generating)
        await pilot.press("escape", "v")
        await wait_until(pilot, lambda: isinstance(app.screen, ContextScreen))
        shown = " ".join(str(s.visual) for s in app.screen.query(".message"))
        assert "The tide turns" in shown
        roles = [str(s.visual) for s in app.screen.query(".role")]
        assert roles[0].startswith("System")


async def test_m_switches_the_story_to_another_installed_model(writing: Runtime) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads")
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("escape", "m")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelScreen))
        picker = app.screen
        options = picker.query_one("OptionList")
        await wait_until(pilot, lambda: options.option_count == 2)
        assert options.highlighted_option.id == "gemma3:latest"
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_until(
            pilot, lambda: writing.sessions.get(alice, sid).model_name == "mistral-small3.1:latest"
        )
        await wait_until(pilot, lambda: main(app).session.model_name == "mistral-small3.1:latest")


async def test_a_part_written_in_another_window_meanwhile_is_shown_after(
    writing: Runtime, fake: FakeOllama
) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads", parts=1)
    fake.reply = "Mine."
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        # Another client adds part 2 while this window still shows one part.
        writing.sessions.append_part(alice, sid, direction="elsewhere", content="Theirs.")
        await pilot.press(*"Go on", "enter")
        story = screen.query_one(StoryView)
        await wait_until(
            pilot,
            lambda: not screen.generating and [v.seq for v in story.part_views] == [1, 2, 3],
        )
        assert story.loaded_part(2).content == "Theirs."
        assert story.loaded_part(3).content == "Mine."


async def test_the_view_follows_the_bottom_only_while_the_writer_is_there(
    writing: Runtime, fake: FakeOllama
) -> None:
    fake.tokens, fake.rate = 3000, 60.0
    alice = writer_id(writing)
    seed_session(writing, alice, "Salt Roads", parts=4, words_per_part=120)
    app = make_app(writing)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        screen = main(app)
        story = screen.query_one(StoryView)
        await pilot.press(*"On", "enter")
        await wait_until(pilot, lambda: screen.generating)
        view = screen.query_one("#part-5", PartView)
        await wait_until(pilot, lambda: view._streamed_chars > 300)
        assert story.scroll_y == story.max_scroll_y  # following the new text
        # The writer scrolls up to reread: the view stays where they put it.
        story.scroll_relative(y=-15, animate=False)
        await pilot.pause()
        held = story.scroll_y
        grown = view._streamed_chars
        await wait_until(pilot, lambda: view._streamed_chars > grown + 300)
        await pilot.pause()
        assert story.scroll_y == held < story.max_scroll_y
        # Back at the bottom, it follows again.
        story.scroll_end(animate=False, immediate=True)
        grown = view._streamed_chars
        await wait_until(pilot, lambda: view._streamed_chars > grown + 300)
        await pilot.pause(0.2)
        assert story.max_scroll_y - story.scroll_y <= 2
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating)


async def test_quitting_mid_stream_keeps_the_text(writing: Runtime, fake: FakeOllama) -> None:
    fake.tokens, fake.rate = 3000, 60.0
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads")
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press(*"Go", "enter")
        await wait_until(pilot, lambda: screen.generating)
        view = screen.query_one("#part-1", PartView)
        await wait_until(pilot, lambda: view._streamed_chars > 100)
        await pilot.press("ctrl+q")
    part = writing.sessions.open(alice, sid).parts[-1]
    assert str(part.state) == "interrupted" and part.word_count > 10


async def test_no_moment_of_a_segment_swap_shows_the_text_twice_or_loses_it(
    writing: Runtime, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each time a finished segment becomes a Prose (and when the part ends as one Prose), the
    part's text is checked at the moment the mount is awaited: the event loop, and so any
    reader, can run there. It once held the finished segment twice."""
    import storyterm.tui.widgets.part_view as part_view

    monkeypatch.setattr(part_view, "SEGMENT_CHARS", 300)
    reply = fake.reply = "\n\n".join(
        f"Paragraph {n}: " + "the tide came in " * 12 for n in range(8)
    )
    fake.rate = 300.0
    seen: list[str] = []
    original_mount = PartView.mount

    def mount(self: PartView, *widgets, **where):  # type: ignore[no-untyped-def]
        waiting = original_mount(self, *widgets, **where)

        async def checked() -> None:
            seen.append(self.shown_text)  # what a reader sees while the mount is awaited
            await waiting

        return checked()

    monkeypatch.setattr(PartView, "mount", mount)
    alice = writer_id(writing)
    seed_session(writing, alice, "Salt Roads")
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press(*"Go", "enter")
        await wait_until(pilot, lambda: screen.session.part_count == 1 and not screen.generating)
    swaps = [text for text in seen if text]
    assert len(swaps) >= 3, seen  # several segments, then the saved part
    for text in swaps:
        assert reply.startswith(text.rstrip()) or text.strip() == reply.strip(), text[:200]


async def test_a_long_part_streams_in_segments_and_ends_as_saved(
    writing: Runtime, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Markdown

    import storyterm.tui.widgets.part_view as part_view
    from storyterm.core.views import Part
    from storyterm.tui.widgets.prose import Prose

    monkeypatch.setattr(part_view, "SEGMENT_CHARS", 300)
    paragraphs = [f"Paragraph {n}: " + "the tide came in " * 12 for n in range(12)]
    paragraphs.insert(5, "```\ncode fence\n\nwith a blank line\n```")
    reply = fake.reply = "\n\n".join(paragraphs)
    fake.rate = 150.0
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads")
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press(*"Go", "enter")

        def finished_segments() -> list[Prose]:
            return list(screen.query_one("#part-1", PartView).query_children(Prose))

        # While it streams, the text goes into a Markdown widget segment by segment; each
        # finished segment becomes one Prose widget (not a widget per paragraph).
        await wait_until(pilot, lambda: len(finished_segments()) > 1)
        view = screen.query_one("#part-1", PartView)
        assert view.streaming and reply.startswith(view.shown_text)
        assert len(list(view.query_children(Markdown))) == 1
        await wait_until(pilot, lambda: screen.session.part_count == 1 and not screen.generating)
        # Saved: the whole text in one Prose widget, like a part opened from the database.
        stored = writing.sessions.open(alice, sid).parts[-1]
        await wait_until(pilot, lambda: not list(view.query_children(Markdown)))
        (prose,) = view.query_children(Prose)
        assert prose.source == stored.content == view.shown_text
        # An edit afterwards shows in the same widget, and the part takes its new height.
        height = view.outer_size.height
        edited = Part.model_validate(
            {**stored.model_dump(), "content": stored.content + "\n\nAn end."}
        )
        view.update_part(edited)
        await wait_until(pilot, lambda: view.outer_size.height == height + 2)
        assert view.query_one(Prose) is prose and prose.source.endswith("An end.")
