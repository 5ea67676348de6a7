"""`POST /events`, the Twilio SMS webhook and the case API, over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import httpx
from sqlalchemy import select

from domain.signing import sign
from store.db import Store
from store.models import Case, DeadLetter, InboundMessage, ReceivedEvent, TimelineItem
from tests.support.http import Web, post_event, twilio_post
from tests.support.settings import example_event


def test_accepted_event_is_stored_with_its_case_before_anything_acts(web: Web) -> None:
    server, settings = web
    event = example_event()
    response = post_event(server, settings, event)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["duplicate"] is False and answer["case_id"] and answer["workflow_id"]
    store = Store(settings.database_url)
    with store.session() as s:
        row = s.scalars(select(ReceivedEvent).where(ReceivedEvent.external_id == event["id"])).one()
        assert json.loads(row.raw) == event and row.case_id == answer["case_id"]
        # Temporal is unreachable in this test: the event waits for the relay instead of being lost
        assert row.status == "pending"
        case = s.get(Case, answer["case_id"])
        assert (
            case is not None
            and case.status == "open"
            and case.appointment_id == event["data"]["appointment_id"]
        )
        assert s.scalars(select(TimelineItem.what).where(TimelineItem.case_id == case.case_id)).all() == [
            "case_opened"
        ]


def test_duplicates_are_recognised_by_id_and_by_conflict(web: Web) -> None:
    server, settings = web
    event = example_event()
    first = post_event(server, settings, event).json()
    again = post_event(server, settings, event)
    assert again.status_code == 200 and again.json() == {**first, "duplicate": True}
    same_conflict = dict(event, id="evt-another-report", type="booking.slot_double_booked")
    other = post_event(server, settings, same_conflict)
    assert other.status_code == 200 and other.json() == {**first, "duplicate": True}
    with Store(settings.database_url).session() as s:
        assert len(s.scalars(select(Case)).all()) == 1


def test_signature_is_required_and_checked(web: Web) -> None:
    server, settings = web
    event = example_event()
    body = json.dumps(event).encode()
    now = time.time()
    assert post_event(server, settings, event, secret="wrong-secret").status_code == 401
    assert post_event(server, settings, event, at=now - 310).status_code == 401  # stale (beyond 5 minutes)
    assert post_event(server, settings, event, at=now + 310).status_code == 401  # from the future
    assert post_event(server, settings, event, signature="").status_code == 401  # missing
    tampered = body.replace(b"Ada", b"Eve")
    response = post_event(
        server, settings, tampered, signature=sign(settings.events_signing_secret, body, int(now))
    )
    assert response.status_code == 401 and "error" in response.json()
    with Store(settings.database_url).session() as s:
        assert s.scalars(select(ReceivedEvent)).all() == []


def test_wrong_media_type_is_415(web: Web) -> None:
    server, settings = web
    response = post_event(server, settings, example_event(), content_type="text/plain")
    assert response.status_code == 415 and "media type" in response.json()["error"]
    assert post_event(server, settings, example_event(), content_type="application/json").status_code == 202


def test_invalid_body_names_each_bad_field_and_is_kept_as_a_dead_letter(web: Web) -> None:
    server, settings = web
    event = example_event()
    event["data"]["patient"]["phone"] = "0612345678"
    del event["data"]["slot"]["start"]
    event["type"] = "booking.something_else"
    response = post_event(server, settings, event)
    assert response.status_code == 422
    fields = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert set(fields) == {"data.patient.phone", "data.slot.start", "type"}, fields
    assert all(fields.values())
    not_json = post_event(server, settings, b"{not json")
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["field"] == "body"
    with Store(settings.database_url).session() as s:
        letters = s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
        assert [letter.status_code for letter in letters] == [422, 422]
        assert {e["field"] for e in letters[0].errors} == set(fields)
        assert letters[1].raw == b"{not json"
        assert s.scalars(select(ReceivedEvent)).all() == []  # never acted on


def test_appointment_booked_is_stored_without_a_case(web: Web) -> None:
    server, settings = web
    response = post_event(server, settings, example_event(type="booking.appointment_booked"))
    assert response.status_code == 202 and response.json()["case_id"] is None


def test_twilio_sms_is_verified_stored_and_routed_by_phone(web: Web) -> None:
    server, settings = web
    case_id = post_event(server, settings, example_event()).json()["case_id"]
    params = {
        "MessageSid": "SM" + "1" * 32,
        "From": "+31612345678",
        "To": settings.twilio_from_number,
        "Body": "2",
    }
    assert twilio_post(server, settings, params, token="not-the-token").status_code == 403
    response = twilio_post(server, settings, params)
    assert response.status_code == 200 and "<Response" in response.text
    assert twilio_post(server, settings, params).status_code == 200  # Twilio retried: recognised
    with Store(settings.database_url).session() as s:
        inbound = s.scalars(select(InboundMessage)).all()
        assert [(m.body, m.case_id, m.channel) for m in inbound] == [("2", case_id, "sms")]


def test_case_api_needs_a_token_and_masks_contact_details(web: Web) -> None:
    server, settings = web
    event = example_event()
    case_id = post_event(server, settings, event).json()["case_id"]

    def get(path: str, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{server.url}{path}", headers=headers)

    assert get(f"/api/cases/{case_id}", None).status_code == 401
    assert get(f"/api/cases/{case_id}", "nope").status_code == 401
    engineer = get(f"/api/cases/{case_id}", "dev-engineer-token").json()
    assert engineer["patient"]["phone"] == "+316****5678" and "ada@" not in json.dumps(engineer)
    assert engineer["status"] == "open" and engineer["kind"] == "booking_conflict"
    assert engineer["compensation"] == {"amount": "0.00", "currency": "USD", "status": "none"}
    supervisor = get(f"/api/cases/{case_id}", "dev-supervisor-token").json()
    assert supervisor["patient"]["phone"] == "+31612345678"
    listed = get(
        f"/api/cases?appointment_id={event['data']['appointment_id']}&status=open", "dev-auditor-token"
    )
    assert [c["case_id"] for c in listed.json()] == [case_id]
    assert get("/api/cases?status=resolved", "dev-rep-token").json() == []
    missing = get("/api/cases/case-none", "dev-engineer-token")
    assert missing.status_code == 404 and "error" in missing.json()


def test_case_and_escalation_lists_filter_by_kind_and_refuse_unknown_filters(web: Web) -> None:
    server, settings = web
    case_id = post_event(server, settings, example_event()).json()["case_id"]

    def get(path: str) -> httpx.Response:
        return httpx.get(f"{server.url}{path}", headers={"Authorization": "Bearer dev-engineer-token"})

    assert [c["case_id"] for c in get("/api/cases?kind=booking_conflict").json()] == [case_id]
    assert get("/api/cases?kind=checkin_trouble&status=open").json() == []
    assert get("/api/cases?kind=no_such_kind").status_code == 422
    # a filter the API does not know is refused by name, not ignored (a whole list instead of a few)
    for path, names in [
        ("/api/cases?knd=booking_conflict", ["query.knd"]),
        ("/api/cases?status=open&patient=pat-1&practice=prac-9", ["query.patient", "query.practice"]),
        ("/api/escalations?kind=booking_conflict", ["query.kind"]),
    ]:
        refused = get(path)
        assert refused.status_code == 422, path
        body = refused.json()
        assert body["errors"] == [{"field": name, "reason": "unknown filter"} for name in names]
        assert all(name in body["error"] for name in names)
    assert get("/api/escalations?status=open&limit=5").json() == []


def test_email_choice_link_confirms_then_records_the_choice(web: Web) -> None:
    server, settings = web
    case_id = post_event(server, settings, example_event()).json()["case_id"]
    with Store(settings.database_url).session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        token = case.reply_token
    link = f"{server.url}/choose/{case_id}/2"
    page = httpx.get(link, params={"t": token})
    # a GET (mail scanners) only asks; in the patient's language (the example's patient is Dutch)
    assert page.status_code == 200 and "Boek keuze 2" in page.text and "<html lang='nl'>" in page.text
    assert httpx.post(link, data={"t": "forged"}).status_code == 404
    chosen = httpx.post(link, data={"t": token})
    assert chosen.status_code == 200 and "Wij hebben uw keuze ontvangen" in chosen.text
    with Store(settings.database_url).session() as s:
        inbound = s.scalars(select(InboundMessage)).all()
        assert [(m.body, m.case_id, m.channel) for m in inbound] == [("2", case_id, "email")]
    english = post_event(server, settings, example_event(data__patient__locale="en-US")).json()["case_id"]
    with Store(settings.database_url).session() as s:
        case = s.get(Case, english)
        assert case is not None
        english_token = case.reply_token
    page = httpx.get(f"{server.url}/choose/{english}/1", params={"t": english_token})
    assert "Book option 1" in page.text and "<html lang='en'>" in page.text


def test_patient_link_pages_and_their_error_pages_are_never_cached_nor_referred(web: Web) -> None:
    """A choice or rating link carries its token in the URL: no page it opens, valid or not, may be kept
    by a cache or name itself to another site in a Referer."""
    server, settings = web
    case_id = post_event(server, settings, example_event()).json()["case_id"]
    with Store(settings.database_url).session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        token = case.reply_token
    answers = {
        "choice": httpx.get(f"{server.url}/choose/{case_id}/1", params={"t": token}),
        "forged choice": httpx.get(f"{server.url}/choose/{case_id}/1", params={"t": "forged"}),
        "forged post": httpx.post(f"{server.url}/choose/{case_id}/1", data={"t": "forged"}),
        "no token": httpx.get(f"{server.url}/choose/{case_id}/1"),
        "not a number": httpx.get(f"{server.url}/choose/{case_id}/one", params={"t": token}),
        "rating": httpx.get(f"{server.url}/feedback/{case_id}/4", params={"t": token}),
        "forged rating": httpx.get(f"{server.url}/feedback/{case_id}/4", params={"t": "forged"}),
        "rating without token": httpx.post(f"{server.url}/feedback/{case_id}/4", data={}),
    }
    assert answers["choice"].status_code == 200 and answers["rating"].status_code == 200
    for what, answer in answers.items():
        assert answer.headers.get("cache-control") == "no-store", what
        assert answer.headers.get("referrer-policy") == "no-referrer", what
        assert answer.headers["content-type"].startswith("text/html"), what  # a page, never JSON
        if answer.status_code != 200:
            assert answer.status_code == 404, what
