"""Every `workflow.patched` id the workflows use, one a line: what it guards, and since when.

A patch id is written into the history of every case that passes it (a marker, and the
`TemporalChangeVersion` search attribute), so an id never changes once a case has run with it. To retire
one, see the README, "Changing a workflow": `workflow.deprecate_patch`, wait until no running history
predates it, then remove the branch (and only then re-record `tests/histories`).
"""

from __future__ import annotations

# Escalation: a release or hand-over keeps the level's deadline, and every escalation ends by its final
# deadline (before: a fresh SLA each time). Since 2026-11-23 (b1fd3de).
DEADLINES_HOLD_PATCH = "escalation-deadlines-hold"

# A provider down past its retry budget is a branch of the story (alert on the timeline, next channel,
# a rep) instead of a failed workflow; also staff notifications. Since 2026-11-23 (ef88334).
PROVIDER_OUTAGE_PATCH = "provider-outage-is-a-branch"

# Booking conflict: after the quiet-hours or caps sleep, ask `next_allowed` again before the first
# message (before: straight on after one sleep). Since 2026-11-23 (c987004, issue 9).
RECHECK_AFTER_DEFERRAL_PATCH = "recheck-contact-rules-after-deferral"

# A landline (Patient.sms_capable false, judged at ingress) gets no text: booking conflict offers by
# email or a call, the check-in watch ends. Since 2026-11-23 (63c4bb3, issue 9).
LANDLINE_PATCH = "landline-gets-no-sms"

# Booking conflict: the patient's yearly cap and the daily budget are checked and the payment reserved
# in the ledger before the system pays on its own (before: paid straight away). Since 2026-11-23 (84b2e49).
COMPENSATION_BUDGET_PATCH = "compensation-cap-and-budget"

# Filing a root cause starts a TicketSync child (abandoned) for the external tracker (before: never
# asked; their TicketResult has no `sync`). Since 2026-11-23 (9c835ba, issue 10).
TRACKER_SYNC_PATCH = "external-tracker-sync"

# Store steps run as local activities (`case.store_step`) instead of activity tasks through the server.
# Since 2026-11-24 (b7ae522, issue 11).
LOCAL_STORE_PATCH = "store-steps-local"

# A case closed `resolved` starts a FeedbackRequest child (abandoned) that asks the patient to rate it
# (before: closed without one). Since 2026-11-24 (d3fde19).
FEEDBACK_PATCH = "feedback-request-after-resolve"
