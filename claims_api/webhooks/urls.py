"""Where the claims service may POST to: a subscription's URL is checked when it is given and
again before each delivery (`check_destination`), so that a webhook is never a way to reach
the union's own network (SSRF), even through a name that resolved elsewhere when it was
subscribed (DNS rebinding).

- `https`; `http` only to this machine (127.0.0.0/8, ::1, localhost) and only outside
  production (a receiver under development).
- No user name or password in the URL (credentials would be stored and logged as part of it).
- An IP address given literally is refused when it is not a public unicast address: private,
  loopback (outside development), link-local, multicast, reserved, unspecified, shared CGNAT
  space (100.64.0.0/10), and IPv6 forms that embed such an IPv4 address (IPv4-mapped, 6to4,
  NAT64, Teredo). A host name whose last label is a number is an address in disguise
  (`2130706433`, `0x7f.1`) and refused.
- In production a host name is resolved (in one of a few threads of its own, off the event
  loop) and refused when any of its addresses is; a name that does not resolve is refused
  too. The refusal says "a non-public address" only: which internal address a name points at
  is logged, never answered. An attempt connects to the address checked
  (claims_api.webhooks.delivery.pinned): no second lookup a rebinding name could answer.
- At most 2,000 characters; any port."""

import asyncio
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx
import structlog

log = structlog.get_logger("mutualaid.webhooks")

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_SECONDS = 5.0
LOOPBACK_NAMES = ("localhost",)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")

RESOLVER_THREADS = 4
# Lookups have threads of their own: a timed-out getaddrinfo cannot be stopped and holds its
# thread until the system resolver gives up, so hung names must never fill the loop's default
# pool (what asyncio.to_thread and the rest of the service use). Past these few, lookups wait
# their turn and time out as "does not resolve".
_resolver_threads = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="webhook-dns")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
getaddrinfo = socket.getaddrinfo
"""The resolver (a module attribute: the unit tests of this module give their own)."""


class DestinationRefused(ValueError):
    """Why a URL is not a destination webhooks may be sent to (the message names the rule)."""


def _production(settings: Any) -> bool:
    return getattr(settings, "environment", "production") == "production"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_of_address(address: IPAddress, *, loopback_allowed: bool) -> str | None:
    """Why webhooks may not go to `address`, or None when they may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            why = refusal_of_address(embedded, loopback_allowed=loopback_allowed)
            return f"it embeds {embedded}: {why}" if why else None
    if address.is_loopback:
        return None if loopback_allowed else "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a shared (CGNAT) address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone is no way around it
    except ValueError:
        return None


def _is_loopback_name(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


def _parts(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(f"a URL has at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise DestinationRefused("a URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError as error:
        raise DestinationRefused(f"not a URL: {error}") from None
    if parts.scheme.lower() not in ("https", "http"):
        raise DestinationRefused("the URL must be https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise DestinationRefused("a URL with a user name or password is refused")
    if not parts.hostname:
        raise DestinationRefused("the URL names no host")
    return parts


def check_url(url: str, settings: Any) -> str:
    """What can be told without asking DNS: the URL's form, its scheme, a literal address.
    Answers the host (lower case, without brackets). Raises DestinationRefused."""
    parts = _parts(url)
    host = (parts.hostname or "").rstrip(".").lower()
    production = _production(settings)
    address = _literal_address(host)
    local = (address is not None and address.is_loopback) or _is_loopback_name(host)
    if parts.scheme.lower() == "http" and (production or not local):
        raise DestinationRefused(
            "the URL must be https (http only to this machine, outside production)"
        )
    if address is not None:
        why = refusal_of_address(address, loopback_allowed=not production)
        if why:
            raise DestinationRefused(f"the host {host} is {why}")
        return host
    if _is_loopback_name(host):
        if production:
            raise DestinationRefused(f"the host {host} is this machine")
        return host
    if not _httpx_accepts(url):
        raise DestinationRefused(f"the host {host!r} is not a valid host name")
    last = host.rsplit(".", 1)[-1]
    if last.isdigit() or last.startswith("0x"):
        raise DestinationRefused(f"the host {host} is a numeric address in another spelling")
    return host


def _httpx_accepts(url: str) -> bool:
    """Whether the client can send to the URL's host: httpx encodes names with the `idna`
    package (IDNA 2008), which refuses names Python's own codec (IDNA 2003) takes (`i❤.ws`,
    `☃.net`) and decodes `xn--` labels (`xn--a.com` is no valid one). Checked as httpx does,
    so that no URL is accepted here that every attempt would fail to send to."""
    try:
        httpx.URL(url).host  # noqa: B018  (decoding an `xn--` label raises)
    except (httpx.InvalidURL, UnicodeError, ValueError):
        return False
    return True


def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def check_destination(url: str, settings: Any) -> list[IPAddress]:
    """Raise DestinationRefused unless webhooks may be POSTed to `url` now: `check_url`, and in
    production every address its host resolves to (checked again before each delivery: the
    name may point elsewhere by then). Answers the addresses checked, for the attempt to
    connect to (no second lookup between check and connect); none when nothing was looked up
    (a literal address, or outside production)."""
    host = check_url(url, settings)
    if not _production(settings) or _literal_address(host) is not None:
        return []
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        addresses = await asyncio.wait_for(
            loop.run_in_executor(_resolver_threads, _resolve, host, port),
            RESOLVE_TIMEOUT_SECONDS,
        )
    except (OSError, TimeoutError, UnicodeError):
        raise DestinationRefused(f"the host {host} does not resolve") from None
    if not addresses:
        raise DestinationRefused(f"the host {host} does not resolve")
    for address in addresses:
        why = refusal_of_address(address, loopback_allowed=False)
        if why:
            # which address, and why, is the network's own business: told to the log only,
            # never to the client (the 422) nor to hr (the attempt log)
            log.warning("webhook_destination_refused", host=host, address=str(address), reason=why)
            raise DestinationRefused(f"the host {host} resolves to a non-public address")
    return addresses
