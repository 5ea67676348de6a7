"""What a patient's email says: the case its Reply-To names, the new text, and what a machine sent."""

from __future__ import annotations

import time

from domain import inbound_email as mail


def test_the_reply_address_names_the_case_and_is_found_again() -> None:
    address = mail.reply_address("care@reply.example.com", "0123456789abcdef0123")
    assert address == "care+0123456789abcdef0123@reply.example.com"
    found = mail.addresses("Makeright <CARE+0123456789ABCDEF0123@Reply.Example.com>, other@x.example")
    assert mail.token_in(found, "care@reply.example.com") == "0123456789abcdef0123"
    assert mail.token_in(["care+0123456789abcdef0123@elsewhere.example"], "care@reply.example.com") is None
    assert mail.token_in(["care@reply.example.com"], "care@reply.example.com") is None
    assert mail.token_in(["care+x@reply.example.com"], "care@reply.example.com") is None  # not a token
    assert len(mail.new_token()) == 20 and mail.new_token() != mail.new_token()


def test_machines_are_recognised_and_people_are_not() -> None:
    def auto(headers: str, sender: str | None = "ada@example.com") -> str | None:
        return mail.automatic(mail.header_map(headers), sender)

    assert auto("Auto-Submitted: auto-replied\n")
    assert auto("Auto-Submitted: auto-generated; type=oof\n")
    assert auto("Auto-Submitted: no\n") is None
    assert auto("X-Autorespond: yes\n") and auto("X-Autoreply: yes\n")
    assert auto("Precedence: auto_reply\n") and auto("Precedence: list\n") and auto("Precedence: bulk\n")
    assert auto("", "postmaster@mx.example") and auto("", "mailer-daemon@mx.example")
    assert auto('Content-Type: multipart/report; report-type="delivery-status"\n')
    assert auto("Subject: hi\nMessage-ID: <1@x>\n") is None


def test_the_new_text_keeps_lists_and_drops_the_signature_and_quotes() -> None:
    text = "I can come:\n- Tuesday\n- Thursday\n\nBest regards,\nAda\n\n> earlier\n> mail\n"
    assert mail.new_text(text) == "I can come:\n- Tuesday\n- Thursday"
    assert mail.new_text("1\n\nVerzonden vanaf mijn iPhone") == "1"
    assert mail.first_words("\n\n  2  \nthanks") == "2"
    assert mail.reply_subject("Your appointment") == "Re: Your appointment"
    assert mail.reply_subject("RE: Your appointment") == "RE: Your appointment"


def test_html_is_text_once_scripts_styles_and_tags_are_gone() -> None:
    markup = "<style>x{}</style><p>Hello &lt;b&gt;</p><script>alert(1)</script><p>Bye</p>"
    assert mail.html_text(markup).split() == ["Hello", "<b>", "Bye"]


def test_a_hostile_body_is_read_quickly() -> None:
    hostile = ("From: a\nSent: b\n" * 20_000) + ("On " + "x " * 50_000 + "\n") + ">" * 100_000
    started = time.monotonic()
    mail.new_text(hostile)
    assert time.monotonic() - started < 5
