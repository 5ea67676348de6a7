"""TangoGiftCards against Tango Card's own RaaS v2 Swagger document (Prism): the order and the lookup we
send are ones Tango's contract accepts, with basic auth. (Prism drops the spec's basePath: it serves
`/orders`, not `/raas/v2/orders`. Its answers are schema placeholders, so the error paths and the
redemption link are tested against tests/support/tango_stub.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from providers.errors import ProviderRejected
from providers.gift_cards.tango import TangoGiftCards
from tests.support.prism import SPECS, prism_mock, request_violations

TANGO_SPEC = SPECS / "tangocard_raas_v2.json"


@pytest.fixture(scope="module")
def prism_tango(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prism_mock(TANGO_SPEC, tmp_path_factory.mktemp("prism") / "tango.log") as url:
        yield url


class Recorder:
    def __init__(self) -> None:
        self.answers: list[httpx.Response] = []

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        self.answers.append(response)


def cards(base_url: str, recorder: Recorder, key: str = "platform-key") -> TangoGiftCards:
    hooks: dict[str, list[Any]] = {"response": [recorder]}
    return TangoGiftCards(base_url, "makeright", key, "acct-1", "cust-1", "U561593", event_hooks=hooks)


def test_the_order_is_one_tango_accepts(prism_tango: str) -> None:
    recorder = Recorder()
    order = cards(prism_tango, recorder).place("mr-case-1-comp", Decimal("10.00"))
    (answer,) = recorder.answers
    assert answer.request.method == "POST" and answer.request.url.path == "/orders"
    assert answer.request.headers["authorization"].startswith("Basic ")
    assert answer.status_code == 201, answer.text
    assert request_violations(answer.headers) == []
    assert "referenceOrderID" in order and "reward" in order


def test_the_lookup_by_external_ref_is_one_tango_accepts(prism_tango: str) -> None:
    recorder = Recorder()
    found = cards(prism_tango, recorder).find("mr-case-1-comp")
    answer = recorder.answers[0]
    assert answer.request.method == "GET" and answer.request.url.path == "/orders"
    assert answer.request.url.params["externalRefID"] == "mr-case-1-comp"
    assert answer.status_code == 200, answer.text
    assert request_violations(answer.headers) == []
    # Prism's placeholder order has externalRefID "string": not ours, so nothing was found
    assert found is None


def test_an_order_without_a_redemption_link_is_refused_not_retried(prism_tango: str) -> None:
    """The placeholder reward has no link credential: a reward the patient could not be sent."""
    with pytest.raises(ApplicationError) as caught:
        cards(prism_tango, Recorder()).order("mr-case-1-comp", Decimal("10.00"), "USD")
    assert caught.value.type == "ProviderRejected" and caught.value.non_retryable
    assert "redemption link" in caught.value.message


def test_without_credentials_tango_refuses(prism_tango: str) -> None:
    client = httpx.Client(base_url=prism_tango)
    body = {
        "accountIdentifier": "a",
        "customerIdentifier": "c",
        "utid": "U1",
        "amount": 10,
        "sendEmail": False,
    }
    assert client.post("/orders", json=body).status_code == 401


def test_a_malformed_order_is_a_final_refusal(prism_tango: str) -> None:
    class Incomplete(TangoGiftCards):
        def place(self, external_ref: str, amount: Decimal) -> dict[str, Any]:
            from providers.gift_cards.tango import _json

            return _json(self.client.post("/orders", json={"externalRefID": external_ref}), "POST /orders")

    incomplete = Incomplete(prism_tango, "makeright", "k", "a", "c", "U1")
    with pytest.raises(ProviderRejected) as caught:
        incomplete.order("mr-case-2-comp", Decimal("10.00"), "USD")
    assert 400 <= caught.value.status < 500
