"""What the OpenAPI documents say about fields beyond their Python types, so that a client
generated from a document sends what the services take."""

from collections.abc import Callable
from typing import Any

NULL = {"type": "null"}


def omit_rather_than_null(*fields: str) -> Callable[[dict[str, Any]], None]:
    """`json_schema_extra` for a model whose optional fields may be left out but not sent as
    null (a validator of the model refuses the null): the document drops the null choice
    and the null default from each of these fields."""

    def edit(schema: dict[str, Any]) -> None:
        for name in fields:
            field = schema["properties"][name]
            choices = [choice for choice in field.pop("anyOf", []) if choice != NULL]
            if len(choices) == 1:
                field.update(choices[0])
            elif choices:
                field["anyOf"] = choices
            if field.get("default", ...) is None:
                del field["default"]

    return edit
