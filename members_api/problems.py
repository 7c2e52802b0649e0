"""The registry's refusals: every `code` its routes answer (services.kit.problems)."""

from services.kit.errors import Conflict, PayloadTooLarge, RuleViolation, UnsupportedMediaType
from services.kit.problems import SHARED, ProblemType, catalogue

# --- records that exist already -----------------------------------------------------------
PLAN_EXISTS = ProblemType("plan_exists", Conflict, "a plan with this code exists already")
MEMBER_EXISTS = ProblemType(
    "member_exists", Conflict, "a member with this identity number is registered already"
)
CONCURRENT_REGISTRATION = ProblemType(
    "concurrent_registration",
    Conflict,
    "another request registered some of the same workers at the same time: send it again",
)

# --- contributions (members_api.contributions) ------------------------------------------
REFERENCE_EXISTS = ProblemType(
    "reference_exists",
    Conflict,
    "a payment with this reference is recorded for the plan already",
)
CONTRIBUTION_REVERSED = ProblemType(
    "contribution_reversed", Conflict, "the payment is reversed already"
)
NOT_A_PAYMENT = ProblemType("not_a_payment", RuleViolation, "a reversal cannot itself be reversed")

# --- payout accounts (members_api.payout_accounts) ----------------------------------------
ACCOUNT_NAME_MISMATCH = ProblemType(
    "account_name_mismatch",
    RuleViolation,
    "the account holder's name is not the member's: the bank pays only to the member's own name",
)
ACCOUNT_NUMBER_INVALID = ProblemType(
    "account_number_invalid",
    RuleViolation,
    "not a bank card number: 16 to 19 digits (spaces aside) ending in the Luhn check digit",
)
PAYOUT_ACCOUNT_PROBLEMS = (ACCOUNT_NAME_MISMATCH, ACCOUNT_NUMBER_INVALID)

# --- enrolment rules (members_api.enrollments.rules) --------------------------------------
UNIT_INACTIVE = ProblemType("unit_inactive", RuleViolation, "the unit is inactive")
MEMBER_LEFT = ProblemType("member_left", RuleViolation, "a member who has left cannot enrol")
ENROLMENT_CLOSED = ProblemType(
    "enrolment_closed", RuleViolation, "the day is outside the plan's enrolment window"
)
STARTS_ON_BEFORE_COVER = ProblemType(
    "starts_on_before_cover", RuleViolation, "starts_on is outside the plan's cover"
)
SEX_NOT_ELIGIBLE = ProblemType(
    "sex_not_eligible", RuleViolation, "the plan is for the other sex only"
)
AGE_OUT_OF_RANGE = ProblemType(
    "age_out_of_range", RuleViolation, "the member's age when cover starts is outside the plan's"
)
MAX_SHARES_EXCEEDED = ProblemType(
    "max_shares_exceeded", RuleViolation, "more shares than the plan allows one person"
)
ALREADY_CANCELLED = ProblemType(
    "already_cancelled", RuleViolation, "the enrolment is cancelled already"
)
COVER_STARTED = ProblemType(
    "cover_started", RuleViolation, "the cover has started: the enrolment cannot be cancelled"
)

# --- an uploaded list over a limit (members_api.enrollments.upload_limits) ----------------
TOO_MANY_ROWS = ProblemType("too_many_rows", PayloadTooLarge, "the list has too many rows")
LINE_TOO_LONG = ProblemType("line_too_long", PayloadTooLarge, "a line of the CSV is too long")
TOO_MANY_ZIP_PARTS = ProblemType(
    "too_many_zip_parts", PayloadTooLarge, "the workbook has too many parts"
)
INFLATED_TOO_LARGE = ProblemType(
    "inflated_too_large", PayloadTooLarge, "the workbook inflates to too many bytes"
)
COMPRESSION_RATIO = ProblemType(
    "compression_ratio", PayloadTooLarge, "a part of the workbook inflates too many times"
)
TOO_MANY_COLUMNS = ProblemType("too_many_columns", RuleViolation, "a row has too many cells")
CELL_TOO_LONG = ProblemType("cell_too_long", RuleViolation, "a cell holds too many characters")
XML_DTD_REFUSED = ProblemType(
    "xml_dtd_refused", UnsupportedMediaType, "the workbook declares a DTD (XML entities)"
)

BATCH_REFUSALS = (
    UNIT_INACTIVE,
    ENROLMENT_CLOSED,
    STARTS_ON_BEFORE_COVER,
    CONCURRENT_REGISTRATION,
)
"""What refuses a whole batch (members_api.enrollments.batch); a row's refusal is its row's."""
UPLOAD_LIMITS = (
    TOO_MANY_ROWS,
    LINE_TOO_LONG,
    TOO_MANY_ZIP_PARTS,
    INFLATED_TOO_LARGE,
    COMPRESSION_RATIO,
    TOO_MANY_COLUMNS,
    CELL_TOO_LONG,
    XML_DTD_REFUSED,
)
ENROLMENT_RULES = (
    MEMBER_LEFT,
    UNIT_INACTIVE,
    ENROLMENT_CLOSED,
    STARTS_ON_BEFORE_COVER,
    SEX_NOT_ELIGIBLE,
    AGE_OUT_OF_RANGE,
    MAX_SHARES_EXCEEDED,
)

CATALOGUE = catalogue(
    *SHARED.values(),
    PLAN_EXISTS,
    MEMBER_EXISTS,
    CONCURRENT_REGISTRATION,
    *ENROLMENT_RULES,
    ALREADY_CANCELLED,
    COVER_STARTED,
    *UPLOAD_LIMITS,
    REFERENCE_EXISTS,
    CONTRIBUTION_REVERSED,
    NOT_A_PAYMENT,
    *PAYOUT_ACCOUNT_PROBLEMS,
)
