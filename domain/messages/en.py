"""English: every text a patient reads or hears, as `str.format` templates.

A language is one file like this one in `domain/messages/`, named by its code (`de.py` for German), with
the same keys and the same {placeholders} (tests/domain/test_message_tables.py checks). Money, dates and
times arrive formatted for the language (Babel); a template only places them.

SMS templates (`*_sms`) must stay one GSM-7 segment: plain GSM-7 words (no curly quotes, no "..."), and
short; {name} is the practice's name, shortened to what the rest leaves."""

TEXTS: dict[str, str] = {
    # the practice's name when the booking system sent none
    "no_name": "Your practice",
    # ---------------------------------------------------------------- booking conflict
    "offer_sms": (
        "{name}: your {before} visit is off. New: {choices}. Reply 1-{last}, 0=call me. STOP=opt out"
    ),
    "offer_sms_choice": "{n}) {at}",
    "offer_voice": (
        "Hello, this is a call on behalf of {practice}. Your appointment can no longer go ahead. "
        "{options}. Press 0 to speak to a person."
    ),
    "offer_voice_option": "Press {n} for {at}",
    "voice_thanks": "Thank you. You will get a confirmation.",
    "voice_goodbye": "We did not get a choice. Goodbye.",
    "offer_email_subject": "{practice}: choose a new time",
    "offer_email_body": (
        "Your appointment at {practice} on {before} can no longer go ahead.\n"
        "Choose a new time:\n{choices}\n\nRather talk to a person? Reply to this email."
    ),
    "offer_email_choice": "{n}. {at}: {link}",
    "confirm_sms": "{name}: you're booked for {at}. STOP to opt out",
    "confirm_email_subject": "{practice}: your new appointment",
    "confirm_email_body": "You're booked with {provider} at {practice} on {at}.",
    "rep_will_call_sms": "{name}: someone from our team will call you shortly. STOP to opt out",
    "compensation_email_subject": "We're sorry: a gift card for you",
    "compensation_email_body": (
        "We're sorry your appointment at {practice} did not go ahead. "
        "As an apology, here is a {money} gift card: {url}"
    ),
    "compensation_sms": "{name}: we're sorry! A {money} gift card for you: {url}",
    # ---------------------------------------------------------------- check-in
    "checkin_prompt_sms": (
        "{name}: check-in for {at}. Reply if you have any trouble with your paperwork "
        "and we'll help. STOP to opt out"
    ),
    "checkin_thanks_sms": "{name}: thanks, glad all is well. See you soon!",
    "missed_call_sms": (
        "{name}: we tried to call you just now. We'll try again soon; reply here if another time suits."
    ),
    "checkin_will_call_sms": (
        "{name}: sorry about that! A colleague will call you within minutes to sort it out."
    ),
    "checkin_resolved_sms": "{name}: thanks for your patience, it's resolved.{gift}",
    "checkin_resolved_gift": " Sorry! A {money} gift card: {url}",
    "checkin_compensation_email_subject": "We're sorry: a gift card for you",
    "checkin_compensation_email_body": (
        "We're sorry checking in at {practice} did not go smoothly. "
        "As an apology, here is a {money} gift card: {url}"
    ),
    # ---------------------------------------------------------------- inquiry (a patient wrote in)
    "support_desk": "our patient support",
    "inquiry_ack_email_subject": "We got your message",
    "inquiry_ack_email_body": (
        "Thank you for writing to us. A person from our team will read your message and answer you by "
        "email.\n\nTo add something, just reply to this email."
    ),
    # ---------------------------------------------------------------- feedback
    "feedback_request_sms": (
        "{name}: how did we do? Reply with a number from 1 (poor) to 5 (great), with a comment "
        "if you like. STOP to opt out"
    ),
    "feedback_reask_sms": "{name}: thank you! Could you start your reply with a number 1-5? E.g. 4 all good",
    "feedback_email_subject": "How did we do?",
    "feedback_email_body": (
        "How did we do at {practice}? Choose a score from 1 (poor) to 5 (great):\n{scores}"
    ),
    "feedback_email_score": "{n}: {link}",
    # ---------------------------------------------------------------- pages: /gift/{link token}
    "gift_title": "Your gift card",
    "gift_kind": "Gift card",
    "gift_lead": "With our apologies, and thank you for your patience.",
    "gift_amount": "Value",
    "gift_number": "Card number",
    "gift_issued": "Issued",
    "gift_order": "Reference",
    "gift_keep": "Keep this page to yourself: whoever has the card number can use the card.",
    "gift_missing_title": "Gift card not found",
    "gift_missing": "This link does not lead to a gift card. Check that the whole link was opened.",
    # ---------------------------------------------------------------- pages: /choose/… and /feedback/…
    "link_invalid_title": "Link not valid",
    "link_invalid": "This link is not valid any more.",
    "choose_title": "Confirm your new time",
    "choose_button": "Book option {n}",
    "choose_thanks_title": "Thank you",
    "choose_thanks": "We have your choice. You will get a confirmation shortly.",
    "rate_title": "How did we do?",
    "rate_score": "Your score: {n} of 5",
    "rate_comment": "A comment (optional)",
    "rate_send": "Send",
    "rate_thanks_title": "Thank you",
    "rate_thanks": "We have your rating. Thank you for telling us.",
    # ---------------------------------------------------------------- the support line (patients calling in)
    "line_greeting": "Hello, thank you for calling. We are connecting you to one of our team.",
    "line_choices": "If you are calling about the new times we offered you, press your choice now.",
    "line_hold": "All of our team are busy. Please stay on the line: you are number {position} in line.",
    "line_hold_wait": "The expected wait is about {minutes} minutes.",
    "line_callback_offer": "Press 1 to be called back instead. You keep your place in line.",
    "line_callback_thanks": "Thank you. We will call you back as soon as someone is free. Goodbye.",
    "line_unavailable": "Sorry, we cannot take your call right now. Please call again in a few minutes.",
    "line_left": "Thank you for calling. Goodbye.",
}
