"""The rules a request's text must follow, stated once for both the check and the document.

Each rule is a JSON Schema `pattern` (written so that Python's `re`, which the check uses and
which schemathesis and hypothesis generate from, and ECMA-262 read it alike) plus a sentence for
the writer. A value is checked against exactly the pattern the OpenAPI document shows, so what
the document calls valid is what the API accepts (the core then checks its own rules again).

Lone surrogates ("\\ud800" in JSON) are not characters at all, so no JSON Schema string holds
one; they are refused here with the same 422 as any broken rule, before they reach the core,
the database or an error message that would have to echo them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from storyterm.core import views

#: What str.strip() removes (str.isspace(), Unicode 14): a title's or a key's margins.
SPACE_RANGES = (
    (0x09, 0x0D),
    (0x1C, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)
#: Format characters (Unicode category Cf, Unicode 14) except the zero-width joiner, which
#: emoji need: the invisible marks core.service.clean_title refuses in a title.
FORMAT_RANGES = (
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200C),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
#: Control characters (category Cc).
CONTROL_RANGES = ((0x00, 0x1F), (0x7F, 0x9F))


def _char(code: int) -> str:
    # ASCII as \xNN (the same in every regex dialect); the rest as the character itself, which
    # every dialect reads literally inside a class (none of them is - ] \ or ^).
    return f"\\x{code:02x}" if code < 0x80 else chr(code)


def char_class(*groups: tuple[tuple[int, int], ...]) -> str:
    """The inside of a regex character class holding every range of `groups`."""
    parts = []
    for first, last in sorted(r for group in groups for r in group):
        parts.append(_char(first) if first == last else f"{_char(first)}-{_char(last)}")
    return "".join(parts)


SPACE = char_class(SPACE_RANGES)
#: What a title may not hold once its margins are stripped: controls and invisible marks.
TITLE_BAD = char_class(CONTROL_RANGES, FORMAT_RANGES)
NUL = r"\x00"

#: A title: something besides spaces, no control characters or invisible marks (tabs and
#: newlines in the margins are trimmed, as the app trims them).
TITLE_PATTERN = (
    f"^[{SPACE}]*[^{SPACE}{TITLE_BAD}](?:[^{TITLE_BAD}]*[^{SPACE}{TITLE_BAD}])?[{SPACE}]*$"
)
#: A username as `storyterm register` allows it: letters and digits of any script, dots,
#: dashes, underscores.
USERNAME_PATTERN = r"^[\w.\-]+$"
#: Any text without NUL (U+0000), which PostgreSQL cannot store.
NO_NUL_PATTERN = f"^[^{NUL}]*$"
#: Text with something besides spaces, and no NUL.
NAME_PATTERN = f"^[^{NUL}]*[^{SPACE}{NUL}][^{NUL}]*$"
#: An Ollama model name (name, name:tag, namespace/name:tag, host/namespace/name:tag,
#: name@digest), or empty for "choose one for me".
MODEL_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9._:/@+\-]*)?$"
#: A listing cursor as the server hands it out (core.views.page_cursor).
CURSOR_PATTERN = views.CURSOR_PATTERN


def _raise(message: str) -> Any:
    raise PydanticCustomError("text_rule", message)


_SURROGATE = re.compile("[\ud800-\udfff]")


def whole_characters(value: str) -> str:
    """Refuse a lone surrogate in any text: it is half of a character, which nothing can
    encode, store or echo back."""
    found = _SURROGATE.search(value)
    if found is not None:
        _raise(
            f"contains a broken character (a lone surrogate, U+{ord(found.group()):04X}), "
            "which cannot be saved; remove it"
        )
    return value


#: Any text: whole characters only.
Text = Annotated[str, AfterValidator(whole_characters)]


def _matching(pattern: str, message: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if value is None:  # an optional parameter left out
            return value
        whole_characters(value)
        if compiled.search(value) is None:
            _raise(message)
        return value

    return check


def rule(
    pattern: str,
    message: str,
    *,
    min_length: int | None = None,
    max_length: int | None = None,
    description: str | None = None,
    examples: list[Any] | None = None,
) -> Any:
    """A str type whose document shows `pattern` and lengths, and whose check applies them."""
    return Annotated[
        str,
        Field(
            min_length=min_length,
            max_length=max_length,
            description=description,
            examples=examples,
            json_schema_extra={"pattern": pattern},
        ),
        AfterValidator(_matching(pattern, message)),
    ]


def check_pattern(value: str, pattern: str, message: str) -> str:
    """`value`, or the 422 of `rule` (for values checked outside a pydantic type)."""
    return _matching(pattern, message)(value)


def matches(pattern: str, message: str) -> AfterValidator:
    """The check of `rule` alone, for a query or path parameter (whose Query()/Path() shows the
    pattern with `json_schema_extra={"pattern": pattern}`)."""
    return AfterValidator(_matching(pattern, message))
