"""The TUI on PostgreSQL and with the Redis cache: the status line tells the truth."""

from __future__ import annotations

import pytest

from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.widgets.status_bar import StatusBar
from storyterm.tui.widgets.story_view import StoryView
from tests.helpers import login_as
from tests.services import RedisServer
from tests.tui.helpers import make_app, ready, seed_session, wait_until

SIZE = (120, 36)


@pytest.mark.postgres
async def test_the_room_works_on_postgres(postgres_url: str) -> None:
    runtime = Runtime(load_settings(database_url=postgres_url))
    try:
        alice = login_as(runtime, "alice")
        seed_session(runtime, alice.id, "Salt Roads", parts=3)
        app = make_app(runtime)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            screen = app.screen
            assert isinstance(screen, MainScreen)
            assert screen.query_one(StatusBar).database == "postgresql"
            await wait_until(
                pilot, lambda: [v.seq for v in screen.query_one(StoryView).part_views] == [1, 2, 3]
            )
            await pilot.press("escape", "p")
            await wait_until(pilot, lambda: str(screen.session.status) == "paused")
            assert str(runtime.sessions.get(alice.id, screen.session.id).status) == "paused"
    finally:
        runtime.close()


@pytest.mark.redis
async def test_the_status_line_says_when_the_cache_goes_offline(own_redis: RedisServer) -> None:
    runtime = Runtime(load_settings(redis_url=own_redis.url))
    try:
        alice = login_as(runtime, "alice")
        seed_session(runtime, alice.id, "Salt Roads", parts=2)
        app = make_app(runtime)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            screen = app.screen
            assert isinstance(screen, MainScreen)
            status = screen.query_one(StatusBar)
            await wait_until(pilot, lambda: status.cache == "online")
            own_redis.stop()
            await pilot.press("escape", "f5")  # reload: the health check runs again
            await wait_until(pilot, lambda: status.cache == "offline")
            # The writer keeps working from the database.
            await pilot.press("p")
            await wait_until(pilot, lambda: str(screen.session.status) == "paused")
    finally:
        runtime.close()
        own_redis.start()
