"""`mutualaid demo`: a generated year shaped like the seed's 2023 report, loaded through the
public API of a running stack, so that the reports read the seed's own figures.

Nothing is inserted behind the API: units, workers and enrolments go through the registry
(batch enrolment per unit), each unit's payment for its enrolments is recorded by finance
before the year starts (both plans cover an enrolment only once it is paid), every claim is
filed with generated hospital facts (a third of the hospital stays in one settlement file,
services.stack.demo_settlement, the rest one by one), assessed by the payout engine, given the
papers its plan requires (small generated PNGs and PDFs, services.stack.papers), approved
(automatically under the plan's limit, by a reviewer above it) and paid by finance, onto a
bank card set for each paid worker. The claim facts are chosen so that the engine's payouts
add up to the seed's total: the last claim's bill is solved for the remainder.
"""

import asyncio
import random
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
from stdnum import luhn
from stdnum.cn import ric

from services.kit import clock
from services.kit.auth import issue_token
from services.kit.settings import ServiceSettings
from services.stack import papers
from services.stack.demo_settlement import SETTLEMENT_SHARE, import_stays
from services.stack.plans import benefit, plan_body

YEAR = 2023
PAID_ON = f"{YEAR - 1}-12-28"  # the units pay in December for the January cover
MED_UNITS, MED_PERSON_TIMES = 191, 14_598
MED_CLAIM_UNITS, MED_CLAIMANTS, MED_CLAIMS = 145, 661, 925
MED_TOTAL = Decimal("570647.91")  # 57.06万, and 570647.91 / 661 = 863.31 per worker
WOMEN_UNITS, WOMEN_PERSON_TIMES = 132, 4_173
REJECTED_IN_WAITING = 24
REGIONS = ("150102", "150103", "150104", "150105", "150121", "150122", "150123", "150124")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马胡朱郭何罗高林"
GIVEN = "芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"
# The papers each plan requires (DOMAIN.md, "Claim documents"); each claim's are generated
# (services.stack.papers), different bytes for every claim.
MED_PAPERS = ("invoice", "settlement_sheet", "discharge_summary")
WOMEN_PAPERS = ("diagnosis_certificate", "pathology_report")


def _year() -> dict[str, str]:
    """The demo year's cover, and its enrolment from the December before."""
    return {
        "coverage_start": f"{YEAR}-01-01",
        "coverage_end": f"{YEAR}-12-31",
        "enrol_from": f"{YEAR - 1}-12-01",
        "enrol_until": f"{YEAR}-12-31",
    }


def med_plan() -> dict[str, Any]:
    return plan_body(
        f"MED-{YEAR}",
        "hospital_reimbursement",
        **_year(),
        name=f"职工医疗互助保障活动 {YEAR}",
        eligibility={"min_age": 16, "max_age": 65},
        waiting_days=30,
        # Replayed years after the fact, so the filing window is ten years, not two.
        claim_deadline_days=3650,
        auto_approve_limit="1000.00",
        cover_requires_payment=True,
        required_documents=list(MED_PAPERS),
        benefit=benefit("hospital_reimbursement", base="out_of_pocket_in_policy"),
    )


def women_plan() -> dict[str, Any]:
    return plan_body(
        f"WOMEN-{YEAR}",
        "fixed_benefit",
        **_year(),
        name=f"女职工馨康互助保障活动 {YEAR}",
        contribution_per_share="30.00",
        waiting_days=90,
        claim_deadline_days=3650,
        cover_requires_payment=True,
        required_documents=list(WOMEN_PAPERS),
        benefit=benefit("fixed_benefit", ends_cover_after_payout=True),
    )


@dataclass
class People:
    """Valid, unique identity numbers and plausible names, from a seeded generator."""

    rng: random.Random
    used: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    """Each enrolled worker's name, by member id (a payout account is in the member's name)."""
    national_ids: dict[str, str] = field(default_factory=dict)
    """Each enrolled worker's identity number, by member id (the settlement file's key)."""

    def national_id(self, sex: str) -> str:
        while True:
            birth = date(1965, 1, 1) + timedelta(days=self.rng.randrange(0, 365 * 36))
            order = self.rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
            body = f"{self.rng.choice(REGIONS)}{birth:%Y%m%d}{order:03d}"
            number = body + ric.calc_check_digit(body + "0")  # the last character is ignored
            if number not in self.used:
                self.used.add(number)
                return number

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.sample(GIVEN, self.rng.choice((1, 2))))

    def phone(self) -> str:
        return f"13{self.rng.randrange(0, 10**9):09d}"


def split_total(rng: random.Random, total: int, parts: int, low: int) -> list[int]:
    """`parts` whole numbers, each at least `low`, adding up to `total`."""
    cuts = sorted(rng.sample(range(1, total - parts * (low - 1)), parts - 1))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total - parts * (low - 1)], strict=True)]
    return [size + low - 1 for size in sizes]


class Api:
    def __init__(self, client: httpx.AsyncClient, secret: str) -> None:
        self.client = client
        self.tokens = {
            role: {"Authorization": f"Bearer {issue_token(secret, role=role, sub=f'demo-{role}')}"}
            for role in ("admin", "reviewer", "finance", "auditor")
        }

    async def call(self, method: str, path: str, role: str = "admin", **kwargs: Any) -> Any:
        response = await self.client.request(method, path, headers=self.tokens[role], **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()


async def pay_for(
    api: Api, unit_id: str, plan: dict[str, Any], shares: int, reference: str
) -> None:
    """The unit's bank transfer for `shares` shares of the plan, recorded by finance."""
    amount = Decimal(plan["contribution_per_share"]) * shares
    await api.call(
        "POST",
        "/api/v1/contributions",
        role="finance",
        json={
            "unit_id": unit_id,
            "plan_code": plan["code"],
            "amount": str(amount),
            "paid_on": PAID_ON,
            "reference": f"DEMO-{plan['code']}-{reference}",
            "method": "bank_transfer",
        },
    )


async def _gather_limited(coroutines: list[Any], limit: int = 8) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(coroutine: Any) -> Any:
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(run(c) for c in coroutines))


async def enrol_units(
    api: Api, people: People, plan: dict[str, Any], units: int, person_times: int, sex: str | None
) -> list[tuple[str, list[str]]]:
    """Units with their enrolled members' ids, every unit enrolled in one batch request."""
    rng = people.rng
    sizes = split_total(rng, person_times, units, low=8)

    async def one_unit(index: int, size: int) -> tuple[str, list[str]]:
        headcount = max(size, round(size / rng.uniform(0.6, 1.0)))
        unit = await api.call(
            "POST",
            "/api/v1/units",
            json={
                "name": f"{plan['line']}示范单位{index + 1:03d}",
                "insured_headcount": headcount,
            },
        )
        rows = [
            {
                "national_id": people.national_id(sex or rng.choice("FM")),
                "name": people.name(),
                "phone": people.phone(),
                "shares": 1,
            }
            for _ in range(size)
        ]
        answer = await api.call(
            "POST",
            "/api/v1/enrollments/batch",
            json={
                "unit_id": unit["id"],
                "plan_code": plan["code"],
                "rows": rows,
                "enrolled_on": f"{YEAR - 1}-12-20",
            },
        )
        failed = [r for r in answer["results"] if r.get("status") != "ok"]
        if failed:
            raise RuntimeError(f"enrolment rows refused: {failed[:3]}")
        for row, result in zip(rows, answer["results"], strict=True):
            people.names[result["member_id"]] = row["name"]
            people.national_ids[result["member_id"]] = row["national_id"]
        await pay_for(api, unit["id"], plan, size, f"{index + 1:03d}")  # one share each
        return unit["id"], [r["member_id"] for r in answer["results"]]

    return await _gather_limited([one_unit(i, s) for i, s in enumerate(sizes)], limit=4)


def stay_facts(rng: random.Random, admitted: date, out_of_pocket: Decimal, tag: str) -> dict:
    insurance = (out_of_pocket * Decimal(rng.uniform(1.5, 4))).quantize(Decimal("0.01"))
    self_pay = Decimal(rng.randrange(0, 200_000)) / 100
    days = rng.randrange(2, 15)
    return {
        "admitted_on": admitted.isoformat(),
        "discharged_on": (admitted + timedelta(days=days)).isoformat(),
        "hospital": "内蒙古自治区人民医院",
        "diagnosis_codes": [rng.choice(["I10", "J18.9", "K35.8", "E11.9", "S72.0", "I63.9"])],
        "invoice_numbers": [f"DEMO{YEAR}-{tag}"],
        "total_cost": str(insurance + out_of_pocket + self_pay),
        "insurance_paid": str(insurance),
        "out_of_pocket_in_policy": str(out_of_pocket),
        "self_pay": str(self_pay),
    }


def plan_payouts(rng: random.Random, total: Decimal, count: int) -> list[Decimal]:
    """`count` payouts from 500.00 to 2,500.00 (one stay, first band) adding up to `total`.

    Each draw scatters around the mean of what is left, within bounds that keep the rest
    reachable, so the last payout is exactly the remainder and still a plausible bill."""
    low, high = Decimal("500.00"), Decimal("2500.00")
    payouts, left = [], total
    for remaining in range(count, 1, -1):
        mean = left / remaining
        floor = max(low, left - high * (remaining - 1))
        ceiling = min(high, left - low * (remaining - 1))
        draw = Decimal(str(round(rng.uniform(float(mean) * 0.55, float(mean) * 1.75), 2)))
        payout = min(max(draw, floor), ceiling)
        payouts.append(payout)
        left -= payout
    payouts.append(left)
    return payouts


def plan_med_claims(
    rng: random.Random, units: list[tuple[str, list[str]]]
) -> list[tuple[str, dict]]:
    """925 claims by 661 workers of 145 units whose payouts add up to MED_TOTAL exactly."""
    claim_units = rng.sample(units, MED_CLAIM_UNITS)
    claimants = [rng.choice(members) for _, members in claim_units]  # one per unit at least
    chosen = set(claimants)
    pool = [m for _, members in claim_units for m in members if m not in chosen]
    claimants += rng.sample(pool, MED_CLAIMANTS - MED_CLAIM_UNITS)
    per_member = [1] * MED_CLAIMANTS
    for index in rng.sample(range(MED_CLAIMANTS), MED_CLAIMS - MED_CLAIMANTS):
        per_member[index] += 1
    payouts = iter(plan_payouts(rng, MED_TOTAL, MED_CLAIMS))
    claims: list[tuple[str, dict]] = []
    for member, how_many in zip(claimants, per_member, strict=True):
        # Stays 45 days apart from March on: never overlapping, never in the waiting days.
        for visit in range(how_many):
            admitted = date(YEAR, 3, 1) + timedelta(days=visit * 45 + rng.randrange(0, 30))
            out_of_pocket = next(payouts) * 2  # below 5,000 the plan pays half
            tag = f"{len(claims) + 1:05d}"
            claims.append((member, stay_facts(rng, admitted, out_of_pocket, tag)))
    return claims


async def run_demo(base_url: str, secret: str, seed: int = 2023) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        return await load_demo(client, secret, seed)


async def load_demo(client: httpx.AsyncClient, secret: str, seed: int = 2023) -> dict[str, Any]:
    """Load the year through `client` (any base URL or transport); the two claims reports."""
    rng = random.Random(seed)
    people = People(rng)
    api = Api(client, secret)
    for plan in (med_plan(), women_plan()):
        await api.call("POST", "/api/v1/plans", json=plan)
    print("plans created; enrolling units...", file=sys.stderr)
    med_units = await enrol_units(api, people, med_plan(), MED_UNITS, MED_PERSON_TIMES, None)
    # Two of the women's person-times are the claimants, enrolled with their shares below.
    women_units = await enrol_units(
        api, people, women_plan(), WOMEN_UNITS, WOMEN_PERSON_TIMES - 2, "F"
    )
    print("enrolled; filing claims...", file=sys.stderr)
    payees = await file_med_claims(api, rng, people, med_units)
    payees += await file_women_claims(api, people, women_units)
    await set_payout_accounts(api, people, {member for _, member in payees}, seed + 1)
    approved = [claim_id for claim_id, _ in payees]
    for start in range(0, len(approved), 500):
        await api.call(
            "POST",
            "/api/v1/payouts",
            role="finance",
            json={
                "claim_ids": approved[start : start + 500],
                "paid_on": clock.today().isoformat(),
                "reference": f"DEMO-BATCH-{start // 500 + 1:02d}",
            },
        )
    return {
        plan: await api.call(
            "GET", "/api/v1/reports/claims", role="auditor", params={"plan_code": plan}
        )
        for plan in (f"MED-{YEAR}", f"WOMEN-{YEAR}")
    }


async def _file(
    api: Api, member: str, plan_code: str, facts: dict, kinds: tuple[str, ...] = ()
) -> dict:
    """File the claim, then upload the papers its plan requires (a claim refused at filing
    gets none): the answer is the claim as the last paper left it."""
    claim = await api.call(
        "POST", "/api/v1/claims", json={"member_id": member, "plan_code": plan_code, "facts": facts}
    )
    if claim["status"] != "needs_info":
        return claim
    for kind in kinds:
        content = (
            papers.pdf(f"{claim['id']}-{kind}")
            if kind != "invoice"
            else papers.png(f"{claim['id']}-{kind}")
        )
        paper = (f"{kind}.scan", content, "application/octet-stream")  # told by its bytes
        uploaded = await api.call(
            "POST",
            f"/api/v1/claims/{claim['id']}/documents",
            files={"file": paper},
            data={"kind": kind},
        )
    return {**claim, "status": uploaded["claim_status"]}


async def _approve_pending(api: Api, claims: list[dict]) -> list[tuple[str, str]]:
    """Approve the claims waiting for a reviewer: (claim id, member id) of every approved."""
    pending = [c["id"] for c in claims if c["status"] == "pending_review"]
    await _gather_limited(
        [
            api.call(
                "POST",
                f"/api/v1/claims/{claim_id}/decision",
                role="reviewer",
                json={"decision": "approve", "reason": "papers complete"},
            )
            for claim_id in pending
        ]
    )
    return [(c["id"], c["member_id"]) for c in claims if c["status"] in APPROVED_OR_PENDING]


APPROVED_OR_PENDING = ("approved", "pending_review")
BANKS = (
    ("622202", "中国工商银行", "呼和浩特新华支行"),
    ("621700", "中国建设银行", "呼和浩特分行营业部"),
    ("622848", "中国农业银行", "呼和浩特赛罕支行"),
    ("621661", "中国银行", None),
)


async def set_payout_accounts(api: Api, people: People, members: set[str], seed: int) -> None:
    """A bank card in each paid worker's name (a batch is refused for one without): a valid
    19-digit number (Luhn check digit) at one of four banks, from a generator of its own so
    that the year's other draws stay the seed's."""
    rng = random.Random(seed)

    def card(member: str) -> dict[str, Any]:
        prefix, bank, branch = rng.choice(BANKS)
        body = f"{prefix}{rng.randrange(10**11, 10**12)}"
        return {
            "account_name": people.names[member],
            "account_number": body + luhn.calc_check_digit(body),
            "bank_name": bank,
            "bank_branch": branch,
        }

    await _gather_limited(
        [
            api.call("PUT", f"/api/v1/members/{member}/payout-account", json=card(member))
            for member in sorted(members)
        ]
    )


async def file_med_claims(
    api: Api, rng: random.Random, people: People, units: list
) -> list[tuple[str, str]]:
    code = f"MED-{YEAR}"
    planned = plan_med_claims(rng, units)
    # Every third stay reaches the union as settlement data (no papers), the rest are filed.
    settled = [(people.national_ids[m], people.names[m], f) for m, f in planned[::SETTLEMENT_SHARE]]
    one_by_one = [p for i, p in enumerate(planned) if i % SETTLEMENT_SHARE]
    filed = await import_stays(api, code, settled)
    filed += await _gather_limited([_file(api, m, code, f, MED_PAPERS) for m, f in one_by_one])
    if any(c["status"] == "rejected" for c in filed):
        raise RuntimeError("a planned claim was refused: the generator and the rules disagree")
    # Claims inside the waiting days: refused automatically, as the rules say.
    early = rng.sample([m for _, members in units for m in members], REJECTED_IN_WAITING)
    await _gather_limited(
        [
            _file(
                api, member, code, stay_facts(rng, date(YEAR, 1, 10), Decimal("3000"), f"W{i:03d}")
            )
            for i, member in enumerate(early)
        ]
    )
    return await _approve_pending(api, filed)


async def file_women_claims(api: Api, people: People, units: list) -> list[tuple[str, str]]:
    """The seed's two payouts: 2 shares and 1 share of 10,000, each with 2,000 more."""
    plan = women_plan()
    code = plan["code"]
    unit_id, _ = units[0]
    claims = []
    for shares, icd10 in ((2, "C50.9"), (1, "C53.0")):
        national_id, name = people.national_id("F"), people.name()  # in the seed's order
        answer = await api.call(
            "POST",
            "/api/v1/enrollments/batch",
            json={
                "unit_id": unit_id,
                "plan_code": code,
                "enrolled_on": f"{YEAR - 1}-12-20",
                "rows": [
                    {
                        "national_id": national_id,
                        "name": name,
                        "phone": people.phone(),
                        "shares": shares,
                    }
                ],
            },
        )
        member = answer["results"][0]["member_id"]
        people.names[member] = name
        await pay_for(api, unit_id, plan, shares, f"CLAIMANT-{shares}")
        claims.append(
            await _file(
                api,
                member,
                code,
                {
                    "diagnosed_on": f"{YEAR}-08-{10 + shares:02d}",
                    "diagnosis_code": icd10,
                    "hospital": "内蒙古医科大学附属医院",
                    "pathology_report_no": f"BL{YEAR}{shares:04d}",
                },
                WOMEN_PAPERS,
            )
        )
    return await _approve_pending(api, claims)


def main(base_url: str) -> int:
    secret = ServiceSettings().jwt_secret.get_secret_value()
    reports = asyncio.run(run_demo(base_url, secret))
    for plan, report in reports.items():
        print(
            f"{plan}: units {report['units']}, claimants {report['claimants']}, "
            f"claims {report['claims']}, total paid {report['total_paid']}, "
            f"per claimant {report['average_per_claimant']}, largest {report['largest_payout']}"
        )
    return 0
