"""The state one benchmark run shares between areas: size, servers, datasets."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import data
from bench.common import log
from bench.servers import Servers


@dataclass
class Context:
    quick: bool
    servers: Servers = field(default_factory=Servers)
    _pg_dataset: data.Dataset | None = None

    @property
    def size(self) -> data.Size:
        return data.QUICK if self.quick else data.FULL

    def repeat(self, full: int, quick: int) -> int:
        """How many samples to take: enough for a p99 in a full run, a handful in --quick."""
        return quick if self.quick else full

    def sqlite_dataset(self, name: str) -> data.Dataset:
        return data.sqlite_copy(self.size, name)

    def empty_dataset(self, name: str) -> data.Dataset:
        return data.empty_sqlite(name)

    def postgres_dataset(self) -> data.Dataset:
        """The dataset in a PostgreSQL database of our own (loaded once per run)."""
        if self._pg_dataset is None:
            url = self.servers.postgres_url()
            log(f"loading the {self.size.label} dataset into PostgreSQL")
            self._pg_dataset = data.load(url, self.size)
            log(f"loaded in {self._pg_dataset.generated_in_s:.1f} s")
        return self._pg_dataset

    def dataset(self, backend: str, name: str) -> data.Dataset:
        return self.sqlite_dataset(name) if backend == "sqlite" else self.postgres_dataset()

    def close(self) -> None:
        self.servers.close()
