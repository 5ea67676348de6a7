"""Nederlands: every text a patient reads or hears, as `str.format` templates (see en.py: same keys, same
{placeholders}; SMS templates stay one GSM-7 segment)."""

TEXTS: dict[str, str] = {
    "no_name": "Uw praktijk",
    # ---------------------------------------------------------------- booking conflict
    "offer_sms": (
        "{name}: afspraak {before} vervalt. Nieuw: {choices}. Antwoord 1-{last}, 0=bel mij. STOP=afmelden"
    ),
    "offer_sms_choice": "{n}) {at}",
    "offer_voice": (
        "Goedendag, u wordt gebeld namens {practice}. Uw afspraak kan helaas niet doorgaan. "
        "{options}. Toets 0 om een medewerker te spreken."
    ),
    "offer_voice_option": "Toets {n} voor {at}",
    "voice_thanks": "Dank u. U ontvangt een bevestiging.",
    "voice_goodbye": "We hebben geen keuze ontvangen. Tot ziens.",
    "offer_email_subject": "{practice}: kies een nieuwe tijd",
    "offer_email_body": (
        "Uw afspraak bij {practice} op {before} kan helaas niet doorgaan.\n"
        "Kies een nieuwe tijd:\n{choices}\n\nLiever iemand spreken? Antwoord op deze e-mail."
    ),
    "offer_email_choice": "{n}. {at}: {link}",
    "confirm_sms": "{name}: u staat ingepland op {at}. STOP = afmelden",
    "confirm_email_subject": "{practice}: uw nieuwe afspraak",
    "confirm_email_body": "U staat ingepland bij {provider}, {practice}, op {at}.",
    "rep_will_call_sms": "{name}: een medewerker belt u zo snel mogelijk. STOP = afmelden",
    "compensation_email_subject": "Onze excuses: een cadeaubon voor u",
    "compensation_email_body": (
        "Het spijt ons dat uw afspraak bij {practice} niet doorging. "
        "Als excuus ontvangt u een cadeaubon van {money}: {url}"
    ),
    "compensation_sms": "{name}: excuses! Een cadeaubon van {money}: {url}",
    # ---------------------------------------------------------------- check-in
    "checkin_prompt_sms": (
        "{name}: inchecken voor {at}. Problemen met uw formulieren? Antwoord op dit bericht, "
        "wij helpen. STOP = afmelden"
    ),
    "checkin_thanks_sms": "{name}: dank u, fijn dat alles goed gaat. Tot zo!",
    "missed_call_sms": (
        "{name}: we probeerden u net te bellen. We proberen het snel opnieuw; antwoord hier als een ander"
        " moment beter past."
    ),
    "checkin_will_call_sms": (
        "{name}: vervelend! Een collega belt u binnen enkele minuten om het op te lossen."
    ),
    "checkin_resolved_sms": "{name}: bedankt voor uw geduld, het is opgelost.{gift}",
    "checkin_resolved_gift": " Als excuus een cadeaubon van {money}: {url}",
    "checkin_compensation_email_subject": "Onze excuses: een cadeaubon voor u",
    "checkin_compensation_email_body": (
        "Het spijt ons dat het inchecken bij {practice} niet soepel ging. "
        "Als excuus ontvangt u een cadeaubon van {money}: {url}"
    ),
    # ---------------------------------------------------------------- inquiry (a patient wrote in)
    "support_desk": "onze patiëntenservice",
    "inquiry_ack_email_subject": "We hebben uw bericht ontvangen",
    "inquiry_ack_email_body": (
        "Dank u voor uw bericht. Een medewerker van ons team leest het en antwoordt u per e-mail.\n\n"
        "Wilt u iets toevoegen? Beantwoord dan gewoon deze e-mail."
    ),
    # ---------------------------------------------------------------- feedback
    "feedback_request_sms": (
        "{name}: hoe hebben wij u geholpen? Antwoord met een cijfer 1 (slecht) tot 5 (prima), "
        "met een opmerking als u wilt. STOP = afmelden"
    ),
    "feedback_reask_sms": "{name}: dank u! Wilt u uw antwoord met een cijfer 1 tot 5 beginnen? Bijv: 4 fijn",
    "feedback_email_subject": "Hoe hebben wij u geholpen?",
    "feedback_email_body": (
        "Hoe hebben wij u geholpen bij {practice}? Kies een cijfer van 1 (slecht) tot 5 (prima):\n{scores}"
    ),
    "feedback_email_score": "{n}: {link}",
    # ---------------------------------------------------------------- pages: /gift/{link token}
    "gift_title": "Uw cadeaubon",
    "gift_kind": "Cadeaubon",
    "gift_lead": "Met onze excuses, en dank voor uw geduld.",
    "gift_amount": "Waarde",
    "gift_number": "Kaartnummer",
    "gift_issued": "Uitgegeven",
    "gift_order": "Referentie",
    "gift_keep": "Houd deze pagina voor uzelf: wie het kaartnummer heeft, kan de cadeaubon gebruiken.",
    "gift_missing_title": "Cadeaubon niet gevonden",
    "gift_missing": "Deze link leidt niet naar een cadeaubon. Controleer of de hele link is geopend.",
    # ---------------------------------------------------------------- pages: /choose/… and /feedback/…
    "link_invalid_title": "Link niet geldig",
    "link_invalid": "Deze link is niet meer geldig.",
    "choose_title": "Bevestig uw nieuwe tijd",
    "choose_button": "Boek keuze {n}",
    "choose_thanks_title": "Dank u",
    "choose_thanks": "Wij hebben uw keuze ontvangen. U krijgt zo een bevestiging.",
    "rate_title": "Hoe hebben wij u geholpen?",
    "rate_score": "Uw cijfer: {n} van 5",
    "rate_comment": "Een opmerking (niet verplicht)",
    "rate_send": "Versturen",
    "rate_thanks_title": "Dank u",
    "rate_thanks": "Wij hebben uw beoordeling ontvangen. Dank u wel.",
    # ---------------------------------------------------------------- the support line (patients calling in)
    "line_greeting": "Goedendag, dank u voor uw telefoontje. We verbinden u met een van onze medewerkers.",
    "line_choices": "Belt u over de nieuwe tijden die wij u aanboden? Toets dan nu uw keuze.",
    "line_hold": "Al onze medewerkers zijn in gesprek. Blijft u aan de lijn: u bent nummer {position}.",
    "line_hold_wait": "De verwachte wachttijd is ongeveer {minutes} minuten.",
    "line_callback_offer": "Toets 1 om teruggebeld te worden. U houdt uw plaats in de rij.",
    "line_callback_thanks": "Dank u. We bellen u terug zodra er iemand vrij is. Tot ziens.",
    "line_unavailable": (
        "Het spijt ons, we kunnen uw telefoontje nu niet aannemen. Belt u over enkele minuten opnieuw."
    ),
    "line_left": "Dank u voor uw telefoontje. Tot ziens.",
}
