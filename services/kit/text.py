"""Free text that names something (a unit, a worker, a contact, a plan, a hospital): one line
of printable characters. Control characters (C0 with CR, LF and TAB, DEL, C1) and the
bidirectional embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069) are refused
with a 422 naming the field: a name never needs them, Postgres refuses NUL, a line break or a
tab in a name splits a row of every spreadsheet it is exported to (services.kit.exports), and
a bidi override shows a name as other text than it is (U+202E then "LTD" reads "DTL") in the
reports and on every screen. Right-to-left names need none of them: the marks U+200E/U+200F
and the letters' own direction are kept."""

from typing import Annotated

from pydantic import StringConstraints

# A pattern rather than a validator: the OpenAPI schema shows it, and it runs in
# pydantic-core (a 100,000-row import checks 100,000 names).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$"

NameText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS
    ),
]
"""A unit's, plan's, condition's or hospital's name."""

PersonNameText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=NO_CONTROL_CHARACTERS
    ),
]
"""A person's name: a worker, a unit's contact."""
