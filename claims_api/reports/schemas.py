from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from services.kit.money import Money


class UnitClaims(BaseModel):
    unit_id: str
    claimants: int
    claims: int
    total_paid: Money
    average_per_claimant: Money
    largest_payout: Money


class ClaimsReport(BaseModel):
    plan_code: str | None
    paid_from: date | None
    paid_to: date | None
    source: str | None = None
    units: int
    """Units with at least one paid claim."""
    claimants: int
    """Distinct members paid."""
    claims: int
    """Paid claims (claim person-times)."""
    total_paid: Money
    average_per_claimant: Money
    average_per_claim: Money
    largest_payout: Money
    median_days_to_pay: Decimal | None
    """Median days from filing to payment; null without paid claims."""
    returned_payments: int
    """Payments the bank returned (or finance reversed) in the range, by their payment date:
    their claims are back to approved, not counted as paid above, until paid again."""
    returned_total: Money
    rejections: dict[str, int]
    """Rejected claims (filed in the range, when one is given) by reason code; a reviewer's
    rejection without an automatic reason counts as `reviewer`."""
    by_unit: list[UnitClaims]
