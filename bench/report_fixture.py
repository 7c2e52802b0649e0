"""A claims database of 1,000,000 claims for the claims-report bench.

The report only reads the `claim` table, so this fixture writes claim rows directly with
PostgreSQL COPY (asyncpg `copy_records_to_table`): filing a million claims through the API
would take hours and measure the submission path, which bench/run.py measures on its own.

The rows look like the service's own: five plan years of three plan lines (MED: hospital
reimbursement, DAILY: daily allowance, WOMEN: fixed benefit), 2,000 units, 200,000 workers;
statuses paid 72%, rejected 18% (automatic reasons, or a reviewer's), approved 5%,
pending_review 3%, withdrawn 2%; payouts from 200 to 20,000 yuan, paid 1 to 60 days after
filing; JSON facts, assessment and snapshots of the usual size (about 2 kB a row).

The secondary indexes are dropped during the load and made again from their own definitions
afterwards (what a bulk load does), then the table is analysed."""

import asyncio
import functools
import itertools
import random
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

YEARS = (2022, 2023, 2024, 2025, 2026)
LINES = (("MED", "hospital_reimbursement", 0.70), ("DAILY", "daily_allowance", 0.20))
LINES += (("WOMEN", "fixed_benefit", 0.10),)
STATUSES = (
    ("paid", 0.72),
    ("rejected", 0.18),
    ("approved", 0.05),
    ("pending_review", 0.03),
    ("withdrawn", 0.02),
)
REJECTIONS = (
    ('["below_threshold"]', 0.40),
    ('["waiting_period"]', 0.20),
    ("[]", 0.20),  # a reviewer's rejection: no automatic reason
    ('["not_enrolled"]', 0.10),
    ('["deadline_passed", "not_enrolled"]', 0.05),
    ('["duplicate_invoice"]', 0.05),
)
UNITS, MEMBERS = 2_000, 200_000
REPORT_PLAN = "MED-2025"
"""The plan whose report the bench times: a full year of the largest line."""

_TERMS = (
    '{{"kind": "{kind}", "coverage_start": "{year}-01-01", "coverage_end": "{year}-12-31", '
    '"enrol_from": "{prev}-12-01", "enrol_until": "{year}-12-31", '
    '"contribution_per_share": "36.00", "max_shares": 3, "eligibility": {{"sex": null, '
    '"min_age": 16, "max_age": 65}}, "waiting_days": 30, "reduced_days": 0, '
    '"reduced_ratio": "1", "renewal_grace_days": 0, "claim_deadline_days": 730, '
    '"auto_approve_limit": "1000.00", "benefit": {{"kind": "hospital_reimbursement", '
    '"base": "out_of_pocket_in_policy", "deductible": "0.00", "threshold": "1000.00", '
    '"bands": [{{"above": "0.00", "ratio": "0.5"}}, {{"above": "5000.00", "ratio": "0.6"}}], '
    '"band_mode": "progressive", "per_stay_cap_per_share": "10000.00", '
    '"term_cap_per_share": "20000.00", "max_claims_per_term": null}}}}'
)
_FACTS = (
    '{{"admitted_on": "{admitted}", "discharged_on": "{discharged}", "hospital": '
    '"内蒙古自治区人民医院", "diagnosis_codes": ["J18.9"], "invoice_numbers": ["INV-{n}"], '
    '"total_cost": "{total}", "insurance_paid": "{insurance}", '
    '"out_of_pocket_in_policy": "{oop}", "self_pay": "0.00"}}'
)
_ASSESSMENT = (
    '{{"payable": "{payable}", "lines": [{{"category": "submitted", "amount": "{total}", '
    '"ratio": null, "text": "total cost {total} = insurance paid {insurance} + out of pocket '
    'in policy {oop} + self pay 0.00"}}, {{"category": "eligible", "amount": "{oop}", '
    '"ratio": null, "text": "base (out of pocket in policy): {oop}, reaches the threshold '
    '1000.00 (not subtracted)"}}, {{"category": "deductible", "amount": "0.00", "ratio": null, '
    '"text": "deductible 0.00 per stay: {oop} - 0.00 = {oop}"}}, {{"category": "eligpercent", '
    '"amount": null, "ratio": "1", "text": "an event on {admitted} is after the periods ending '
    '{year}-01-30: full benefit (100%)"}}, {{"category": "benefit", "amount": "{payable}", '
    '"ratio": null, "text": "progressive bands: {oop} x 50% = {payable}; within the per-stay '
    "cap 10000.00 x 1 share = 10000.00 and the term cap left: 20000.00 x 1 share - 0.00 used "
    '= 20000.00; payable {payable}"}}], "reason_codes": {reasons}, "cap_left": "{left}", '
    '"rules_version": "{plan}@1", "benefit_ratio": "1", "group": null, "condition_code": null, '
    '"ends_cover": false, "usage": {{"used": "0.00", "claims_count": 0, "groups_paid": [], '
    '"cover_ended": false}}}}'
)
_COVER = (
    '{{"enrollment_id": "{enrollment}", "member_id": "{member}", "unit_id": "{unit}", '
    '"plan_code": "{plan}", "shares": 1, "starts_on": "{year}-01-01", "ends_on": "{year}-12-31", '
    '"waiting_ends_on": "{year}-01-30", "reduced_ends_on": null, "renewal": false, '
    '"member_left_on": null}}'
)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    point, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if point < total:
            return value
    return weighted[-1][0]


def _id(prefix: str, millisecond: int, rng: random.Random) -> str:
    """Shaped as services.kit.ids.new_id makes them: the time in ms, then 20 random hex digits."""
    return f"{prefix}_{millisecond:012x}{rng.getrandbits(80):020x}"


def rows(count: int, seed: int = 20260101) -> Iterator[tuple[Any, ...]]:
    """`count` claim rows, in the column order of COLUMNS."""
    rng = random.Random(seed)
    units = [_id("unt", 1_600_000_000_000 + i * 60_000, rng) for i in range(UNITS)]
    members = [
        (_id("mbr", 1_610_000_000_000 + i * 1_500, rng), units[i % UNITS]) for i in range(MEMBERS)
    ]
    plans = [
        (f"{line}-{year}", kind, year, weight / len(YEARS))
        for year in YEARS
        for line, kind, weight in LINES
    ]
    terms = {
        code: _TERMS.format(kind=kind, year=year, prev=year - 1) for code, kind, year, _ in plans
    }
    plan_choice = tuple((plan, weight) for *plan, weight in plans)
    created = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(count):
        code, kind, year = _pick(rng, plan_choice)
        member, unit = members[int(rng.random() ** 1.3 * MEMBERS)]  # some claim more often
        status = _pick(rng, STATUSES)
        admitted = date(year, 2, 1) + timedelta(days=rng.randrange(300))
        discharged = admitted + timedelta(days=rng.randrange(1, 15))
        filed = discharged + timedelta(days=rng.randrange(1, 40))
        oop_fen = int(rng.lognormvariate(8.6, 0.9) * 100) + 100_000
        payable_fen = min(oop_fen // 2, 1_000_000) if status != "rejected" else 0
        reasons = _pick(rng, REJECTIONS) if status == "rejected" else "[]"
        paid_on = filed + timedelta(days=rng.randrange(1, 61)) if status == "paid" else None
        oop, payable = f"{oop_fen / 100:.2f}", f"{payable_fen / 100:.2f}"
        insurance = f"{oop_fen * 2 / 100:.2f}"
        total = f"{oop_fen * 3 / 100:.2f}"
        left = f"{max(0, 2_000_000 - payable_fen) / 100:.2f}"
        enrollment = f"enr_{member[4:20]}{year}{member[24:]}"
        facts = _FACTS.format(
            admitted=admitted, discharged=discharged, n=n, total=total, insurance=insurance, oop=oop
        )
        assessment = _ASSESSMENT.format(
            payable=payable,
            total=total,
            insurance=insurance,
            oop=oop,
            admitted=admitted,
            year=year,
            reasons=reasons,
            left=left,
            plan=code,
        )
        cover = _COVER.format(enrollment=enrollment, member=member, unit=unit, plan=code, year=year)
        approved = status in ("paid", "approved")
        yield (
            _id("clm", 1_640_000_000_000 + n * 150_000, rng),
            member,
            unit,
            code,
            kind,
            enrollment,
            status,
            admitted,
            discharged,
            filed,
            facts,
            facts,
            payable_fen,
            assessment,
            reasons,
            terms[code],
            cover,
            f"{code}@1",
            "bench-member",
            "system" if approved else None,
            created if approved else None,
            paid_on,
            created,
            created,
        )


COLUMNS = (
    "id",
    "member_id",
    "unit_id",
    "plan_code",
    "kind",
    "enrollment_id",
    "status",
    "event_on",
    "end_on",
    "filed_on",
    "facts",
    "original_facts",
    "payable",
    "assessment",
    "reason_codes",
    "terms_snapshot",
    "cover_snapshot",
    "rules_version",
    "submitted_by",
    "approved_by",
    "approved_at",
    "paid_on",
    "created_at",
    "updated_at",
)


def _take(source: Iterator[tuple[Any, ...]], size: int) -> list[tuple[Any, ...]]:
    return list(itertools.islice(source, size))


async def load(url: str, count: int, *, batch: int = 50_000) -> dict[str, Any]:
    """COPY `count` claims into the (empty, migrated) claims database at `url`; returns how
    long it took and how many claims the report's plan has."""
    connection = await asyncpg.connect(url)
    try:
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'claim' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        started = time.perf_counter()
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        # The next batch is made in a thread while the server takes the current one.
        source = rows(count)
        make = functools.partial(_take, source, batch)
        pending = await asyncio.to_thread(make)
        while pending:
            following = asyncio.create_task(asyncio.to_thread(make))
            await connection.copy_records_to_table("claim", records=pending, columns=COLUMNS)
            pending = await following
        copied = time.perf_counter() - started
        for index in indexes:
            await connection.execute(index["indexdef"])
        await connection.execute("VACUUM (ANALYZE) claim")
        plan_rows = await connection.fetchrow(
            "SELECT count(*) AS claims, count(*) FILTER (WHERE status = 'paid') AS paid "
            "FROM claim WHERE plan_code = $1",
            REPORT_PLAN,
        )
        return {
            "claims": count,
            "copy_seconds": round(copied, 1),
            "load_seconds": round(time.perf_counter() - started, 1),
            "report_plan": REPORT_PLAN,
            "report_plan_claims": plan_rows["claims"],
            "report_plan_paid_claims": plan_rows["paid"],
        }
    finally:
        await connection.close()
