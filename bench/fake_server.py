"""The loopback Ollama-protocol server (storyterm.devtools.fake_ollama) in a process of its own,
so that sending tokens never competes with the measured client for the interpreter lock."""

from __future__ import annotations

import subprocess
import sys

from bench.common import ROOT, Skip
from tests.services import free_port, wait_for_port


class FakeOllamaProcess:
    """`with FakeOllamaProcess(tokens=6000) as fake: fake.url` — streams as fast as it can."""

    def __init__(self, tokens: int, rate: float = 0.0) -> None:
        try:
            import storyterm.devtools.fake_ollama  # noqa: F401
        except ImportError as exc:
            raise Skip(
                "storyterm.devtools.fake_ollama (the storyteller's work) is not on this branch yet"
            ) from exc
        self.tokens = tokens
        self.rate = rate
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeOllamaProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "storyterm.devtools.fake_ollama",
                "--port",
                str(self.port),
                "--tokens",
                str(self.tokens),
                "--rate",
                str(self.rate),
                "--quiet",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None
