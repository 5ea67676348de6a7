"""A database outage (and a Temporal one) as callers see it: 503 with Retry-After on every endpoint, never a
500, except Twilio's webhooks (never sent again: kept in a local spool, answered 200, taken into the inbox
once the database is back); `/readyz` says what is down; the app and the relay recover by themselves.

PostgreSQL is shared, so it is never stopped: the app reaches it through a small TCP proxy that the test
cuts (connections refused, open ones dropped) and restores.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from config import Settings
from dispatch.dispatcher import Dispatcher
from store.db import Store
from tests.support.cases import waiting_for_a_choice
from tests.support.databases import drop_postgres, migrated_postgres_url
from tests.support.http import LiveServer, free_port, post_event, twilio_post
from tests.support.recording_dispatcher import RecordingSignals
from tests.support.settings import TEST_CONVERTER, example_event, make_settings, venv_binary

UPSTREAM = ("127.0.0.1", 5432)


class CuttableProxy:
    """127.0.0.1:<port> → PostgreSQL, in threads. `cut()` closes the listener (new connections are refused)
    and drops every open connection; `restore()` listens again on the same port."""

    def __init__(self, upstream: tuple[str, int] = UPSTREAM) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> CuttableProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener, self._stop = listener, threading.Event()
        self._thread = threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True)
        self._thread.start()
        return self

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()
        listener.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def restore(self) -> None:
        self.start()

    def url_for(self, database_url: str) -> str:
        host = f"{UPSTREAM[0]}:{UPSTREAM[1]}"
        assert host in database_url, database_url
        return database_url.replace(host, f"127.0.0.1:{self.port}")


@pytest.fixture
def proxied_postgres() -> Iterator[tuple[CuttableProxy, str]]:
    """A fresh migrated PostgreSQL database, and its URL through a cuttable proxy."""
    url = migrated_postgres_url()
    proxy = CuttableProxy().start()
    try:
        yield proxy, proxy.url_for(url)
    finally:
        proxy.cut()
        drop_postgres(url)


def _web_settings(database_url: str, tmp_path: Path, port: int, temporal_address: str) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        public_base_url=f"http://127.0.0.1:{port}",
        temporal_address=temporal_address,
    )


def assert_unavailable(response: httpx.Response, *, json_body: bool = True) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers.get("retry-after", "").isdigit(), response.headers
    if json_body:
        assert "database" in response.json()["error"]


def test_database_outage_is_503_with_retry_after_everywhere_and_the_app_recovers(
    proxied_postgres: tuple[CuttableProxy, str], tmp_path: Path
) -> None:
    from web.app import create_app

    proxy, url = proxied_postgres
    port = free_port()
    settings = _web_settings(url, tmp_path, port, f"127.0.0.1:{free_port()}")
    engineer = {"Authorization": "Bearer dev-engineer-token"}
    with LiveServer(create_app(settings, relay=False), port) as server:
        before = post_event(server, settings, example_event())
        assert before.status_code == 202, before.text
        case_id = before.json()["case_id"]

        proxy.cut()
        # open pooled connections were dropped and new ones are refused: every endpoint says 503
        for _ in range(3):
            assert_unavailable(post_event(server, settings, example_event()))
        sms = {"MessageSid": "SM" + "2" * 32, "From": "+31612345678", "To": settings.twilio_from_number}
        # Twilio never sends an inbound SMS again: it is kept in the local spool, and Twilio gets its 200
        assert twilio_post(server, settings, {**sms, "Body": "1"}).status_code == 200
        assert_unavailable(httpx.get(f"{server.url}/api/cases/{case_id}", headers=engineer))
        assert_unavailable(httpx.get(f"{server.url}/api/escalations?status=open", headers=engineer))
        console = httpx.get(f"{server.url}/console", cookies={"makeright_console": "some-session"})
        assert_unavailable(console, json_body=False)
        assert "database" in console.text.lower()
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # liveness: the process is fine

        proxy.restore()
        # no restart: the pool replaces the dropped connections by itself
        after = post_event(server, settings, example_event())
        assert after.status_code == 202, after.text
        assert httpx.get(f"{server.url}/api/cases/{case_id}", headers=engineer).status_code == 200
        assert twilio_post(server, settings, {**sms, "Body": "1"}).status_code == 200


@pytest.fixture
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    path = venv_binary("temporal-test-server")
    assert path
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=TEST_CONVERTER
    )
    yield env
    await env.shutdown()


async def test_readyz_is_ready_when_database_and_temporal_answer_and_names_the_database_when_cut(
    proxied_postgres: tuple[CuttableProxy, str], tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    import asyncio

    from web.app import create_app

    proxy, url = proxied_postgres
    port = free_port()
    address = temporal_env.client.service_client.config.target_host
    settings = _web_settings(url, tmp_path, port, address)

    def get(path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)

    with LiveServer(create_app(settings, relay=False), port):
        ready = await asyncio.to_thread(get, "/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "database": "ok", "temporal": "ok"}

        proxy.cut()
        down = await asyncio.to_thread(get, "/readyz")
        assert down.status_code == 503 and down.headers["retry-after"].isdigit()
        body = down.json()
        assert body["database"] != "ok" and body["temporal"] == "ok"
        assert "database" in body["error"] and "temporal" not in body["error"]
        assert (await asyncio.to_thread(get, "/healthz")).status_code == 200

        proxy.restore()
        assert (await asyncio.to_thread(get, "/readyz")).status_code == 200


def test_readyz_names_temporal_when_nothing_listens_and_stays_in_service(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Temporal away: the replica still stores events (the relay acts later), so it stays ready for the
    load balancer, saying what is degraded."""
    from web.app import create_app

    port = free_port()
    settings = _web_settings(sqlite_url, tmp_path, port, f"127.0.0.1:{free_port()}")
    with LiveServer(create_app(settings, relay=False), port) as server:
        response = httpx.get(f"{server.url}/readyz", timeout=10)
        assert response.status_code == 200
        body = response.json()
        assert (
            body["database"] == "ok" and body["temporal"].startswith("down") and body["status"] == "degraded"
        )
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}


async def test_relay_outlives_a_database_outage_with_one_line_a_pass(
    proxied_postgres: tuple[CuttableProxy, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    proxy, url = proxied_postgres
    settings = make_settings(url, tmp_path, temporal_address=f"127.0.0.1:{free_port()}")
    dispatcher = Dispatcher(settings, Store(url))
    dispatcher.reconcile_every = 0.0  # the reconciler runs every pass too
    proxy.cut()
    caplog.set_level(logging.INFO, logger="makeright")
    task = asyncio.create_task(dispatcher.relay_forever(interval=0.05))

    def passes_logged() -> list[logging.LogRecord]:
        records = caplog.records
        return [r for r in records if r.name.startswith("makeright") and "relay pass" in r.getMessage()]

    deadline = time.monotonic() + 30
    while len(passes_logged()) < 3 and not task.done():  # three passes through the outage, however slow
        assert time.monotonic() < deadline, "the relay did not pass three times"
        await asyncio.sleep(0.05)
    assert not task.done()  # it survived them
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    records = [r for r in caplog.records if r.name.startswith("makeright")]
    relay_lines = [r for r in records if "relay pass" in r.getMessage()]
    assert len(relay_lines) >= 3  # it kept trying
    assert all(r.exc_info is None for r in records), [r.getMessage() for r in records if r.exc_info]
    assert all("database unavailable" in r.getMessage() for r in relay_lines)


class CountingPasses(RecordingSignals):
    """The recording dispatcher that also counts the relay's finished passes (and starts no case)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        super().__init__(settings, store)
        self.passes = 0  # relay passes finished

    async def relay_once(self) -> int:
        try:
            return await super().relay_once()
        finally:
            self.passes += 1

    async def _start_booking_conflict(self, event: object, case: object) -> None:
        return None


def test_sms_reply_during_a_database_outage_is_answered_200_at_once_and_reaches_the_case_once_it_is_back(
    proxied_postgres: tuple[CuttableProxy, str], tmp_path: Path
) -> None:
    """Twilio does not retry an inbound SMS: a reply that meets a database outage must not be lost."""
    import time

    from sqlalchemy import select

    from store import spool
    from store.models import InboundMessage, ReceivedEvent
    from web.app import create_app

    proxy, url = proxied_postgres
    port = free_port()
    settings = _web_settings(url, tmp_path, port, f"127.0.0.1:{free_port()}")
    store = Store(url)
    app = create_app(settings, relay=True)
    dispatcher = CountingPasses(settings, app.state.services.store)
    app.state.services.dispatcher = dispatcher  # its relay loop runs in the app, as in production
    sid = "SM" + "7" * 32
    sms = {"MessageSid": sid, "From": "+31612345678", "To": settings.twilio_from_number, "Body": "1"}
    status = {"MessageSid": "SM" + "8" * 32, "MessageStatus": "undelivered", "ErrorCode": "30003"}

    with LiveServer(app, port) as server:
        opened = post_event(server, settings, example_event())
        assert opened.status_code == 202, opened.text
        workflow_id = opened.json()["workflow_id"]
        waiting_for_a_choice(store, opened.json()["case_id"])  # the "1" answers its offer

        proxy.cut()
        started = time.monotonic()
        reply = twilio_post(server, settings, sms)
        assert reply.status_code == 200 and "<Response" in reply.text, reply.text  # empty TwiML, no 503
        assert time.monotonic() - started < 3  # Twilio waits 15 s at most
        assert twilio_post(server, settings, sms).status_code == 200  # the same webhook again
        report = twilio_post_to(server, settings, "/webhooks/twilio/sms/status", status)
        assert report.status_code == 200, report.text
        kept = spool.Spool(settings.var_dir).pending()
        assert sorted(entry.kind for entry in kept) == ["answer", "report"]  # the duplicate kept once

        proxy.restore()  # the relay loop takes the spool in
        deadline = time.monotonic() + 30
        while spool.Spool(settings.var_dir).pending() or not dispatcher.signals:
            assert time.monotonic() < deadline, "the spooled reply never reached the case"
            time.sleep(0.2)
        passes = dispatcher.passes
        while dispatcher.passes < passes + 2:  # a further whole relay pass changes nothing
            assert time.monotonic() < deadline, "the relay stopped passing"
            time.sleep(0.1)
        assert twilio_post(server, settings, sms).status_code == 200  # Twilio's duplicate, after the outage

    with store.session() as s:
        inbound = s.scalars(select(InboundMessage).where(InboundMessage.provider_id == sid)).all()
        rows = s.scalars(select(ReceivedEvent).where(ReceivedEvent.external_id == sid)).all()
        reports = s.scalars(select(ReceivedEvent).where(ReceivedEvent.source == "twilio_sms_status")).all()
    assert [m.body for m in inbound] == ["1"]  # stored once
    assert [(r.status, r.workflow_id) for r in rows] == [("dispatched", workflow_id)]
    assert [(w, name, getattr(arg, "choice", None)) for w, name, arg in dispatcher.signals] == [
        (workflow_id, "patient_replied", 1)
    ]  # the case got the patient's choice, once
    assert len(reports) == 1  # the status report was kept too


def twilio_post_to(
    server: LiveServer, settings: Settings, path: str, params: dict[str, str]
) -> httpx.Response:
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(settings.twilio_auth_token).compute_signature(
        settings.public_base_url + path, params
    )
    return httpx.post(f"{server.url}{path}", data=params, headers={"X-Twilio-Signature": signature})


def test_a_spooled_reply_taken_in_twice_is_stored_once(sqlite_url: str, tmp_path: Path) -> None:
    """The relay died after taking an entry into the inbox and before forgetting it: the next pass takes it
    again, and Twilio's MessageSid recognises it."""
    import asyncio

    from sqlalchemy import func, select

    from store import consent, spool
    from store.models import InboundMessage, ReceivedEvent

    settings = make_settings(sqlite_url, tmp_path)
    store = Store(sqlite_url)
    kept = spool.Spool(tmp_path)
    answer = spool.Answer("twilio_sms", "SM" + "9" * 32, "+31612345678", "STOP", None, {"text": "STOP"})
    assert kept.put_answer(answer) and not kept.put_answer(answer)
    assert kept.path.stat().st_mode & 0o077 == 0  # patient data: this user only
    [entry] = kept.pending()
    spool.take(store, entry)  # taken in, then the process died before forgetting it
    assert asyncio.run(Dispatcher(settings, store).drain_spool()) == 1
    assert kept.pending() == []
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert s.scalar(select(func.count()).select_from(ReceivedEvent)) == 1
        # received when it reached the web app, not when the relay took it in
        received = s.scalar(select(InboundMessage.received_at))
        assert received is not None and received.replace(tzinfo=UTC) == entry.received_at
    assert consent.opted_out(store, "sms", "+31612345678")  # STOP bound as the webhook binds it


@pytest.mark.e2e
async def test_a_reply_texted_during_a_database_outage_rebooks_the_patient_once_the_database_is_back(
    proxied_postgres: tuple[CuttableProxy, str], tmp_path: Path, dev_server_env: WorkflowEnvironment
) -> None:
    """The whole story on a real Temporal server: the case waits for the patient, the database goes away,
    the patient texts "1" (Twilio is answered 200 at once), the database comes back, and the patient is
    rebooked on their choice: the reply reached the case, once."""
    import asyncio
    import time

    from sqlalchemy import func, select

    from runtime.worker import build_worker
    from store.models import Case, InboundMessage
    from web.app import create_app

    proxy, url = proxied_postgres
    port = free_port()
    settings = _web_settings(url, tmp_path, port, dev_server_env.client.service_client.config.target_host)
    store = Store(url)
    sms = {
        "MessageSid": "SM" + "6" * 32,
        "From": "+31612345678",
        "To": settings.twilio_from_number,
        "Body": "1",
    }

    def case_field(case_id: str) -> tuple[str | None, str | None]:
        try:
            with store.session() as s:
                case = s.get(Case, case_id)
                return (case.status, case.outcome) if case else (None, None)
        except Exception:
            return (None, None)  # the database is away for the test too

    async def until(case_id: str, wanted: str, seconds: float) -> tuple[str | None, str | None]:
        deadline = time.monotonic() + seconds
        while (found := await asyncio.to_thread(case_field, case_id))[0] != wanted:
            assert time.monotonic() < deadline, f"case {case_id} never reached {wanted}: {found}"
            await asyncio.sleep(0.2)
        return found

    async with build_worker(dev_server_env.client, settings, store):
        with LiveServer(create_app(settings, relay=True), port) as server:
            opened = await asyncio.to_thread(post_event, server, settings, example_event())
            assert opened.status_code == 202, opened.text
            case_id = opened.json()["case_id"]
            await until(case_id, "waiting_patient", 60)
            await asyncio.sleep(0.5)

            proxy.cut()
            started = time.monotonic()
            reply = await asyncio.to_thread(twilio_post, server, settings, sms)
            assert reply.status_code == 200 and "<Response" in reply.text, reply.text
            assert time.monotonic() - started < 3
            assert (await asyncio.to_thread(twilio_post, server, settings, sms)).status_code == 200
            await asyncio.sleep(3)  # the outage lasts a while; the reply waits in the spool
            proxy.restore()

            assert await until(case_id, "resolved", 60) == ("resolved", "rebooked")
            again = await asyncio.to_thread(twilio_post, server, settings, sms)  # Twilio's duplicate
            assert again.status_code == 200
    with store.session() as s:
        assert s.scalar(select(func.count()).where(InboundMessage.provider_id == sms["MessageSid"])) == 1
