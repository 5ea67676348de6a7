"""The FastAPI app: events, webhooks, case API and the local phone."""
