"""Every `workflow.patched` id the workflows use, one a line: what it guards, and since when.

A patch id is written into the history of every case that passes it (a marker, and the
`TemporalChangeVersion` search attribute), so an id never changes once a case has run with it. To retire
one, see the README, "Changing a workflow": `workflow.deprecate_patch`, wait until no running history
predates it, then remove the branch (and only then re-record `tests/histories`).
"""

from __future__ import annotations

# Escalation: release and hand-over keep the level's deadline; a final deadline ends it. Since 2026-11-23.
DEADLINES_HOLD_PATCH = "escalation-deadlines-hold"

# A provider down past its budget is an alert and the next channel, not a failed workflow. Since 2026-11-23.
PROVIDER_OUTAGE_PATCH = "provider-outage-is-a-branch"

# After a quiet-hours or caps sleep, the first outreach asks the contact rules again. Since 2026-11-23.
RECHECK_AFTER_DEFERRAL_PATCH = "recheck-contact-rules-after-deferral"

# A landline (sms_capable false at ingress) gets no text: email or a call, no check-in. Since 2026-11-23.
LANDLINE_PATCH = "landline-gets-no-sms"

# Before paying on its own, the yearly cap and the daily budget are checked and reserved. Since 2026-11-23.
COMPENSATION_BUDGET_PATCH = "compensation-cap-and-budget"

# Filing a root cause starts a TicketSync child for the external tracker (Jira, GitHub). Since 2026-11-23.
TRACKER_SYNC_PATCH = "external-tracker-sync"

# Store steps are local activities in the case's worker, not activity tasks on the server. Since 2026-11-24.
LOCAL_STORE_PATCH = "store-steps-local"

# A case closed `resolved` starts a FeedbackRequest child that asks the patient to rate it. Since 2026-11-24.
FEEDBACK_PATCH = "feedback-request-after-resolve"

# A second conflict's offer waits while an earlier case of the patient's has its offer open. Since 2026-12-07.
ONE_OFFER_AT_A_TIME_PATCH = "one-offer-at-a-time"

# A booking conflict's gift card goes by SMS whenever texts reach the patient, and by email too when they
# have an address (it went by email only, SMS only without one). Since 2026-12-07.
GIFT_CARD_BY_SMS_TOO_PATCH = "gift-card-by-sms-too"

# A booking conflict's offer is news about the patient's own appointment: the caps never hold it past the
# last waking moment a margin before the appointment (contact_rules.next_allowed_for_news). Since 2026-12-07.
NEWS_PATCH = "news-not-held-past-its-use"

# A rating request obeys the contact rules: one a patient a day, for their latest case, none while another
# case of theirs is in progress, within the caps (feedback.decide, asking the store). Since 2026-12-07.
FEEDBACK_RULES_PATCH = "feedback-within-contact-rules"

# An escalation whose reason is in ROUTING__AUTO_CALL_REASONS is offered to the next free rep by the
# RepRouter (their phone rings; pressing 1 claims it), withdrawn when claimed otherwise or closed, and a
# patient the rep's call did not reach is texted and the escalation goes back to the queue. Since 2026-12-07.
REPS_RUNG_PATCH = "reps-rung-for-urgent-work"

# An email that needs a person is offered to reps in the console, not on their phone: its offer rings
# nothing (the rep accepts or passes it on the console page), and a `work_done` signal (its answer went
# out) sends the rep who took it to wrap-up. Since 2026-12-07.
EMAIL_WORK_PATCH = "email-work-offered-in-console"

# A deadline less than a millisecond away has passed: no timer that short is started (servers keep time in
# milliseconds; Temporal's test server refused a task that started one and the router stalled). Since
# 2026-12-07.
SUB_MILLISECOND_TIMER_PATCH = "no-sub-millisecond-timer"
