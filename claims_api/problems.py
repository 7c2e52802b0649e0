"""The claims service's refusals: every `code` its routes answer (services.kit.problems).

Approving a claim the rules do not pay answers its first engine reason code as the `code`
(the reviewer sees why at once): the catalogue lists each of claims_api.engine's
REASON_CODES as such a refusal, so a reason code the engine adds is catalogued with it, and
`contribution_unpaid`, decided before the engine (claims_api.claims.assessing)."""

from claims_api.claims.assessing import PAYMENT_REASON_CODES
from claims_api.engine import REASON_CODES
from services.kit.errors import (
    Conflict,
    Forbidden,
    PayloadTooLarge,
    RuleViolation,
    UnsupportedMediaType,
)
from services.kit.problems import SHARED, UPLOAD_LIMITS, ProblemType, catalogue

DUPLICATE_INVOICE = ProblemType(
    "duplicate_invoice", Conflict, "an invoice of this claim was just filed in another claim"
)
INVALID_TRANSITION = ProblemType(
    "invalid_transition", RuleViolation, "the claim's status does not allow this decision"
)
SEPARATION_OF_DUTIES = ProblemType(
    "separation_of_duties",
    RuleViolation,
    "who filed a claim may not approve it, who approved it may not pay it",
)
NOT_APPROVED = ProblemType("not_approved", RuleViolation, "only an approved claim is paid")
ALREADY_REVERSED = ProblemType(
    "already_reversed", RuleViolation, "every payment of the batch is reversed already"
)
NOT_IN_BATCH = ProblemType(
    "not_in_batch", RuleViolation, "the claim has no standing payment in the batch"
)
NO_PAYOUT_ACCOUNT = ProblemType(
    "no_payout_account",
    RuleViolation,
    "members of the batch have no payout account (the problem's claim_ids lists every claim)",
)
BANK_FILE_EMPTY = ProblemType(
    "bank_file_empty", RuleViolation, "every payment of the batch is reversed: nothing to send"
)
# --- claim documents (claims_api.documents) --------------------------------------------------
DOCUMENT_TOO_LARGE = ProblemType(
    "document_too_large", PayloadTooLarge, "a document is at most 10 MiB (10,485,760 bytes)"
)
DOCUMENT_TYPE_REFUSED = ProblemType(
    "document_type_refused",
    UnsupportedMediaType,
    "a document is a JPEG, PNG or PDF, told by its bytes (not its name or declared type)",
)
TOO_MANY_DOCUMENTS = ProblemType(
    "too_many_documents",
    RuleViolation,
    "a claim takes at most 30 uploads, withdrawn ones included",
)
DOCUMENTS_MISSING = ProblemType(
    "documents_missing",
    Conflict,
    "the plan requires document kinds the claim does not carry (the problem's "
    "documents_missing names them)",
)
NOT_THE_UPLOADER = ProblemType(
    "not_the_uploader", Forbidden, "only who uploaded a document may withdraw it"
)
# --- claims from settlement data (claims_api.settlement) ------------------------------------
SETTLEMENT_PLAN_KIND = ProblemType(
    "settlement_plan_kind",
    RuleViolation,
    "settlement data (hospital stays) is filed under a hospital_reimbursement or "
    "daily_allowance plan, not a fixed_benefit one",
)
PLAN_CHANGED = ProblemType(
    "plan_changed",
    Conflict,
    "the plan's rules changed while the request read them: nothing was stored; send it again",
)
# --- webhooks (claims_api.webhooks) ----------------------------------------------------------
DELIVERY_PENDING = ProblemType(
    "delivery_pending",
    Conflict,
    "the delivery is still being sent (pending): it is retried on its schedule already",
)

# What the claims service refuses from the claims it holds, beside the engine's rules
# (claims_api.claims.assessing): an invoice already claimed is DUPLICATE_INVOICE's 409.
OVERLAPPING_STAY = "overlapping_stay"
NOT_PAYABLE: dict[str, ProblemType] = {
    reason: ProblemType(reason, RuleViolation, f"approving a claim the rules do not pay ({reason})")
    for reason in (*REASON_CODES, *PAYMENT_REASON_CODES, OVERLAPPING_STAY)
}
"""By engine reason code (and the payment reason decided before the engine): what refuses an
approval."""


def not_payable(reason_codes: list[str]) -> ProblemType:
    if reason_codes[0] == DUPLICATE_INVOICE.code:
        return DUPLICATE_INVOICE
    return NOT_PAYABLE[reason_codes[0]]


CATALOGUE = catalogue(
    *SHARED.values(),
    DUPLICATE_INVOICE,
    INVALID_TRANSITION,
    SEPARATION_OF_DUTIES,
    NOT_APPROVED,
    ALREADY_REVERSED,
    NOT_IN_BATCH,
    NO_PAYOUT_ACCOUNT,
    BANK_FILE_EMPTY,
    DOCUMENT_TOO_LARGE,
    DOCUMENT_TYPE_REFUSED,
    TOO_MANY_DOCUMENTS,
    DOCUMENTS_MISSING,
    NOT_THE_UPLOADER,
    SETTLEMENT_PLAN_KIND,
    PLAN_CHANGED,
    DELIVERY_PENDING,
    *UPLOAD_LIMITS,
    *NOT_PAYABLE.values(),
)
