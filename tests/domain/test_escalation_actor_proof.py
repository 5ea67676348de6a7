"""domain.escalation's actor proof: what the web tier signs and the worker checks (check_proof)."""

from __future__ import annotations

import pytest

from domain import escalation as rules
from domain.escalation import Actor, ApproveRequest, ByActor, Money, Refusal

NOW = 1_800_000_000.0
ESC = "esc-case-1-1"
REP = Actor(user="rita", role="rep")


def refusal(
    request: object, secrets: tuple[str, ...] = ("s1",), update: str = "claim", now: float = NOW
) -> str:
    with pytest.raises(Refusal) as caught:
        rules.check_proof(secrets, ESC, update, request, now)
    assert caught.value.kind == Refusal.NOT_ALLOWED
    return caught.value.message


def test_a_signed_request_passes_under_any_secret_of_the_ring() -> None:
    signed = rules.signed(ByActor(actor=REP), "s1", ESC, "claim", NOW)
    assert signed.proof is not None and signed.proof.issued_at == int(NOW)
    rules.check_proof(("s1",), ESC, "claim", signed, NOW + 10)
    rules.check_proof(("s2", "s1"), ESC, "claim", signed, NOW)  # rotating: the old one still verifies
    approve = rules.signed(ApproveRequest(actor=REP, amount=Money(amount=10)), "s1", ESC, "approve", NOW)
    rules.check_proof(("s1",), ESC, "approve", approve, NOW)


def test_everything_the_signature_binds() -> None:
    signed = rules.signed(ByActor(actor=REP), "s1", ESC, "claim", NOW)
    assert "not signed" in refusal(ByActor(actor=REP))
    assert "does not match" in refusal(signed, secrets=("other",))
    assert "does not match" in refusal(signed, update="release")
    assert "does not match" in refusal(
        signed.model_copy(update={"actor": Actor(user="rita", role="supervisor")})
    )
    assert "does not match" in refusal(signed.model_copy(update={"actor": Actor(user="mallory", role="rep")}))
    with pytest.raises(Refusal):
        rules.check_proof(("s1",), "esc-case-2-1", "claim", signed, NOW)
    assert "expired" in refusal(signed, now=NOW + rules.PROOF_VALID_SECONDS + 1)
    assert "expired" in refusal(signed, now=NOW - rules.PROOF_SKEW_SECONDS - 1)
    assert "names no actor" in refusal(None)


def test_user_names_cannot_shift_the_signed_text() -> None:
    """A JSON array, not `a|b|c`: no user name can make another request sign the same text."""
    assert rules.actor_mac("s", "e", "claim", Actor(user="a|rep", role="rep"), 1) != rules.actor_mac(
        "s", "e|claim", "a", Actor(user="rep", role="rep"), 1
    )
