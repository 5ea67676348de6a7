"""The compensation ledger: one row per case's payment, keyed on its idempotency key. Issue, reserve,
release, wait for approval and deny, each with its step on the case's timeline; the atomic
check-and-reserve against the patient's yearly cap and the daily budget; the totals per UTC day
(`cli.py ledger`, the wall)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from domain import policy
from domain.cases import TimelineEntry
from domain.compensation import DenialRequest, GiftCardRequest, ReserveRequest
from domain.policy import BudgetVerdict, CompensationPolicy
from store import cases
from store.db import Store
from store.models import GiftCardOrder, LedgerEntry, LedgerLock, utcnow

# statuses that spend money: paid, or reserved and being ordered
SPENT = ("issued", "reserved")
ROLLING_YEAR = timedelta(days=365)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _spent(s: Session, *where: ColumnElement[bool]) -> Decimal:
    total = s.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.status.in_(SPENT), *where)
    )
    return Decimal(str(total or 0)).quantize(Decimal("0.01"))


def patient_spent(s: Session, patient_id: str, now: datetime) -> Decimal:
    """What the patient was paid (or is being paid) over the rolling year up to `now`."""
    return _spent(s, LedgerEntry.patient_id == patient_id, LedgerEntry.issued_at > now - ROLLING_YEAR)


def day_spent(s: Session, day: date) -> Decimal:
    """What all cases were paid (or are being paid) on this UTC day."""
    start, end = day_bounds(day)
    return _spent(s, LedgerEntry.issued_at >= start, LedgerEntry.issued_at < end)


def reserve(
    store: Store,
    *,
    case_id: str,
    patient_id: str,
    idempotency_key: str,
    amount: Decimal,
    currency: str,
    rules: CompensationPolicy,
    now: datetime | None = None,
) -> BudgetVerdict:
    """Check the payment against the cap and the budget and write its ledger row, in one transaction that
    holds the ledger lock: a fitting payment is `reserved` (counted at once, so a second case checking at
    the same moment sees it), one that does not fit is `pending_approval` with the reason. The row is keyed
    on the case's idempotency key: a retry or a replay reads back the verdict it wrote and adds nothing."""
    now = now or utcnow()
    with store.session() as s:
        # first statement of the transaction: the row lock (PostgreSQL) or the write lock (SQLite) is
        # held until commit, so the sums below cannot go stale before the row is written
        s.execute(
            update(LedgerLock).where(LedgerLock.id == 1).values(reservations=LedgerLock.reservations + 1)
        )
        entry = _entry_for(s, idempotency_key)
        if entry is not None:
            if entry.status in SPENT:
                return BudgetVerdict(fits=True)
            return BudgetVerdict(fits=False, reason=entry.hold_reason or entry.denied_reason)
        verdict = policy.budget_check(
            rules, amount, patient_spent(s, patient_id, now), day_spent(s, now.astimezone(UTC).date())
        )
        s.add(
            LedgerEntry(
                case_id=case_id,
                patient_id=patient_id,
                idempotency_key=idempotency_key,
                amount=amount,
                currency=currency,
                status="reserved" if verdict.fits else "pending_approval",
                issued_at=now if verdict.fits else None,
                hold_reason=verdict.reason,
            )
        )
        return verdict


def release(store: Store, idempotency_key: str) -> None:
    """Drop a reservation that will not be paid (never an issued, pending or denied row)."""
    with store.session() as s:
        s.execute(
            delete(LedgerEntry).where(
                LedgerEntry.idempotency_key == idempotency_key, LedgerEntry.status == "reserved"
            )
        )


def reserve_for_case(store: Store, req: ReserveRequest) -> BudgetVerdict:
    """`reserve` for a case's payment; one that does not fit waits for approval, its reason on the
    case's timeline."""
    pay = req.payment
    verdict = reserve(
        store,
        case_id=pay.case_id,
        patient_id=pay.patient_id,
        idempotency_key=pay.idempotency_key,
        amount=pay.amount,
        currency=pay.currency,
        rules=req.rules,
    )
    if not verdict.fits:
        cases.add_timeline(
            store,
            TimelineEntry(
                case_id=pay.case_id,
                what="compensation_pending_approval",
                key=f"ledger:{pay.idempotency_key}:pending",
                detail={"amount": str(pay.amount), "currency": pay.currency, "reason": verdict.reason},
            ),
        )
    return verdict


def issued(store: Store, idempotency_key: str) -> bool:
    """Whether this payment was made already."""
    with store.session() as s:
        found = s.scalar(
            select(LedgerEntry.id).where(
                LedgerEntry.idempotency_key == idempotency_key, LedgerEntry.status == "issued"
            )
        )
    return found is not None


def record_issued(store: Store, req: GiftCardRequest, order_id: str, *, paid_before: bool) -> None:
    """The provider's order is the payment: its ledger row says `issued` (unless it did before the
    order was placed) and the case's timeline says compensation_issued, with the amount and currency
    only: every API role reads the timeline, so the order id stays in the ledger."""
    note = TimelineEntry(
        case_id=req.case_id,
        what="compensation_issued",
        key=f"ledger:{req.idempotency_key}",
        detail={"amount": str(req.amount), "currency": req.currency},
    )
    for _ in range(2):
        try:
            with store.session() as s:  # the ledger's row and the timeline's entry in one transaction
                if not paid_before:
                    _mark_issued(s, req, order_id)
                cases.timeline_in(s, note)
            return
        except IntegrityError:
            continue  # the ledger row was inserted by a concurrent retry: mark that one
    raise RuntimeError(f"could not record the payment of {req.idempotency_key}")


def _mark_issued(s: Session, req: GiftCardRequest, order_id: str) -> None:
    entry = _entry_for(s, req.idempotency_key)
    if entry is None:
        s.add(_ledger_entry(req, "issued", order_id))
        s.flush()  # a concurrent retry's row shows here, as an IntegrityError
    else:  # reserved within the budget, or approved after waiting: pay what was approved
        if entry.status != "reserved" or entry.issued_at is None:
            entry.issued_at = utcnow()  # a reservation keeps the day it was counted on
        entry.status = "issued"
        entry.amount = req.amount
        entry.provider_order_id = order_id


def record_pending(store: Store, req: GiftCardRequest) -> None:
    """Compensation above the auto-approved amount waits in the ledger for a human with the authority
    (once: a key already in the ledger changes nothing)."""
    try:
        with store.session() as s:
            if _entry_for(s, req.idempotency_key):
                return
            s.add(_ledger_entry(req, "pending_approval"))
    except IntegrityError:
        return
    cases.add_timeline(
        store,
        TimelineEntry(
            case_id=req.case_id,
            what="compensation_pending_approval",
            key=f"ledger:{req.idempotency_key}:pending",
            detail={"amount": str(req.amount), "currency": req.currency},
        ),
    )


def record_denial(store: Store, req: DenialRequest) -> None:
    """A rep refused the compensation: the ledger keeps the amount and the reason (a paid row stays paid)."""
    with store.session() as s:
        entry = _entry_for(s, req.idempotency_key)
        if entry is None:
            entry = _ledger_entry(req, "denied")
            s.add(entry)
        elif entry.status == "issued":
            return  # paid already: a denial cannot unpay it
        entry.status = "denied"
        entry.denied_reason = req.reason
    cases.add_timeline(
        store,
        TimelineEntry(
            case_id=req.case_id,
            what="compensation_denied",
            key=f"ledger:{req.idempotency_key}:denied",
            detail={
                "amount": str(req.amount),
                "currency": req.currency,
                "reason": req.reason,
                "by": req.denied_by,
            },
        ),
    )


def _entry_for(s: Session, idempotency_key: str) -> LedgerEntry | None:
    return s.scalars(select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)).first()


def _ledger_entry(
    req: GiftCardRequest | DenialRequest, status: str, order_id: str | None = None
) -> LedgerEntry:
    return LedgerEntry(
        case_id=req.case_id,
        patient_id=req.patient_id,
        idempotency_key=req.idempotency_key,
        amount=req.amount,
        currency=req.currency,
        status=status,
        provider_order_id=order_id,
        issued_at=utcnow() if status == "issued" else None,
    )


@dataclass
class DayTotals:
    day: date
    currency: str
    issued: Decimal = Decimal("0.00")
    issued_count: int = 0
    reserved: Decimal = Decimal("0.00")
    pending: Decimal = Decimal("0.00")
    pending_count: int = 0
    denied: Decimal = Decimal("0.00")
    denied_count: int = 0
    budget: Decimal | None = None
    case_ids: list[str] = field(default_factory=list)

    @property
    def budget_left(self) -> Decimal | None:
        if self.budget is None:
            return None
        return max(Decimal("0.00"), self.budget - self.issued - self.reserved)

    def as_json(self) -> dict[str, object]:
        def money(value: Decimal | None) -> str | None:
            return None if value is None else f"{value:.2f}"

        return {
            "day": self.day.isoformat(),
            "currency": self.currency,
            "issued": money(self.issued),
            "issued_count": self.issued_count,
            "reserved": money(self.reserved),
            "pending_approval": money(self.pending),
            "pending_count": self.pending_count,
            "denied": money(self.denied),
            "denied_count": self.denied_count,
            "budget": money(self.budget),
            "budget_left": money(self.budget_left),
        }


def _day_of(entry: LedgerEntry) -> date:
    """Money paid (or reserved) counts on its day of payment; a wait or a denial on the day it was written."""
    at = entry.issued_at if entry.status in SPENT and entry.issued_at else entry.created_at
    return at.astimezone(UTC).date()


def day_totals(
    store: Store, since: date, until: date, currency: str, budget: Decimal | None
) -> list[DayTotals]:
    """Issued, reserved, pending and denied per UTC day from `since` to `until` (inclusive), newest first;
    days without a ledger row are left out, except `until` itself."""
    start, _ = day_bounds(since)
    _, end = day_bounds(until)
    with store.session() as s:
        rows = s.scalars(
            select(LedgerEntry).where(
                or_(
                    LedgerEntry.issued_at.between(start, end),
                    LedgerEntry.created_at.between(start, end),
                )
            )
        ).all()
    days: dict[date, DayTotals] = {until: DayTotals(until, currency, budget=budget)}
    for entry in rows:
        day = _day_of(entry)
        if not since <= day <= until:
            continue
        totals = days.setdefault(day, DayTotals(day, currency, budget=budget))
        amount = Decimal(entry.amount)
        if entry.status == "issued":
            totals.issued += amount
            totals.issued_count += 1
        elif entry.status == "reserved":
            totals.reserved += amount
        elif entry.status == "pending_approval":
            totals.pending += amount
            totals.pending_count += 1
        elif entry.status == "denied":
            totals.denied += amount
            totals.denied_count += 1
    return [days[d] for d in sorted(days, reverse=True)]


def unbalanced(store: Store) -> list[str]:
    """Where the ledger and the local gift-card book disagree: an order without exactly one ledger row, or
    a ledger row naming a local order (GC-…) that is not in the book. Empty when every card paid is one
    row and one order (GIFT_CARD_MODE=local; Tango's book is Tango's)."""
    with store.session() as s:
        orders = {o.order_id: o.external_ref for o in s.scalars(select(GiftCardOrder))}
        # the local book's orders are GC-…; a Tango order (RA…) is in Tango's book, not this one
        rows = list(s.scalars(select(LedgerEntry).where(LedgerEntry.provider_order_id.like("GC-%"))))
        keys = {e.idempotency_key for e in s.scalars(select(LedgerEntry))}
    problems: list[str] = []
    by_order: dict[str, int] = {}
    for entry in rows:
        order_id = entry.provider_order_id or ""
        by_order[order_id] = by_order.get(order_id, 0) + 1
        if order_id not in orders:
            problems.append(
                f"ledger row {entry.idempotency_key} names order {order_id}, which does not exist"
            )
    for order_id, ref in orders.items():
        if by_order.get(order_id, 0) > 1:
            problems.append(f"order {order_id} is on {by_order[order_id]} ledger rows")
        elif order_id not in by_order:
            why = "its ledger row names no order" if ref in keys else "no ledger row"
            problems.append(f"order {order_id} ({ref}): {why}")
    return problems
