"""Plans: the body that creates one (identity + services.kit.plan_rules.PlanTerms) and its reading.

A rule set that breaks a rule of the plan contract is refused with the field named:
`name_the_fields` turns pydantic's errors into locations a client can point at."""

import re
from datetime import UTC, datetime
from typing import Any, get_args

from pydantic import GetJsonSchemaHandler, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from members_api.models import Plan
from services.kit.plan_rules import (
    Band,
    Code,
    Condition,
    DailyAllowanceRules,
    Eligibility,
    FixedBenefitRules,
    HospitalReimbursementRules,
    PlanKind,
    PlanTerms,
)
from services.kit.text import NameText

CODE_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"  # services.kit.plan_rules.Code
IDENTITY = frozenset({"code", "line", "name"})
KINDS = frozenset(get_args(PlanKind))


class PlanCreate(PlanTerms):
    """`code` (e.g. `MED-2026`), `line` (e.g. `MED`, links editions for renewals), `name`, and
    every term of the plan contract."""

    code: Code
    line: Code
    name: NameText

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The document says which rules go with which kind: one choice per kind, the kind
        and the benefit rules of that kind (services.kit.plan_rules.PlanTerms checks it)."""
        schema = handler(core_schema)
        plan = handler.resolve_ref_schema(schema)
        choices = plan["properties"]["benefit"]["oneOf"]
        kinds = [handler.resolve_ref_schema(rules)["properties"]["kind"] for rules in choices]
        plan["oneOf"] = [
            {"properties": {"kind": {"const": kind["const"]}, "benefit": rules}}
            for kind, rules in zip(kinds, choices, strict=True)
        ]
        return schema

    def terms(self) -> dict[str, Any]:
        """The plan's terms as stored and handed to the claims service: PlanTerms JSON.

        A plan that does not gate cover on payment is stored without `cover_requires_payment`,
        and one that requires no documents without `required_documents`, as plans were before
        these fields: the same rules keep the same `rules_version`."""
        terms = PlanTerms.model_validate(self.model_dump(exclude=set(IDENTITY))).model_dump(
            mode="json"
        )
        if not terms["cover_requires_payment"]:
            del terms["cover_requires_payment"]
        if not terms["required_documents"]:
            del terms["required_documents"]
        return terms


class PlanRead(PlanTerms):
    """A stored plan: its identity, every term (money as strings) and the rules' version."""

    id: str
    code: str
    line: str
    name: str
    rules_version: str
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # SQLite hands timestamps back without their zone; they were stored as UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @classmethod
    def of(cls, plan: Plan) -> "PlanRead":
        return cls(
            **plan.terms,
            id=plan.id,
            code=plan.code,
            line=plan.line,
            name=plan.name,
            rules_version=plan.rules_version,
            created_at=plan.created_at,
        )


_FIELDS = frozenset(
    name
    for model in (
        PlanCreate,
        Eligibility,
        Band,
        Condition,
        HospitalReimbursementRules,
        FixedBenefitRules,
        DailyAllowanceRules,
    )
    for name in model.model_fields
)
_LEADING_FIELD = re.compile(r"^(?:Value error, )?([a-z_]+)(?::| )")


def name_the_fields(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Point each error at the field it is about.

    A cross-field rule of the contract is checked on the model holding the field, so pydantic
    reports it at the model ("benefit") with the field only in the message ("bands: the first
    band must start above 0"): the field is appended to the location. The discriminator's tag
    that pydantic inserts after "benefit" is dropped, and "Value error, " is taken off messages.
    """
    named = []
    for error in errors:
        loc = list(error.get("loc", ()))
        loc = [
            part
            for index, part in enumerate(loc)
            if not (part in KINDS and index > 0 and loc[index - 1] == "benefit")
        ]
        msg = str(error.get("msg", "invalid"))
        if error.get("type") == "value_error":
            match = _LEADING_FIELD.match(msg)
            if match and match.group(1) in _FIELDS and (not loc or loc[-1] != match.group(1)):
                loc.append(match.group(1))
            msg = msg.removeprefix("Value error, ")
        named.append({**error, "loc": tuple(loc), "msg": msg})
    return named
