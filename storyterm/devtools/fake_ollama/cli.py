"""``python -m storyterm.devtools.fake_ollama``: the stand-in for a writer trying storyterm."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading

from .records import DEFAULT_CONTEXT_LENGTH, FakeModel
from .server import FakeOllama


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m storyterm.devtools.fake_ollama",
        description="Run an Ollama stand-in on 127.0.0.1 that streams deterministic prose.",
    )
    parser.add_argument("--port", type=int, default=11434, help="port (default 11434; 0 = any)")
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        help="an installed model (repeat for more; default gemma3:latest)",
    )
    parser.add_argument(
        "--thinking-model",
        action="append",
        dest="thinkers",
        help="an installed model that thinks before it answers, like qwen3:4b (repeatable)",
    )
    parser.add_argument(
        "--think-tokens", type=int, default=40, help="tokens of thinking (default 40)"
    )
    parser.add_argument(
        "--think-in-content",
        action="store_true",
        help="act as an older Ollama: thinking in the text between <think> tags",
    )
    parser.add_argument("--context-length", type=int, default=DEFAULT_CONTEXT_LENGTH)
    parser.add_argument("--tokens", type=int, default=300, help="tokens per reply (default 300)")
    parser.add_argument(
        "--rate", type=float, default=40.0, help="tokens per second (default 40; 0 = no limit)"
    )
    parser.add_argument("--hang-after", type=int, default=None, help="hang after N tokens")
    parser.add_argument("--error-after", type=int, default=None, help="error line after N tokens")
    parser.add_argument("--load-delay", type=float, default=0.0, help="seconds before token 1")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    models = [FakeModel(m, context_length=args.context_length) for m in args.models or []]
    models += [
        FakeModel(m, context_length=args.context_length, thinks=True) for m in args.thinkers or []
    ]
    if not models:
        models = [FakeModel("gemma3:latest", context_length=args.context_length)]
    try:
        fake = FakeOllama(
            models,
            port=args.port,
            tokens=args.tokens,
            rate=args.rate or None,
            hang_after=args.hang_after,
            error_after=args.error_after,
            load_delay=args.load_delay,
            seed=args.seed,
            think_tokens=args.think_tokens,
            think_in_content=args.think_in_content,
            verbose=not args.quiet,
        )
    except OSError as exc:
        print(
            f"fake-ollama: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}. "
            "Is Ollama (or another fake) already running there? Pick another --port.",
            file=sys.stderr,
        )
        return 1
    if not args.quiet:
        # One line per request (uvicorn's access log); its warnings and errors too.
        logging.basicConfig(format="fake-ollama: %(message)s", level=logging.WARNING)
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with fake:
        names = ", ".join(m.name for m in fake.models)
        print(
            f"fake-ollama listening at {fake.url} (models: {names}; {args.tokens} tokens per "
            f"reply at {args.rate or 'unlimited'} tokens/s). Ctrl-C stops it.\n"
            f"Try: OLLAMA_HOST={fake.url} storyterm",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                pass
    return 0
