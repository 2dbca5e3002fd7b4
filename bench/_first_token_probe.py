"""Enter to the first token, in an interpreter of its own (as the writer's app runs).

Run as a script: ``python bench/_first_token_probe.py DATASET_JSON OLLAMA_URL RUNS``. Runs
bench.first_part.first_tokens on the dataset (its JSON, as Dataset.to_json writes it) and prints
one JSON line: {"samples": [ms, ...], "lore": entries, "stuck": [what a part that did not end
looked like, ...]}.

The benchmark process has, by the time this area runs, opened and closed a dozen apps and
datasets of earlier areas; their leftovers (a bigger heap for every collection to walk, caches)
are not the writer's, and moved this figure by ~40 ms from run to run of the whole suite.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(dataset_json: str, url: str, runs: int) -> None:
    from bench import first_part
    from bench.data import Dataset

    dataset = Dataset(**json.loads(dataset_json))
    samples, lore = asyncio.run(first_part.first_tokens(dataset, url, runs))
    print(json.dumps({"samples": samples, "lore": lore, "stuck": first_part.stuck}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
