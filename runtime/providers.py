"""The providers the config chooses: Twilio or the local phone, SendGrid or the local mailbox, Tango or the
local gift cards, Jira, GitHub or no external tracker."""

from __future__ import annotations

from config import Settings
from providers.gift_cards import GiftCardProvider
from providers.gift_cards.local import LocalGiftCards
from providers.gift_cards.tango import TangoGiftCards
from providers.mail import MailGateway, gateway_for
from providers.phone import PhoneGateway
from providers.phone.local import LocalPhone
from providers.phone.twilio import LiveTwilio
from providers.trackers import ExternalTracker
from providers.trackers.github import GitHubTracker
from providers.trackers.jira import JiraTracker
from store.db import Store


def phone_gateway(settings: Settings, store: Store) -> PhoneGateway:
    if settings.twilio_mode == "live":
        return LiveTwilio(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from_number,
            settings.twilio_api_base_url,
            callback_base=settings.public_base_url,
        )
    return LocalPhone(store, settings.twilio_from_number)


def mail_gateway(settings: Settings, store: Store) -> MailGateway:
    return gateway_for(settings, store)


def gift_card_provider(settings: Settings, store: Store) -> GiftCardProvider:
    if settings.gift_card_mode == "tango":
        return TangoGiftCards(
            settings.tango_api_base_url,
            settings.tango_platform_name,
            settings.tango_platform_key,
            settings.tango_account_identifier,
            settings.tango_customer_identifier,
            settings.tango_utid,
        )
    return LocalGiftCards(store, settings.public_base_url)


def problem_tracker(settings: Settings) -> ExternalTracker | None:
    """The external tracker TRACKER_MODE names (None: the case store only)."""
    if settings.tracker_mode == "jira":
        return JiraTracker(
            settings.jira_base_url,
            settings.jira_email,
            settings.jira_api_token,
            settings.jira_project_key,
            settings.jira_issue_type,
            settings.reopen_transitions(),
        )
    if settings.tracker_mode == "github":
        return GitHubTracker(settings.github_api_base_url, settings.github_token, settings.github_repository)
    return None
