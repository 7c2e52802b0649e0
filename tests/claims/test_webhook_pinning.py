"""An attempt connects to the address its destination check approved (DNS rebinding): the
request goes to that address, while the receiver still sees its name in the Host header and
in TLS (SNI, the certificate's check)."""

import ipaddress

import httpx

from claims_api.settings import ClaimsSettings
from claims_api.webhooks.delivery import pinned, webhook_client
from tests.webhook_receiver import WebhookReceiver


def test_the_name_stays_in_host_and_tls_while_the_address_is_connected_to() -> None:
    to = pinned("https://hooks.example.com:8443/in?unit=1", ipaddress.ip_address("93.184.216.34"))
    assert str(to.url) == "https://93.184.216.34:8443/in?unit=1"
    assert to.headers == {"host": "hooks.example.com:8443"}
    assert to.extensions == {"sni_hostname": "hooks.example.com"}
    v6 = pinned("https://hooks.example.com/in", ipaddress.ip_address("2606:2800::1"))
    assert str(v6.url) == "https://[2606:2800::1]/in" and v6.headers["host"] == "hooks.example.com"
    assert pinned("https://hooks.example.com/in", None).headers == {}


async def test_a_pinned_request_never_asks_dns_again(webhook_receiver: WebhookReceiver) -> None:
    # `.invalid` resolves nowhere (RFC 6761): it arrives only through the address pinned
    url = f"http://hooks.invalid:{webhook_receiver.port}/pinned"
    to = pinned(url, ipaddress.ip_address("127.0.0.1"))
    settings = ClaimsSettings(database_url="sqlite+aiosqlite://", environment="test")
    async with webhook_client(settings) as client:
        answer = await client.post(to.url, content=b"{}", headers=to.headers)
    assert answer.status_code == 200
    [received] = webhook_receiver.requests_to("/pinned")
    assert received.headers["host"] == f"hooks.invalid:{webhook_receiver.port}"
    assert httpx.URL(url).host == "hooks.invalid"
