"""The dispatcher starts and signals workflows by name (so the web process loads no workflow or activity):
the names it uses are the ones the workflows declare, and importing the web app or the CLI loads none of
workflows/ or activities/."""

from __future__ import annotations

import subprocess
import sys

from temporalio import workflow

from dispatch import dispatcher
from dispatch import reps as router_client
from tests.support.settings import ROOT
from workflows.booking_conflict import BookingConflictRecovery
from workflows.checkin import CheckInWatch
from workflows.rep_router import RepRouter


def test_the_names_the_dispatcher_uses_are_the_workflows_own() -> None:
    assert workflow._Definition.must_from_class(BookingConflictRecovery).name == (
        dispatcher.BOOKING_CONFLICT_WORKFLOW
    )
    watch = workflow._Definition.must_from_class(CheckInWatch)
    assert watch.name == dispatcher.CHECKIN_WATCH_WORKFLOW
    assert {dispatcher.WATCH_MOVE_SIGNAL, dispatcher.WATCH_CANCEL_SIGNAL} <= set(watch.signals)
    router = workflow._Definition.must_from_class(RepRouter)
    assert router.name == router_client.ROUTER_WORKFLOW
    assert router_client.SET_PRESENCE_UPDATE in router.updates


def test_the_web_app_and_the_cli_load_no_workflow_or_activity() -> None:
    check = (
        "import sys, web.app, cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('workflows', 'activities')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
