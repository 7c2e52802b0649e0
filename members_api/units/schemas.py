from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from services.kit.identity import USCC_PATTERN, validate_credit_code
from services.kit.json_schema import omit_rather_than_null
from services.kit.text import NameText, PersonNameText

CreditCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=18),
    AfterValidator(validate_credit_code),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": USCC_PATTERN,
            "minLength": 18,
            "maxLength": 18,
            "description": "the unified social credit code (GB 32100); its check character "
            "is verified",
            "examples": ["91150102MA0N1234X2"],
        }
    ),
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 -]{3,29}$")]


class UnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NameText
    credit_code: CreditCode | None = None
    insured_headcount: int = Field(default=0, ge=0, le=10_000_000)
    contact_name: PersonNameText | None = None
    contact_phone: Phone | None = None


class UnitUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=omit_rather_than_null("name", "insured_headcount", "active"),
    )

    name: NameText | None = None
    credit_code: CreditCode | None = None
    insured_headcount: int | None = Field(default=None, ge=0, le=10_000_000)
    contact_name: PersonNameText | None = None
    contact_phone: Phone | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_nulls_for_required_fields(self) -> "UnitUpdate":
        for name in ("name", "insured_headcount", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class UnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    credit_code: str | None
    insured_headcount: int
    contact_name: str | None
    contact_phone: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
