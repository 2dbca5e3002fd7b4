"""`storyterm new|continue|models`: start a story, write its next part, see Ollama's models.

Story text goes to stdout as it arrives; notes, progress and the closing numbers go to stderr,
so `storyterm continue ID > part.md` captures only the story.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import click

from storyterm.cli.common import (
    current_user_id,
    get_runtime,
    handle_errors,
    print_json,
    say,
    styled,
)
from storyterm.cli.sessions import resolve_session_id
from storyterm.cli.streaming import EXIT_STOPPED, SignalsStop, StoryOut
from storyterm.core.basics import BibleField, finish_refusal, status_message
from storyterm.core.runtime import Runtime
from storyterm.core.text import terminal_line
from storyterm.errors import InvalidTransition, ModelMissing, NotFound


def _note(message: str) -> None:
    say(styled(message, dim=True), err=True)


#: What each story-bible option of `new` is for (the fields are core/basics.BibleField).
_BIBLE_HELP = {
    BibleField.GENRE: "The genre, e.g. mystery.",
    BibleField.TONE: "The tone, e.g. dark and quiet.",
    BibleField.PREMISE: "What the story is about, in a sentence or two.",
    BibleField.CHARACTERS: "Who is in it, e.g. 'Mara, a lighthouse keeper'.",
    BibleField.STYLE_NOTES: "How it should read, e.g. 'short chapters'.",
}


def bible_options(command: Callable[..., None]) -> Callable[..., None]:
    """An option per story-bible field, in the bible's order: --genre ... --style-notes."""
    for field in reversed(BibleField):
        option = click.option(
            f"--{field.value.replace('_', '-')}", field.value, help=_BIBLE_HELP[field]
        )
        command = option(command)
    return command


@click.command("new")
@click.argument("title")
@bible_options
@click.option("--model", default=None, help="An installed Ollama model (default: the preferred).")
@click.option("--json", "as_json", is_flag=True, help="Print the new session as JSON.")
@handle_errors
def new_cmd(title: str, model: str | None, as_json: bool, **fields: str | None) -> None:
    """Start a new story session and print its id."""
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    bible = {field.value: fields[field.value] for field in BibleField}
    # Check the title and the bible before asking Ollama anything.
    from storyterm.core.generation.catalog import normalise_model_name
    from storyterm.core.service import clean_metadata, clean_title

    clean_title(title)
    clean_metadata(bible)
    choice = asyncio.run(runtime.models.resolve_offline(model))
    session = runtime.sessions.start(user_id, title, bible, choice.name)
    if choice.note:
        _note(choice.note)
        if model and choice.name != normalise_model_name(model):
            # The core's note names no command; the way to switch a story is the CLI's.
            _note(f"`storyterm continue {session.id[:8]} --model {shlex.quote(model)}` does that.")
    if as_json:
        print_json(session.model_dump(mode="json"))
        return
    say(session.id)
    if sys.stderr.isatty():
        _note(f'Write its first part: storyterm continue {session.id[:8]} --direction "..."')


@click.command("continue")
@click.argument("session_id")
@click.option(
    "--direction",
    "-d",
    default="",
    help="What should happen in this part (leave out to let the story go on).",
)
@click.option(
    "--regenerate",
    is_flag=True,
    help="Write the last part again, as a new take (with its direction, or with --direction); "
    "the old take is kept (see `storyterm versions`).",
)
@click.option(
    "--finish",
    is_flag=True,
    help="Finish the last part, which was interrupted: the model goes on from where its text "
    "stops, as a new take of it; the interrupted take is kept (see `storyterm versions`).",
)
@click.option(
    "--part",
    type=click.IntRange(1, 2**31 - 1),
    default=None,
    help="With --regenerate or --finish: the part to write again or to finish (default: the "
    "last one).",
)
@click.option("--model", default=None, help="Switch the story to this installed model first.")
@handle_errors
def continue_cmd(
    session_id: str,
    direction: str,
    regenerate: bool,
    finish: bool,
    part: int | None,
    model: str | None,
) -> None:
    """Write the next part of a story, streaming it as it arrives.

    Ctrl-C stops the model and keeps what it wrote (marked interrupted); so do `kill` (SIGTERM)
    and closing the terminal (SIGHUP). `--finish` then goes on from where it stopped.
    """
    if finish and regenerate:
        raise click.UsageError(
            "--finish goes on from where an interrupted part stops, --regenerate writes a part "
            "anew; use one of them."
        )
    if finish and direction.strip():
        raise click.UsageError(
            "--finish goes on with the part's own direction; leave out --direction (or use "
            "--regenerate to write the part anew with it)."
        )
    if part is not None and not (regenerate or finish):
        raise click.UsageError(
            "--part picks a part to write again or to finish; use it with --regenerate or --finish."
        )
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    if model:
        runtime.sessions.set_model(user_id, session_id, asyncio.run(_installed(runtime, model)))
    mode = "finish" if finish else "regenerate" if regenerate else "next"
    code = asyncio.run(_write_part(runtime, user_id, session_id, direction, mode, part))
    if code:
        sys.exit(code)


async def _installed(runtime: Runtime, name: str) -> str:
    models = await runtime.models.list_models()
    try:
        return runtime.models.ensure_installed(name, models)
    except ModelMissing as exc:
        names = ", ".join(m.name for m in models) or "none"
        raise ModelMissing(
            f"{name} is not installed in Ollama (installed: {names}). Run `ollama pull {name}`, "
            "or pick one of those.",
            model=name,
            fallback=exc.fallback,
        ) from None


async def _write_part(
    runtime: Runtime,
    user_id: int,
    session_id: str,
    direction: str,
    mode: str,
    part: int | None = None,
) -> int:
    """Write the next part (mode "next"), a part again ("regenerate") or the rest of an
    interrupted part ("finish"), streaming it; returns the exit status."""
    session = runtime.sessions.get(user_id, session_id)
    if not session.is_writable:
        # Say why before announcing a part that cannot be written.
        raise InvalidTransition(status_message(session.title, session.status.value))
    if part is not None and part > session.part_count:
        raise NotFound(f"“{session.title}” has no part {part} (it has {session.part_count}).")
    seq = session.part_count + 1 if mode == "next" else part or session.part_count
    verb = {"next": "Writing", "regenerate": "Rewriting", "finish": "Finishing"}[mode]
    model = session.model_name or "the preferred model"
    announce = f"{verb} part {seq} of “{session.title}” with {model}"
    if mode == "finish" and seq:
        announce += _finish_start(runtime, user_id, session_id, seq)
    out = StoryOut()
    out.note(f"{announce} (Ctrl-C stops and keeps the text)…")
    cancel = asyncio.Event()
    events = runtime.storyteller.generate(
        user_id,
        session_id,
        direction,
        regenerate=mode == "regenerate",
        finish=mode == "finish",
        part=part,
        cancel=cancel,
    )
    with SignalsStop(cancel) as stop:
        try:
            async with contextlib.aclosing(events):
                return stop.exit_status(await _print_events(events, out, session_id))
        except asyncio.CancelledError:
            # A second signal: stop waiting. The storyteller has saved what it had as its
            # iterator closed (what was checkpointed at the least).
            out.end()
            out.note("Stopped without waiting for the final save.", dim=False)
            return stop.exit_status(EXIT_STOPPED)


def _finish_start(runtime: Runtime, user_id: int, session_id: str, seq: int) -> str:
    """Where finishing part `seq` picks up, for its announcement (the end of its text, shown
    safely), after saying why it cannot be finished when it cannot."""
    current = runtime.sessions.get_part(user_id, session_id, seq)
    refused = finish_refusal(seq, current.state.value)
    if refused is not None:
        raise InvalidTransition(refused)
    end = terminal_line(current.content)[-60:].lstrip()
    return f", from where it stops (“…{end}”)" if end else ""


async def _print_events(events: AsyncIterator[Any], out: StoryOut, session_id: str) -> int:
    """Print the events of one generation; returns the exit status."""
    from storyterm.core.generation.events import Failed, Finished, Progress, TextDelta

    async for event in events:
        if isinstance(event, TextDelta):
            out.write(event.text)
        elif isinstance(event, Progress):
            out.note(event.message)
        elif isinstance(event, Finished):
            out.end()
            return _report_finished(event, out)
        elif isinstance(event, Failed):
            out.end()
            out.note(f"storyterm: {event.error.message}", dim=False)
            if event.kept_in is not None:
                out.note(
                    f"`storyterm recover {shlex.quote(str(event.kept_in))}` puts them back into "
                    "the story."
                )
            if isinstance(event.error, ModelMissing) and event.error.fallback:
                # The core's message names no front end's way to switch: the CLI's.
                out.note(
                    f"`storyterm continue {session_id} --model {event.error.fallback}` "
                    "switches the story to it."
                )
            return EXIT_STOPPED if event.error.code == "stopped" else 1
    return 1


def _report_finished(event: Any, out: StoryOut) -> int:
    part = event.part
    numbers = []
    if event.completion_tokens is not None:
        numbers.append(f"{event.completion_tokens:,} tokens")
    if event.tokens_per_second:
        numbers.append(f"{event.tokens_per_second:.1f} tokens/s")
    numbers.append(f"{part.word_count:,} words")
    stats = " · ".join(numbers)
    if event.interrupted:
        out.note(
            f"Stopped. Part {part.seq} keeps the {part.word_count:,} words written so far "
            f"(marked interrupted) · {stats}",
            dim=False,
        )
        which = f" --part {part.seq}" if part.seq != event.session.part_count else ""
        out.note(
            f"`storyterm continue {part.session_id} --finish{which}` goes on from where it stopped."
        )
        return EXIT_STOPPED
    tail = " (cut at the reply length)" if event.done_reason == "length" else ""
    out.note(f"Part {part.seq} saved · {stats}{tail}", dim=False)
    if event.done_reason == "length":
        which = f" --part {part.seq}" if part.seq != event.session.part_count else ""
        out.note(
            f"`storyterm continue {part.session_id} --finish{which}` goes on from where it was "
            "cut; `storyterm options ID --num-predict N` gives parts more room."
        )
    if event.message:
        out.note(f"storyterm: {event.message}", dim=False)
    return 0


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@handle_errors
def models_cmd(as_json: bool) -> None:
    """List the models Ollama has, and the one new stories would use."""
    runtime = get_runtime()
    models, chosen = asyncio.run(_list_models(runtime))
    if as_json:
        print_json(
            {
                "host": runtime.settings.ollama_host,
                "chosen": chosen,
                "models": [
                    {
                        "name": m.name,
                        "size": m.size,
                        "family": m.family,
                        "parameter_size": m.parameter_size,
                        "quantization": m.quantization,
                        "context_length": m.context_length,
                    }
                    for m in models
                ],
            }
        )
        return
    width = max(len(m.name) for m in models)
    for m in models:
        mark = "●" if m.name == chosen else " "
        facts = [f for f in (m.size_text, m.family, m.parameter_size, m.quantization) if f]
        if m.context_length:
            facts.append(f"context {m.context_length:,}")
        line = f"{mark} {terminal_line(m.name).ljust(width)}  {terminal_line(' · '.join(facts))}"
        say(line, styled("  ← new stories use this", bold=True) if m.name == chosen else "")
    say(
        f"Ollama at {runtime.settings.ollama_host}; preferred: "
        f"{', '.join(runtime.settings.model_preferences) or '(none)'}.",
        err=True,
    )


async def _list_models(runtime: Runtime) -> tuple[list[Any], str]:
    from dataclasses import replace

    from storyterm.core.generation.catalog import pick_model
    from storyterm.errors import StorytermError

    catalog = runtime.models
    models = await catalog.list_models()
    chosen = pick_model(models, None, runtime.settings.model_preferences).name

    async def with_context(model: Any) -> Any:
        try:
            return replace(model, context_length=await catalog.context_length(model.name))
        except StorytermError:  # a model that cannot be shown is still listed
            return model

    return list(await asyncio.gather(*(with_context(m) for m in models))), chosen


COMMANDS = [new_cmd, continue_cmd, models_cmd]
