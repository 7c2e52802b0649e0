"""The bank's answer to a batch's disbursement file (代发结果文件): which payments reached their
cards and which came back.

The file is CSV (GB18030 or UTF-8, BOM or not) or XLSX, read and measured before the request's
first statement (services.kit.uploads, with LIMITS): nothing is parsed while a lock is held.
Its first line names the columns: 序号 or 账号 (or both), 金额, 状态 (成功 or 失败), 失败原因
(optional); other columns (户名, 开户行, 用途: a bank usually sends back the file it was given
with its answer added) are ignored, and so is a closing line whose 序号 is 合计.

Each line is matched to one payment of the batch, never guessed:

- by 序号, the payment's line in the bank file (a 账号 given as well must be that payment's);
- else by 账号, when exactly one payment of the batch went to that account (two claims of
  one worker in one batch: its 金额 may tell them apart, else the line needs 序号);
- its 金额 must be the payment's, to the fen.

A line that matches no payment is `unmatched` and changes nothing. A matched payment still
`sent` is `settled` (成功) or `returned` (失败): the return is a negative entry, its claim back to
`approved` with the bank's reason in its history, like a reversal. A payment that already has
the bank's answer is `unchanged`, so the same file sent twice changes nothing the second time.
A line that cannot be read (no 状态, an amount that is not one) is an `error`."""

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.audit import audit
from claims_api.claims.service import add_event
from claims_api.models import Claim, PayoutBatch, PayoutEntry
from claims_api.payouts.schemas import BankResultLine, BankResultRead, BankResultTotals
from claims_api.payouts.service import (
    batch_entries,
    get_batch,
    mark_returned,
    reversal_of,
    settle,
    summary,
)
from claims_api.webhooks.outbox import payment_of
from services.kit.auth import Principal
from services.kit.clock import today
from services.kit.errors import InvalidInput
from services.kit.uploads import Table, UploadLimits, header_name, read_table

LIMITS = UploadLimits(max_lines=20_000, max_inflated_bytes=64 << 20)
"""A result file: at most 20,000 lines (twice the largest batch), within the 2 MiB body
limit of the service's routes."""

FIELDS = ("serial", "account_number", "amount", "status", "reason", "purpose")
CHINESE = {
    "serial": "序号",
    "account_number": "账号",
    "amount": "金额",
    "status": "状态",
    "reason": "失败原因",
    "purpose": "用途",
}
# Headers are compared trimmed and case-folded; spellings seen on banks' result files are kept.
HEADERS = {
    **{field: field for field in FIELDS},
    **{chinese: field for field, chinese in CHINESE.items()},
    "卡号": "account_number",
    "银行卡号": "account_number",
    "收款账号": "account_number",
    "金额(元)": "amount",
    "金额（元）": "amount",
    "交易金额": "amount",
    "处理状态": "status",
    "交易状态": "status",
    "处理结果": "status",
    "原因": "reason",
    "备注": "reason",
    "摘要": "purpose",
    "附言": "purpose",
}
SUCCESS, FAILURE = "成功", "失败"
STATUSES = {SUCCESS: "settled", "success": "settled", FAILURE: "returned", "failed": "returned"}
CLOSING = "合计"
NO_REASON = "returned by the bank (no reason given)"
_AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
_SERIAL = re.compile(r"^[0-9]{1,6}$")
_CLAIM_ID = re.compile(r"\bclm_[0-9A-Za-z]+")
MAX_REASON = 500
"""失败原因 longer than this is not a bank's reason: the line is refused (the ledger keeps the
reason on the entry, the reversal and the claim's history)."""


def read_result(file: IO[bytes], filename: str | None, content_type: str | None) -> Table:
    """The data lines of an uploaded result file; 415 for what is not CSV or XLSX, 422 for a
    missing column, the upload limits' refusals (services.kit.uploads). No database here."""
    # A card number in a number cell has lost digits (matching none, said so); an amount in
    # one is read as the digits Excel shows (services.kit.uploads)
    return read_table(
        file,
        filename,
        content_type,
        _columns,
        LIMITS,
        digits=["account_number"],
        amounts=["amount"],
    )


def _columns(header: Sequence[Any]) -> dict[int, str]:
    columns: dict[int, str] = {}
    for index, cell in enumerate(header):
        field = HEADERS.get(header_name(cell))
        if field is None:
            continue
        if field in columns.values():
            raise InvalidInput(["file", "header"], f"the column {CHINESE[field]} is there twice")
        columns[index] = field
    found = set(columns.values())
    missing = [CHINESE[field] for field in ("amount", "status") if field not in found]
    if not found & {"serial", "account_number"}:
        missing.insert(0, "序号 or 账号")
    if missing:
        raise InvalidInput(
            ["file", "header"],
            f"missing column {', '.join(missing)}: the first line must name the columns 序号 "
            "or 账号 (or both), 金额, 状态 (成功 or 失败) and optionally 失败原因",
        )
    return columns


# --- one line ------------------------------------------------------------------------------------


@dataclass
class Line:
    number: int
    serial: int | None
    account_number: str | None
    amount: Decimal | None
    outcome: str | None  # settled | returned
    reason: str | None
    error: str | None
    claim_ids: tuple[str, ...] = ()  # the claims its 用途 names, when the file has that column

    def result(self, status: str, **details: Any) -> BankResultLine:
        return BankResultLine(
            line=self.number,
            status=status,  # type: ignore[arg-type]
            serial=self.serial,
            account_number=self.account_number,
            amount=self.amount,
            reason=self.reason,
            **details,
        )


def parse_line(number: int, values: dict[str, str]) -> Line | None:
    """One line's fields; None for the closing line."""
    serial_text = values.get("serial")
    if serial_text is not None and serial_text.replace(" ", "") == CLOSING:
        return None
    errors = []
    serial = None
    if serial_text is not None:
        if _SERIAL.fullmatch(serial_text) and 0 < int(serial_text) <= LIMITS.max_lines * 10:
            serial = int(serial_text)
        else:
            errors.append(f"序号 {serial_text[:20]!r} is not a line number")  # not echoed whole
    account = values.get("account_number")
    if account is not None:
        # a quote kept from a spreadsheet; fullwidth digits are digits, as in the registry
        account = "".join(unicodedata.normalize("NFKC", account).split()).lstrip("'")
        if not (account.isascii() and account.isdigit()):
            errors.append("账号 is not a number of digits")
    if serial is None and account is None and not errors:
        errors.append("neither 序号 nor 账号: the line names no payment")
    amount = _amount(values.get("amount"), errors)
    reason = values.get("reason")
    if reason is not None and len(reason) > MAX_REASON:
        errors.append(
            f"失败原因 has {len(reason)} characters: a bank's reason has at most {MAX_REASON}"
        )
    status_text = values.get("status")
    outcome = STATUSES.get((status_text or "").casefold())
    if outcome is None:
        errors.append(f"状态 must be {SUCCESS} or {FAILURE}, not {status_text or 'empty'}")
    return Line(
        number,
        serial,
        account,
        amount,
        outcome,
        reason,
        "; ".join(errors) or None,
        tuple(_CLAIM_ID.findall(values.get("purpose") or "")),
    )


def _amount(text: str | None, errors: list[str]) -> Decimal | None:
    if text is None:
        errors.append("金额 is missing")
        return None
    compact = text.replace(",", "").replace("¥", "").replace("￥", "").strip()
    if not _AMOUNT.match(compact):
        errors.append(f"金额 {text!r} is not an amount in yuan")
        return None
    try:
        return Decimal(compact).quantize(Decimal("0.01"))
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        errors.append(f"金额 {text!r} is not an amount in yuan")
        return None


# --- the batch's payments, by what a line can name -----------------------------------------------


class Payments:
    def __init__(self, entries: list[PayoutEntry]) -> None:
        self.payments = [e for e in entries if e.entry_kind == "payment"]
        self.by_line = {e.bank_line: e for e in self.payments if e.bank_line is not None}
        # by account: every payment of the batch (one a claim), a returned one too, so that a
        # file sent again finds it and reports it unchanged
        self.by_account: dict[str, list[PayoutEntry]] = defaultdict(list)
        for entry in self.payments:
            if entry.account_number:
                self.by_account[entry.account_number].append(entry)

    def match(self, line: Line) -> tuple[PayoutEntry | None, str | None]:
        """The payment the line names, or why there is none."""
        if line.serial is not None:
            entry = self.by_line.get(line.serial)
            if entry is None:
                return None, f"the batch's bank file has no line {line.serial}"
            if line.account_number is not None and line.account_number != entry.account_number:
                return None, f"序号 {line.serial} was paid to another account"
        else:
            assert line.account_number is not None
            candidates = self.by_account.get(line.account_number, [])
            if len(candidates) > 1:
                candidates = [e for e in candidates if e.amount == line.amount]
            if not candidates:
                return None, "no payment of the batch went to this account"
            if len(candidates) > 1:
                return None, "several payments of the batch went to this account: give 序号"
            entry = candidates[0]
        if line.amount != entry.amount:
            return None, f"金额 {line.amount} is not the payment's {entry.amount:.2f}"
        if line.claim_ids and entry.claim_id not in line.claim_ids:
            # another batch's file, or lines renumbered by the bank: never guessed
            named = ", ".join(line.claim_ids)
            return None, f"用途 names {named}, not this payment's claim {entry.claim_id}"
        return entry, None


# --- applying the file ---------------------------------------------------------------------------


async def apply_result(
    session: AsyncSession,
    principal: Principal,
    batch_id: str,
    table: Table,
    source: dict[str, Any],
) -> BankResultRead:
    """Settle and return the batch's payments as the (already read) file says; one audit
    event for the file. `source`: the file's name and SHA-256, kept in the audit event."""
    # The batch's row is locked first: a concurrent upload of a result for the same batch
    # waits, then finds the answers this one recorded and changes nothing.
    lines = [parse_line(number, values) for number, values in table.rows]  # before the lock
    batch = await get_batch(session, principal, batch_id, for_update=True)
    entries = await batch_entries(session, batch.id)
    payments = Payments(entries)
    results: list[BankResultLine] = []
    returning: list[tuple[Line, PayoutEntry]] = []
    settling: list[PayoutEntry] = []
    answered: dict[str, str] = {}  # the answers of this file's earlier lines, by entry
    for line in lines:
        if line is None:
            continue
        if line.error is not None:
            results.append(line.result("error", detail=line.error))
            continue
        entry, why = payments.match(line)
        if entry is None:
            results.append(line.result("unmatched", detail=why))
            continue
        details = {"entry_id": entry.id, "claim_id": entry.claim_id}
        status = answered.get(entry.id, entry.bank_status)
        if status != "sent":
            if status == line.outcome:
                detail = f"the payment is {status} already"
                kind = "unchanged"
            else:
                detail = (
                    f"the line says {line.outcome}, but the payment is {status} already: "
                    "nothing changed; ask the bank which is true"
                )
                kind = "conflict"
            results.append(line.result(kind, bank_status=status, detail=detail, **details))
            continue
        answered[entry.id] = line.outcome
        if line.outcome == "settled":
            settling.append(entry)
        else:
            mark_returned(entry, line.reason or NO_REASON)
            returning.append((line, entry))
        results.append(line.result(line.outcome, bank_status=line.outcome, **details))
    await settle(session, settling)
    await _return_payments(session, principal, batch, returning)
    await session.flush()
    totals = _totals(results)
    after = {
        **source,
        **totals.model_dump(mode="json"),
        "returned_claims": [entry.claim_id for _, entry in returning],
    }
    await audit.record(
        session,
        principal,
        action="payout.bank_result",
        entity="payout_batch",
        entity_id=batch.id,
        after=after,
    )
    return BankResultRead(
        batch_id=batch.id,
        format=table.format,
        encoding=table.encoding,
        totals=totals,
        results=results,
        batch=summary(batch, await batch_entries(session, batch.id)),
    )


async def _return_payments(
    session: AsyncSession,
    principal: Principal,
    batch: PayoutBatch,
    returning: list[tuple[Line, PayoutEntry]],
) -> None:
    """Each returned payment reversed by a negative entry dated today, its claim back to
    `approved` with the bank's reason."""
    if not returning:
        return
    ids = sorted({entry.claim_id for _, entry in returning})
    query = select(Claim).where(Claim.id.in_(ids)).order_by(Claim.id).with_for_update()  # type: ignore[attr-defined]
    claims = {claim.id: claim for claim in await session.scalars(query)}
    on = today()
    for line, payment in returning:
        claim = claims[payment.claim_id]
        reason = payment.bank_reason or NO_REASON
        session.add(reversal_of(payment, batch, claim, on, principal, reason))
        add_event(
            session,
            claim,
            principal,
            "approved",
            f"payment returned by the bank: {reason}",
            details={
                "batch_id": batch.id,
                "entry_id": payment.id,
                "bank_line": payment.bank_line,
                "bank_reason": reason,
                "file_line": line.number,
            },
            payment=payment_of(payment, reason),
        )
        claim.paid_on = None


def _totals(results: list[BankResultLine]) -> BankResultTotals:
    count: dict[str, int] = defaultdict(int)
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for result in results:
        count[result.status] += 1
        amounts[result.status] += result.amount or Decimal("0")
    return BankResultTotals(
        lines=len(results),
        settled=count["settled"],
        returned=count["returned"],
        unchanged=count["unchanged"],
        unmatched=count["unmatched"],
        conflicts=count["conflict"],
        errors=count["error"],
        settled_amount=amounts["settled"],
        returned_amount=amounts["returned"],
    )
