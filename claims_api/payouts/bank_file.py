"""The bank's disbursement file of a batch (代发文件): what finance uploads to the bank's 代发
service so that each worker's card is credited.

One line per standing payment of the batch (a returned or reversed one is left out), in the
order of the batch's claims, then a closing line:

    序号,户名,账号,开户行,金额,用途
    1,王芳,6222021234567890128,中国工商银行 呼和浩特新华支行,4000.00,互助金 MED1-2026 clm_...
    合计,1,,,4000.00,

- 序号: the payment's line in the batch (`bank_line`), the same in every download: a line
  left out (returned) leaves its number unused, so a result file's 序号 always means one entry;
- 户名, 账号: the account the payment went to, as recorded on the entry (the full number: the
  only place it is shown unmasked); 开户行: the bank and, when known, its branch;
- 金额: yuan with two decimals, as text (a spreadsheet keeps no thousands separator, and an
  account number stays 19 digits instead of becoming a float);
- 用途: `互助金`, the plan's code and the claim's id, which the bank shows on the statement;
- the closing line: 合计 in 序号's column, the number of lines in 户名's, the total in 金额's.

CSV in GB18030 (what banks' systems take) with CRLF line endings, no BOM; or XLSX, one sheet
of text cells. Every cell goes through services.kit.exports (nothing becomes a formula).
Every download is in the audit log, with the file's SHA-256."""

import hashlib
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.audit import audit
from claims_api.models import PayoutEntry
from claims_api.payouts.service import get_batch
from claims_api.problems import BANK_FILE_EMPTY
from services.kit.auth import Principal
from services.kit.exports import XLSX_TYPE, Sheet, csv_bytes, workbook

HEADERS = ("序号", "户名", "账号", "开户行", "金额", "用途")
CLOSING = "合计"
PURPOSE = "互助金"
BankFormat = Literal["csv", "xlsx"]


@dataclass(frozen=True)
class BankFile:
    content: bytes
    media_type: str
    filename: str


def purpose(entry: Any) -> str:
    return f"{PURPOSE} {entry.plan_code} {entry.claim_id}"


def bank_of(entry: Any) -> str:
    return " ".join(part for part in (entry.bank_name, entry.bank_branch) if part)


async def standing_payments(session: AsyncSession, batch_id: str) -> list[Any]:
    """The batch's payments still to be sent: no reversal has taken them back and the bank
    has not settled them (a file downloaded again after the bank's answer must not pay
    twice), in the file's order; rows of what the file shows (not ORM entries: 10,000 of
    those cost more than the file)."""
    reversed_ids = select(PayoutEntry.reverses_entry_id).where(
        PayoutEntry.batch_id == batch_id,
        PayoutEntry.reverses_entry_id.is_not(None),  # type: ignore[union-attr]
    )
    query = (
        select(*_SHOWN)
        .where(
            PayoutEntry.batch_id == batch_id,
            PayoutEntry.entry_kind == "payment",
            PayoutEntry.bank_status == "sent",
            PayoutEntry.id.not_in(reversed_ids),  # type: ignore[attr-defined]
        )
        .order_by(PayoutEntry.bank_line, PayoutEntry.id)
    )
    return list(await session.execute(query))


_SHOWN = (
    PayoutEntry.bank_line,
    PayoutEntry.account_name,
    PayoutEntry.account_number,
    PayoutEntry.bank_name,
    PayoutEntry.bank_branch,
    PayoutEntry.amount,
    PayoutEntry.plan_code,
    PayoutEntry.claim_id,
)


def lines(payments: list[Any]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = [
        (
            entry.bank_line,
            entry.account_name,
            entry.account_number,
            bank_of(entry),
            f"{entry.amount:.2f}",
            purpose(entry),
        )
        for entry in payments
    ]
    total = sum((entry.amount for entry in payments), Decimal("0.00"))
    rows.append((CLOSING, len(payments), None, None, f"{total:.2f}", None))
    return rows


def render(batch_id: str, payments: list[Any], fmt: BankFormat) -> BankFile:
    rows = lines(payments)
    name = f"payout-{batch_id}-bank-file"
    if fmt == "csv":
        return BankFile(
            csv_bytes(HEADERS, rows, encoding="gb18030"),
            "text/csv; charset=gb18030",
            f"{name}.csv",
        )
    book = workbook([Sheet("代发", HEADERS, rows)])
    sheet = book.active
    assert sheet is not None
    for column, width in zip("ABCDEF", (8, 12, 24, 30, 14, 50), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return BankFile(buffer.getvalue(), XLSX_TYPE, f"{name}.xlsx")


async def bank_file(
    session: AsyncSession, principal: Principal, batch_id: str, fmt: BankFormat
) -> BankFile:
    batch = await get_batch(session, principal, batch_id)
    payments = await standing_payments(session, batch.id)
    if not payments:
        raise BANK_FILE_EMPTY.error(
            f"every payment of batch {batch.id} has the bank's answer or is reversed: "
            "there is nothing to send"
        )
    made = render(batch.id, payments, fmt)
    await audit.record(
        session,
        principal,
        action="payout.bank_file",
        entity="payout_batch",
        entity_id=batch.id,
        after={
            "format": fmt,
            "lines": len(payments),
            "total": str(sum((entry.amount for entry in payments), Decimal("0.00"))),
            "sha256": hashlib.sha256(made.content).hexdigest(),
        },
    )
    return made
