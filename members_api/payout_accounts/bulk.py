"""Payout accounts set by the batch enrolment and the import (optional columns 银行卡号 /
开户行, JSON `account_number` / `bank_name`), in the same pass as the enrolments.

A row's card is checked with the row (members_api.payout_accounts.checks): a bad number, or a
number without its bank (or a bank without a number), is that row's error and the row is not
enrolled. The holder is the member: its name as registered (a new member: the row's name).
An `ok` row with a card sets its member's account: a card the member has already (same
number, bank and name) changes nothing, another replaces it (without a branch).

Set-based: the members' accounts are read once (only when some row has a card), the new ones
written by COPY (Postgres; executemany elsewhere), the replaced ones by one executemany per
chunk. A member the batch registers gets its account with its record, both counted in the
batch's audit event; an account of a member registered before is audited one event per
member, as a PUT is (record_many), the number masked."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.audit import audit
from members_api.bulk import BulkInsert, RowErrors, among, chunks, dialect_of, row_error
from members_api.models import PayoutAccount
from members_api.payout_accounts import checks
from members_api.payout_accounts.schemas import CardNumberText
from members_api.payout_accounts.service import audit_values, code_of
from services.kit.auth import Principal
from services.kit.text import NameText

Card = tuple[str, str]
"""(compact number, bank name) of a row."""
Stored = tuple[str, str, str, str | None]
"""(account_name, account_number, bank_name, bank_branch) of an account on file."""

COLUMNS = (
    "member_id",
    "account_name",
    "account_number",
    "bank_name",
    "bank_branch",
    "updated_at",
    "updated_by",
)
PARTIAL = {"account_number": TypeAdapter(CardNumberText), "bank_name": TypeAdapter(NameText)}
"""For a row that is bad elsewhere: its card is still checked, so every error is listed."""
_accounts = PayoutAccount.__table__  # type: ignore[attr-defined]


def row_card(raw: Any, number: str | None, bank_name: str | None) -> tuple[Card | None, RowErrors]:
    """The row's card, or its errors. `number` and `bank_name`: the row's fields if they are
    valid text (else the row's validation has named them already)."""
    if not isinstance(raw, Mapping):
        return None, []
    has_number, has_bank = raw.get("account_number") is not None, raw.get("bank_name") is not None
    if not has_number and not has_bank:
        return None, []
    errors: RowErrors = []
    if not has_bank:
        errors.append(row_error("bank_name", "required with a card number (开户行)"))
    if not has_number:
        errors.append(
            row_error("account_number", "a bank without a card number (银行卡号): give both")
        )
    compact = None
    if number is not None:
        try:
            compact = checks.account_number(number)
        except checks.AccountProblem as problem:
            errors.append(row_error(problem.field, problem.msg, code_of(problem)))
    if errors or compact is None or bank_name is None:
        return None, errors
    return (compact, bank_name), []


def any_card(raw_rows: Sequence[tuple[int, Any]]) -> bool:
    return any(isinstance(raw, Mapping) and raw.get("account_number") for _, raw in raw_rows)


async def stored_accounts(session: AsyncSession, member_ids: Sequence[str]) -> dict[str, Stored]:
    """The accounts on file of `member_ids`, a query per chunk."""
    a, dialect = _accounts.c, await dialect_of(session)
    stored: dict[str, Stored] = {}
    for chunk in chunks(member_ids):
        query = select(
            a.member_id, a.account_name, a.account_number, a.bank_name, a.bank_branch
        ).where(among(a.member_id, chunk, dialect))
        for row in await session.execute(query):
            stored[row.member_id] = (
                row.account_name,
                row.account_number,
                row.bank_name,
                row.bank_branch,
            )
    return stored


class BatchAccounts:
    """The accounts a batch sets, planned row by row (pure), written once at the end."""

    def __init__(self, stored: dict[str, Stored], at: datetime, by: str) -> None:
        self.stored, self.at, self.by = stored, at, by
        self.new: list[tuple[Any, ...]] = []
        self.replaced: list[dict[str, Any]] = []
        self.changes: list[tuple[str, Any, Any]] = []
        self.unchanged = 0

    def plan(self, member_id: str, member_name: str, card: Card, *, registered: bool) -> None:
        """`registered`: the member was registered before this batch (its account's change
        is audited on its own)."""
        number, bank_name = card
        name = checks.normal_name(member_name)
        before = self.stored.get(member_id)
        if before is not None and before[:3] == (name, number, bank_name):
            self.unchanged += 1
            return
        after = dict(zip(COLUMNS[1:5], (name, number, bank_name, None), strict=True))
        if before is None:
            self.new.append((member_id, name, number, bank_name, None, self.at, self.by))
        else:
            self.replaced.append({"key": member_id, **after})
        if registered:
            was = dict(zip(COLUMNS[1:5], before, strict=True)) if before else None
            self.changes.append((member_id, audit_values(was), audit_values(after)))

    def summary(self) -> dict[str, int]:
        return {"set": len(self.new) + len(self.replaced), "unchanged": self.unchanged}

    async def write(self, session: AsyncSession, principal: Principal) -> None:
        """After the batch's members are written (an account's key is its member's)."""
        if self.new:
            insert = BulkInsert(_accounts, COLUMNS, (await session.connection()).dialect)
            await insert.write(session, insert.prepare(self.new))
        if self.replaced:
            a = _accounts.c
            replace = (
                update(_accounts)
                .where(a.member_id == bindparam("key"))
                .values(updated_at=self.at, updated_by=self.by)
            )
            for chunk in chunks(self.replaced):
                await (await session.connection()).execute(replace, list(chunk))
        if self.changes:
            await audit.record_many(
                session,
                principal,
                action="payout_account.set",
                entity="payout_account",
                changes=self.changes,
            )
