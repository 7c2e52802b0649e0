"""Payout accounts (代发): each member's bank card, set by the member, its unit's hr or admin,
read masked by every other role that may read the member, and read in full, many at once,
for a payment batch (the claims service, with finance's token).

Every change is audited here, the card number masked in the log as in every answer but the
ones above: auditors read the log."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.audit import audit
from members_api.bulk import among, dialect_of, row_error
from members_api.models import Member, PayoutAccount
from members_api.payout_accounts import checks
from members_api.payout_accounts.schemas import (
    LookedUpAccount,
    PayoutAccountRead,
    PayoutAccountSet,
    PayoutAccountsFound,
)
from members_api.problems import ACCOUNT_NAME_MISMATCH, ACCOUNT_NUMBER_INVALID
from services.kit.auth import Principal, Role
from services.kit.clock import now
from services.kit.errors import NotFound, Problem
from services.kit.ids import new_id

_PROBLEMS = {"account_name": ACCOUNT_NAME_MISMATCH, "account_number": ACCOUNT_NUMBER_INVALID}
_COLUMNS = ("account_name", "account_number", "bank_name", "bank_branch")


def code_of(problem: checks.AccountProblem) -> str:
    return _PROBLEMS[problem.field].code


def refusal(problem: checks.AccountProblem) -> Problem:
    """The 422 naming the field, with the code of the check that refused it."""
    kind = _PROBLEMS[problem.field]
    return kind.error(
        f"{problem.field}: {problem.msg}",
        errors=[row_error(problem.field, problem.msg, kind.code)],
    )


def sees_full_account(principal: Principal, member: Member) -> bool:
    """The member itself, its unit's hr and admin; every other reader sees it masked."""
    if principal.role == Role.admin:
        return True
    if principal.role == Role.hr:
        return member.unit_id == principal.unit_id
    return principal.role == Role.member and member.id == principal.member_id


def values(account: PayoutAccount) -> dict[str, Any]:
    return {name: getattr(account, name) for name in _COLUMNS}


def audit_values(account_values: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the audit log keeps of an account: its number always masked."""
    if account_values is None:
        return None
    masked = dict(account_values)
    masked["account_number"] = checks.mask_account_number(masked["account_number"])
    return masked


def account_read(principal: Principal, member: Member, account: PayoutAccount) -> PayoutAccountRead:
    read = PayoutAccountRead.model_validate(account)
    if not sees_full_account(principal, member):
        masked = checks.mask_account_number(account.account_number)
        read = read.model_copy(update={"account_number": masked})
    return read


async def _account(session: AsyncSession, member: Member, *, lock: bool = False) -> PayoutAccount:
    query = select(PayoutAccount).where(PayoutAccount.member_id == member.id)
    account = await session.scalar(query.with_for_update() if lock else query)
    if account is None:
        raise NotFound(f"member {member.id} has no payout account")
    return account


async def get_account(
    session: AsyncSession, principal: Principal, member: Member
) -> PayoutAccountRead:
    """`member`: looked up by the route first, so another unit's or member's is 404."""
    return account_read(principal, member, await _account(session, member))


def checked(data: PayoutAccountSet, member_name: str) -> dict[str, Any]:
    """The account's stored values, or the 422 of the first check that refuses it."""
    try:
        return {
            "account_name": checks.account_name(data.account_name, member_name),
            "account_number": checks.account_number(data.account_number),
            "bank_name": data.bank_name,
            "bank_branch": data.bank_branch,
        }
    except checks.AccountProblem as problem:
        raise refusal(problem) from None


async def set_account(
    session: AsyncSession, principal: Principal, member: Member, data: PayoutAccountSet
) -> PayoutAccountRead:
    """Create or replace the member's account (PUT: the same body twice changes nothing the
    second time, and records nothing). `member`: looked up by the route first (404 for
    another's); the caller may set it (services.kit.access)."""
    wanted = checked(data, member.name)
    # The member's row is the lock: two changes of one member's account queue (and the
    # first account of a member is inserted once).
    await session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    account = await session.get(PayoutAccount, member.id)
    before = values(account) if account is not None else None
    if before == wanted:
        assert account is not None
        return account_read(principal, member, account)
    if account is None:
        account = PayoutAccount(member_id=member.id)
        session.add(account)
    await _change(session, principal, account, before, wanted)
    return account_read(principal, member, account)


async def _change(
    session: AsyncSession,
    principal: Principal,
    account: PayoutAccount,
    before: dict[str, Any] | None,
    changes: dict[str, Any],
) -> None:
    """Write `changes` to the account and audit them, the number masked."""
    for name, value in changes.items():
        setattr(account, name, value)
    account.updated_at, account.updated_by = now(), principal.sub
    await session.flush()
    await audit.record(
        session,
        principal,
        action="payout_account.set",
        entity="payout_account",
        entity_id=account.member_id,
        before=audit_values(before),
        after=audit_values(values(account)),
    )


async def follow_member_name(session: AsyncSession, principal: Principal, member: Member) -> None:
    """The member's name was corrected: its card's holder is the member, so the account's name
    follows (a payment to the old name would be refused by the bank), audited as a change."""
    account = await session.get(PayoutAccount, member.id)
    if account is None or account.account_name == checks.normal_name(member.name):
        return
    name = {"account_name": checks.normal_name(member.name)}
    await _change(session, principal, account, values(account), name)


async def delete_account(session: AsyncSession, principal: Principal, member: Member) -> None:
    """404 when the member has none."""
    account = await _account(session, member, lock=True)
    before = values(account)
    await session.delete(account)
    await session.flush()
    await audit.record(
        session,
        principal,
        action="payout_account.delete",
        entity="payout_account",
        entity_id=member.id,
        before=audit_values(before),
    )


async def lookup(
    session: AsyncSession, principal: Principal, member_ids: Sequence[str]
) -> PayoutAccountsFound:
    """The accounts of `member_ids` in full, in one query, for a payment batch; the members
    without one (or unknown) are `missing`. Reading full card numbers is recorded: one audit
    event per lookup (entity payout_account_lookup), naming the members whose numbers were
    read."""
    found: dict[str, PayoutAccount] = {}
    if member_ids:
        dialect = await dialect_of(session)
        query = select(PayoutAccount).where(
            among(PayoutAccount.member_id, member_ids, dialect)  # type: ignore[arg-type]
        )
        found = {account.member_id: account for account in await session.scalars(query)}
    accounts = [
        LookedUpAccount(member_id=member_id, **values(found[member_id]))
        for member_id in member_ids
        if member_id in found
    ]
    missing = [member_id for member_id in member_ids if member_id not in found]
    await audit.record(
        session,
        principal,
        action="payout_account.lookup",
        entity="payout_account_lookup",
        entity_id=new_id("pal"),
        after={
            "requested": len(member_ids),
            "count": len(accounts),
            "missing": len(missing),
            "member_ids": [account.member_id for account in accounts],
        },
    )
    return PayoutAccountsFound(accounts=accounts, missing=missing)
