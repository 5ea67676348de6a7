"""Pydantic models and pure policy decisions shared by web, starter, workflows and activities (no I/O)."""
