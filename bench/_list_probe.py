"""The team area's session list, asked for from a process of its own (bench/team.py).

Run as a script: ``python bench/_list_probe.py BASE_URL INTERVAL_S``; stdin gives the
writers' tokens (a JSON list on one line), then a line "go" when the load starts. Asks for
`GET /api/langchain/sessions` (a different writer each time, one keep-alive connection, as one
writer's client would) every INTERVAL_S after the last answer came, until SIGTERM; then prints
one JSON line: {"ms": [each answer's time, ...], "errors": [...]}.

The writers and watchers are one asyncio client whose event loop is itself busy with their
hundred streams (its lag reached ~200 ms as 50 parts ended together, bench/FINDINGS.md): a list
asked for from that loop waited for it too, a wait no writer's own client has.
"""

from __future__ import annotations

import http.client
import json
import signal
import sys
import time
from urllib.parse import urlsplit


def main(base: str, interval: float) -> None:
    tokens = json.loads(sys.stdin.readline())
    sys.stdin.readline()  # "go"
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    ms: list[float] = []
    errors: list[str] = []
    n = 0
    while not stopping:
        started = time.perf_counter()
        try:
            headers = {"authorization": f"Bearer {tokens[n % len(tokens)]}"}
            conn.request("GET", "/api/langchain/sessions", headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"session list: {response.status}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"session list: {exc.__class__.__name__}: {exc}")
            conn.close()
        ms.append((time.perf_counter() - started) * 1000)
        n += 1
        time.sleep(interval)
    print(json.dumps({"ms": ms, "errors": errors}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
