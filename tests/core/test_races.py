"""Separate processes writing one session at once: seqs unique and gap-free, nobody's parts
interleaved, counts right, and with expected_seq exactly one racer wins each round."""

from __future__ import annotations

import multiprocessing
from typing import Any

from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState
from storyterm.errors import Conflict
from tests.helpers import make_user

WRITERS = ("north", "south", "east")
ROUNDS = 70  # 3 x 70 = 210 appends


def content_for(name: str, i: int) -> str:
    return f"{name} part {i}: " + " ".join(["word"] * (i % 7))


def _append_many(
    url: str, redis_url: str, user_id: int, session_id: str, name: str, barrier: Any, out: Any
) -> None:
    try:
        store = Store.open(url, redis_url)
        service = SessionService(store)
        barrier.wait(30)
        seqs = []
        for i in range(ROUNDS):
            part = service.append_part(
                user_id, session_id, direction=f"{name}:{i}", content=content_for(name, i)
            )
            seqs.append(part.seq)
        store.close()
        out.put((name, "ok", seqs))
    except BaseException as exc:
        out.put((name, "error", repr(exc)))


def run_processes(target: Any, args_for: Any, n: int) -> list[tuple]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(i), barrier, out)) for i in range(n)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    return results


def test_processes_appending_at_once_never_duplicate_or_interleave(
    database_url: str, redis_url: str
) -> None:
    setup = Store.open(database_url, redis_url)
    alice = make_user(setup)
    session_id = setup.create_session(alice, "Crowded", {}, None).id
    setup.close()  # nothing open is inherited by the forked writers

    results = run_processes(
        _append_many,
        lambda i: (database_url, redis_url, alice, session_id, WRITERS[i]),
        len(WRITERS),
    )
    assert all(r[1] == "ok" for r in results), results

    check = Store.open(database_url, redis_url)
    service = SessionService(check)
    try:
        parts = service.all_parts(alice, session_id)
        total = len(WRITERS) * ROUNDS
        assert [p.seq for p in parts] == list(range(1, total + 1))
        session = service.get(alice, session_id)
        assert session.part_count == total
        assert session.word_count == sum(p.word_count for p in parts)
        assert session.word_count == sum(
            len(content_for(name, i).split()) for name in WRITERS for i in range(ROUNDS)
        )
        for name, _status, seqs in results:
            mine = [p for p in parts if p.direction.startswith(f"{name}:")]
            # Each writer's parts are whole and in the order it wrote them.
            assert [p.seq for p in mine] == seqs
            assert [p.content for p in mine] == [content_for(name, i) for i in range(ROUNDS)]
            assert [p.direction for p in mine] == [f"{name}:{i}" for i in range(ROUNDS)]
        # Whatever the racing writers left in Redis, what is served equals the database.
        opened = service.open(alice, session_id, tail=40)
        assert opened.parts == parts[-40:]
        again = service.open(alice, session_id, tail=40)
        assert again.from_cache and again.parts == parts[-40:]
    finally:
        check.close()


RACE_ROUNDS = 25


def _race_for_seq(
    url: str, user_id: int, session_id: str, name: str, barrier: Any, out: Any
) -> None:
    try:
        store = Store.open(url, None)
        service = SessionService(store)
        outcomes = []
        for r in range(RACE_ROUNDS):
            barrier.wait(30)
            try:
                part = service.begin_part(
                    user_id, session_id, direction=f"{name}:{r}", model_name="m", expected_seq=r + 1
                )
                service.checkpoint_part(
                    user_id, session_id, part.seq, f"{name} wrote round {r}", state=PartState.DONE
                )
                outcomes.append("won")
            except Conflict as exc:
                outcomes.append("lost: " + exc.message)
            barrier.wait(30)
        store.close()
        out.put((name, "ok", outcomes))
    except BaseException as exc:
        out.put((name, "error", repr(exc)))


def test_with_expected_seq_exactly_one_racer_wins(database_url: str) -> None:
    setup = Store.open(database_url, None)
    alice = make_user(setup)
    session_id = setup.create_session(alice, "Two windows", {}, None).id
    setup.close()

    names = ("left", "right")
    results = run_processes(
        _race_for_seq, lambda i: (database_url, alice, session_id, names[i]), len(names)
    )
    assert all(r[1] == "ok" for r in results), results
    by_name = {r[0]: r[2] for r in results}
    for r in range(RACE_ROUNDS):
        round_outcomes = sorted(by_name[name][r] for name in names)
        assert round_outcomes[1] == "won", round_outcomes
        assert round_outcomes[0].startswith("lost: Another window added a part"), round_outcomes

    check = Store.open(database_url, None)
    try:
        parts = list(check.parts.iterate(alice, session_id))
        assert [p.seq for p in parts] == list(range(1, RACE_ROUNDS + 1))
        for p in parts:
            name, r = p.direction.split(":")
            assert p.content == f"{name} wrote round {r}" and int(r) == p.seq - 1
            assert p.state is PartState.DONE
        assert check.get_session(alice, session_id).part_count == RACE_ROUNDS
    finally:
        check.close()


def test_status_moves_racing_do_not_both_succeed(database_url: str) -> None:
    """Two clients completing and pausing one session at once: one move wins, the other is a
    clear error, and the stored status is the winner's."""
    setup = Store.open(database_url, None)
    alice = make_user(setup)
    session_id = setup.create_session(alice, "Tug of war", {}, None).id
    setup.close()

    results = run_processes(
        _move, lambda i: (database_url, alice, session_id, ("complete", "pause")[i]), 2
    )
    assert all(r[1] == "ok" for r in results), results
    outcomes = {r[0]: r[2] for r in results}
    check = Store.open(database_url, None)
    try:
        status = check.get_session(alice, session_id).status.value
    finally:
        check.close()
    if outcomes["complete"] == "done":
        assert status == "completed"
        assert outcomes["pause"] in ("done", "refused")  # paused first, then completed: fine
    else:
        assert status == "paused" and outcomes["pause"] == "done"


def _move(url: str, user_id: int, session_id: str, move: str, barrier: Any, out: Any) -> None:
    from storyterm.errors import InvalidTransition

    try:
        store = Store.open(url, None)
        service = SessionService(store)
        barrier.wait(30)
        try:
            getattr(service, move)(user_id, session_id)
            result = "done"
        except InvalidTransition:
            result = "refused"
        store.close()
        out.put((move, "ok", result))
    except BaseException as exc:
        out.put((move, "error", repr(exc)))
