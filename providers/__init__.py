"""The external systems, one package per system: its interface in `__init__.py`, one module per plugin
(`phone`: local, twilio; `mail`: local, sendgrid; `gift_cards`: local, tango; `trackers`: jira, github;
`calendar`: local). `errors` says how a provider call ended. Providers import `domain`, `config` and
`store`, never `activities`, `workflows`, `web` or an entry point."""
