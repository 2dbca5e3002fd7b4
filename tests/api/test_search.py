"""Searching inside stories over HTTP: your own stories only, marked snippets as data, and a
422 or 404 that says why for a search that cannot run."""

from __future__ import annotations

from fastapi.testclient import TestClient

from storyterm.core.runtime import Runtime
from tests.api.conftest import Login

SEARCH = "/api/langchain/search"
START = "/api/langchain/story/start"


def story(client: TestClient, runtime: Runtime, headers: dict, *texts: str) -> str:
    sid = client.post(START, json={"title": "Salt Roads"}, headers=headers).json()["id"]
    owner = runtime.identity.verify(headers["Authorization"].split()[1]).id
    for n, text in enumerate(texts, start=1):
        runtime.sessions.append_part(owner, sid, direction=f"step {n}", content=text)
    return sid


def test_search_finds_your_parts_with_the_match_marked(
    client: TestClient, login: Login, runtime: Runtime
) -> None:
    alice, bob = login("alice"), login("bob")
    sid = story(client, runtime, alice, "Calm sea.", "The <b>kraken</b> rose.")
    bobs = story(client, runtime, bob, "Bob's kraken.")

    response = client.get(SEARCH, params={"q": "Kraken"}, headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_offset"] is None
    [hit] = body["hits"]
    assert (hit["session_id"], hit["title"], hit["seq"]) == (sid, "Salt Roads", 2)
    assert hit["snippet"] == [
        {"text": "The <b>", "match": False},
        {"text": "kraken", "match": True},
        {"text": "</b> rose.", "match": False},
    ]
    one = client.get(SEARCH, params={"q": "kraken", "session": sid}, headers=alice).json()
    assert [h["seq"] for h in one["hits"]] == [2]

    # Bob's story is not Alice's to search, and says no more than a missing one.
    other = client.get(SEARCH, params={"q": "kraken", "session": bobs}, headers=alice)
    missing = client.get(SEARCH, params={"q": "kraken", "session": "nope"}, headers=alice)
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["code"] == missing.json()["error"]["code"]
    assert client.get(SEARCH, params={"q": "kraken"}).status_code == 401


def test_a_search_with_nothing_to_find_says_why(
    client: TestClient, login: Login, runtime: Runtime
) -> None:
    alice = login("alice")
    story(client, runtime, alice, "Rope and tar.")
    for q in ("?!-*", '""', "¨"):
        response = client.get(SEARCH, params={"q": q}, headers=alice)
        assert response.status_code == 200, response.text
        assert response.json()["hits"] == []
        assert response.json()["note"].startswith("Nothing to search for: type a word")
    for params in ({"q": "x" * 10_000}, {"q": ""}, {"q": "rope", "limit": 0}):
        response = client.get(SEARCH, params=params, headers=alice)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"]
    response = client.get(SEARCH, params={"q": 'NEAR("rope" tar) OR *'}, headers=alice)
    assert response.status_code == 200 and response.json()["hits"] == []
    paged = client.get(SEARCH, params={"q": "rope", "offset": 1}, headers=alice)
    assert paged.status_code == 200 and paged.json()["hits"] == []
