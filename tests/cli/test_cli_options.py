"""`storyterm options` as a writer types it: shows which values are the story's own and which
the defaults, sets and resets them, and refuses a bad value with the range on stderr, exit 1,
and nothing stored changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.core.memory.state import OPTIONS
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.devtools.fake_ollama import FakeModel, FakeOllama
from tests.helpers import login_as


@dataclass
class Desk:
    service: SessionService
    user: int
    story: str

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args))

    def stored(self) -> dict:
        return self.service.get(self.user, self.story).memory.get(OPTIONS, {})


@pytest.fixture
def desk(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("STORYTERM_TEMPERATURE", "0.6")  # a default from the settings
    user = login_as(monkeypatch, "writer").id
    store = Store.open(sqlite_url, None)
    service = SessionService(store)
    story = service.start(user, "The Keeper's Letter", {"genre": "mystery"})
    yield Desk(service, user, story.id)
    store.close()


def lines_of(result: Result) -> dict[str, str]:
    """The listing's rows: option name -> the rest of its line."""
    rows = {}
    for line in result.stdout.splitlines():
        name, _, rest = line.strip().partition(" ")
        rows[name] = " ".join(rest.split())
    return rows


def test_with_no_flags_it_shows_every_option_and_where_it_comes_from(desk: Desk) -> None:
    desk.service.set_options(desk.user, desk.story, {"seed": 7})
    result = desk.invoke("options", desk.story[:8])
    assert result.exit_code == 0, result.output
    assert "Sampling options of “The Keeper's Letter”:" in result.stdout
    rows = lines_of(result)
    assert rows["seed"] == "7 this story"
    assert rows["temperature"] == "0.6 default (settings)"
    assert rows["top_p"] == "the model's own default"
    assert rows["num_predict"] == "as the window allows default"


def test_flags_set_values_and_reset_goes_back_to_the_default(desk: Desk) -> None:
    result = desk.invoke(
        "options", desk.story, "--temperature", "1.1", "--top-k", "40", "--num-predict", "600"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Saved. Sampling options of")
    assert desk.stored() == {"temperature": 1.1, "top_k": 40, "num_predict": 600}
    assert lines_of(result)["temperature"] == "1.1 this story"

    result = desk.invoke("options", desk.story, "--reset", "temperature", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert desk.stored() == {"top_k": 40, "num_predict": 600, "seed": 3}
    assert lines_of(result)["temperature"] == "0.6 default (settings)"

    assert desk.invoke("options", desk.story, "--reset", "all").exit_code == 0
    assert desk.stored() == {}


def test_json_gives_each_value_and_its_source(desk: Desk) -> None:
    desk.service.set_options(desk.user, desk.story, {"top_p": 0.9})
    result = desk.invoke("options", desk.story, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["session_id"] == desk.story
    assert data["options"]["top_p"] == {"value": 0.9, "source": "story"}
    assert data["options"]["temperature"] == {"value": 0.6, "source": "default"}
    assert data["options"]["seed"] == {"value": None, "source": "unset"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--temperature", "3"], "Temperature must be a number from 0 to 2 (got '3')."),
        (["--temperature", "nan"], "Temperature must be a number from 0 to 2 (got 'nan')."),
        (["--top-p", "0"], "Top p (top_p) must be a number more than 0 and at most 1"),
        (["--top-k", "2.5"], "Top k (top_k) must be a whole number from 1 to 1000"),
        (["--repeat-penalty", "inf"], "must be a number from 0.5 to 2 (got 'inf')"),
        (["--num-predict", "99999999999999999999"], "from 16 to 32768"),
        (["--seed", "-5"], "Seed must be a whole number from 0 to 4294967295 (got '-5')."),
        (["--seed", "lucky"], "(got 'lucky')"),
        (["--reset", "warmth"], "There is no sampling option 'warmth'. The options are"),
        (["--seed", "1", "--reset", "seed"], "--seed and --reset seed say different things"),
    ],
)
def test_a_bad_value_is_refused_and_nothing_changes(
    desk: Desk, args: list[str], message: str
) -> None:
    desk.service.set_options(desk.user, desk.story, {"top_k": 12})
    # A good value beside the bad one is not kept either.
    good = [] if args[0] == "--temperature" else ["--temperature", "0.9"]
    result = desk.invoke("options", desk.story, *good, *args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr, result.stderr
    assert result.stderr.startswith("storyterm: ") and "Traceback" not in result.output
    assert result.stdout == ""
    assert desk.stored() == {"top_k": 12}


def test_another_writers_story_is_not_found(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    login_as(monkeypatch, "mallory")
    result = desk.invoke("options", desk.story, "--temperature", "1")
    assert result.exit_code == 1
    assert "No story session" in result.stderr, result.stderr
    assert desk.stored() == {}


# -- thinking -----------------------------------------------------------------------------------


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    models = [FakeModel("gemma3:latest"), FakeModel("qwen3:4b", thinks=True)]
    with FakeOllama(models=models) as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        yield fake


def test_think_is_set_shown_and_reset(desk: Desk, ollama: FakeOllama) -> None:
    desk.service.set_model(desk.user, desk.story, "qwen3:4b")
    assert lines_of(desk.invoke("options", desk.story))["think"] == "off default"
    result = desk.invoke("options", desk.story, "--think", "on")
    assert result.exit_code == 0, result.output
    assert lines_of(result)["think"] == "on this story"
    assert desk.stored() == {"think": "on"}
    listed = json.loads(desk.invoke("options", desk.story, "--json").stdout)
    assert listed["options"]["think"] == {"value": "on", "source": "story"}
    assert desk.invoke("options", desk.story, "--reset", "think").exit_code == 0
    assert desk.stored() == {}


@pytest.mark.parametrize(
    ("model", "value", "message"),
    [
        ("gemma3:latest", "on", "gemma3:latest does not think before it answers"),
        ("qwen3:4b", "high", "takes no level: use on (or off) rather than high"),
        ("qwen3:4b", "lots", "Thinking (think) must be one of off, on, low, medium or high"),
    ],
)
def test_a_think_the_model_cannot_follow_is_refused_and_nothing_changes(
    desk: Desk, ollama: FakeOllama, model: str, value: str, message: str
) -> None:
    desk.service.set_model(desk.user, desk.story, model)
    result = desk.invoke("options", desk.story, "--think", value, "--seed", "4")
    assert result.exit_code == 1, result.output
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert desk.stored() == {}


def test_without_ollama_think_is_kept_with_a_note(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens there
    desk.service.set_model(desk.user, desk.story, "qwen3:4b")
    result = desk.invoke("options", desk.story, "--think", "on")
    assert result.exit_code == 0, result.output
    assert "could not be asked" in result.stdout
    assert desk.stored() == {"think": "on"}
