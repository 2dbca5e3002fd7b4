"""The stand-in's replies: deterministic prose, so a writer trying the TUI sees a story."""

from __future__ import annotations

import random
from collections.abc import Iterator


def split_tokens(text: str) -> list[str]:
    """Word-sized tokens with their leading space, the way a tokenizer streams them."""
    tokens: list[str] = []
    for index, word in enumerate(text.split(" ")):
        tokens.append(word if index == 0 else " " + word)
    return [t for t in tokens if t]


_NAMES = ["Mara", "Tobias", "Ilse", "the keeper", "Old Wren", "Jonah", "the ferryman", "Elin"]
_PLACES = [
    "the harbour wall",
    "the lighthouse stair",
    "the salt market",
    "the chapel on the cliff",
    "the drowned orchard",
    "the customs house",
    "the long pier",
    "the archive under the bell tower",
]
_THINGS = [
    "the sealed letter",
    "a brass compass",
    "the lantern",
    "a map drawn in ink that had run",
    "the ledger",
    "a key wrapped in oilcloth",
    "the photograph",
    "a coil of tarred rope",
]
_WEATHER = [
    "Rain hammered the glass",
    "Fog rolled in from the sound",
    "The wind turned sharp and cold",
    "A thin moon rose over the water",
    "The tide pulled back from the rocks",
    "Snow began to fall without a sound",
]
_FEELINGS = ["doubt", "relief", "a slow dread", "anger", "hope", "the old grief", "curiosity"]
_SENTENCES = [
    "{weather} while {name} crossed {place}.",
    "{Name} turned {thing} over in both hands and said nothing for a long time.",
    "Somewhere below, a door banged twice, then fell silent.",
    "{Name} had promised never to come back to {place}, and yet here they were.",
    '"You kept it all these years," {name} said at last. "Why?"',
    '"Because someone had to," came the answer, quieter than the sea.',
    "The smell of tar and wet stone filled the room, and with it came {feeling}.",
    "{Name} counted the steps under their breath, the way their mother used to.",
    "Nobody in the town spoke of that winter, not even {name}.",
    "{weather}, and the lamps along {place} guttered one by one.",
    "It was {thing} that changed everything, though no one saw it then.",
    "{Name} felt {feeling} settle in their chest like a stone in a pocket.",
    "By the time the bells rang midnight, {name} had made up their mind.",
    "The ink had faded, but the words were still clear enough to hurt.",
    '"We leave at first light," {name} said. "Bring {thing}."',
    "Far out on the water, a single light blinked, as if in answer.",
    "{Name} did not look back, though every part of them wanted to.",
    "There were footprints in the frost along {place}, and they were small.",
    "For a moment nobody breathed; then the kettle began to sing.",
    "{Name} folded {thing} into a coat pocket and buttoned it shut.",
    "The letter was dated forty years ago, in a hand {name} knew at once.",
    "Gulls wheeled over {place}, crying as if they had lost something.",
    '"Tell me the truth this time," {name} said, very softly.',
    "The clock in the hall had stopped at a quarter past four.",
]


def _sentence(rng: random.Random, recent: list[str]) -> str:
    name = rng.choice(_NAMES)
    template = rng.choice([t for t in _SENTENCES if t not in recent])
    recent.append(template)
    del recent[:-8]
    return template.format(
        name=name,
        Name=name[0].upper() + name[1:],
        place=rng.choice(_PLACES),
        thing=rng.choice(_THINGS),
        weather=rng.choice(_WEATHER),
        feeling=rng.choice(_FEELINGS),
    )


def prose_tokens(rng: random.Random, count: int) -> Iterator[str]:
    """`count` word tokens of prose in paragraphs of three to six sentences."""
    produced = 0
    first = True
    recent: list[str] = []
    while produced < count:
        sentences = rng.randint(3, 6)
        paragraph = " ".join(_sentence(rng, recent) for _ in range(sentences))
        words = paragraph.split(" ")
        for index, word in enumerate(words):
            if produced >= count:
                return
            if index == 0 and not first:
                yield "\n\n" + word
            elif first and index == 0:
                yield word
            else:
                yield " " + word
            produced += 1
        first = False


def prose(count: int, seed: int = 7) -> str:
    """`count` tokens of the fake's prose as one string (benchmarks and tests use it)."""
    return "".join(prose_tokens(random.Random(seed), count))
