"""The patient's language is a table: `domain/messages/<code>.py`. Every table has every text of the base
(English) with the same placeholders, and a third language is one new file, nothing else: found by itself,
spoken in its own words, with money and dates as Babel writes them for it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from domain import messages
from domain.events import Slot

TABLE_DIR = Path(messages.__file__).parent
LANGUAGE_FILES = sorted(p.stem for p in TABLE_DIR.glob("*.py") if not p.stem.startswith("_"))


def test_every_language_file_is_a_table() -> None:
    assert {"en", "nl"} <= set(LANGUAGE_FILES)
    assert set(messages.TABLES) == set(LANGUAGE_FILES) == set(messages.SUPPORTED)


@pytest.mark.parametrize("lang", LANGUAGE_FILES)
def test_every_table_has_every_text_with_the_same_placeholders(lang: str) -> None:
    assert messages.missing(messages.TABLES[lang]) == []


def test_a_table_without_a_text_or_a_placeholder_is_refused() -> None:
    incomplete = {k: v for k, v in messages.TABLES["en"].items() if k != "confirm_sms"}
    with pytest.raises(ValueError, match="confirm_sms: missing"):
        messages.register("xx", incomplete)
    no_time = {**messages.TABLES["en"], "confirm_sms": "{name}: you're booked. STOP to opt out"}
    with pytest.raises(ValueError, match="confirm_sms: fills"):
        messages.register("xx", no_time)
    assert "xx" not in messages.TABLES


GERMAN = """
from domain.messages.en import TEXTS as _EN

TEXTS = {
    **_EN,
    "confirm_sms": "{name}: Ihr Termin ist am {at}. STOP = abmelden",
    "compensation_sms": "{name}: Entschuldigung! Ein Gutschein über {money}: {url}",
}
"""


@pytest.fixture
def german_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """domain/messages/de.py, as a translator would add it (in a second directory of the package, so
    the checkout stays as it is), and the package's tables read again."""
    (tmp_path / "de.py").write_text(GERMAN)
    monkeypatch.setattr(messages, "__path__", [*messages.__path__, str(tmp_path)])
    monkeypatch.setattr(messages, "TABLES", {})
    monkeypatch.delitem(sys.modules, "domain.messages.de", raising=False)
    messages._load_tables()
    yield
    sys.modules.pop("domain.messages.de", None)


@pytest.mark.usefixtures("german_file")
def test_a_third_language_is_one_new_file() -> None:
    assert set(messages.TABLES) == {*LANGUAGE_FILES, "de"}
    assert messages.language_for("de-DE", supported=("en", "nl", "de")) == "de"
    start = datetime(2026, 11, 24, 9, tzinfo=UTC)
    slot = Slot(start=start, end=start + timedelta(minutes=30))
    assert (
        messages.confirm_sms("de", "Praxis Mitte", slot, "Europe/Berlin")
        == "Praxis Mitte: Ihr Termin ist am Di., 24. Nov. 10:00. STOP = abmelden"
    )
    assert messages.compensation_sms("de", "Praxis Mitte", Decimal("10"), "EUR", "https://x/g/1") == (
        "Praxis Mitte: Entschuldigung! Ein Gutschein über 10,00 €: https://x/g/1"
    )
    # what it does not translate yet is English, never an error
    assert messages.rep_will_call_sms("de", "Praxis Mitte").startswith("Praxis Mitte: someone from our team")
