"""The registry hop's share of a claim, read from the claims replicas' own Prometheus metrics
(each replica's port: /metrics is not served through the gateway): the time its calls to the
registry took (`mutualaid_upstream_request_duration_seconds`) against the time its
`POST /api/v1/claims` requests took (`mutualaid_http_request_duration_seconds`), over a load."""

import re

import httpx

_HOP = re.compile(
    r'^mutualaid_upstream_request_duration_seconds_(sum|count)\{outcome="ok",'
    r'service="claims",upstream="members"\} (\S+)$',
    re.MULTILINE,
)
_CLAIM = re.compile(
    r'^mutualaid_http_request_duration_seconds_(sum|count)\{method="POST",'
    r'route="/api/v1/claims",service="claims"\} (\S+)$',
    re.MULTILINE,
)
Totals = dict[str, float]


def _totals(text: str) -> Totals:
    totals = {"hop_sum": 0.0, "hop_count": 0.0, "claim_sum": 0.0, "claim_count": 0.0}
    for pattern, prefix in ((_HOP, "hop"), (_CLAIM, "claim")):
        for kind, value in pattern.findall(text):
            totals[f"{prefix}_{kind}"] += float(value)
    return totals


def snapshot(ports: list[int]) -> Totals:
    """The replicas' totals so far, added up."""
    summed: Totals = {}
    for port in ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for key, value in _totals(text).items():
            summed[key] = summed.get(key, 0.0) + value
    return summed


def since(ports: list[int], before: Totals) -> dict[str, float | None]:
    """Mean milliseconds of a registry call and of a claim in the claims service (from the
    request's arrival there to its answer), and the call's share, since `before`."""
    after = snapshot(ports)
    delta = {key: after[key] - before.get(key, 0.0) for key in after}
    if not delta["hop_count"] or not delta["claim_count"]:
        return {"registry_call_mean_ms": None, "claim_mean_ms": None, "registry_share": None}
    call = delta["hop_sum"] / delta["hop_count"]
    claim = delta["claim_sum"] / delta["claim_count"]
    return {
        "registry_call_mean_ms": round(call * 1000, 2),
        "claim_mean_ms": round(claim * 1000, 2),
        "registry_share": round(call / claim, 3),
    }
