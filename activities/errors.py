"""How a provider call ended (`providers.errors`), where activities and workflows read it."""

from __future__ import annotations

from providers.errors import REJECTED_TYPE, ProviderAmbiguous, ProviderNotProcessed, ProviderRejected

__all__ = ["REJECTED_TYPE", "ProviderAmbiguous", "ProviderNotProcessed", "ProviderRejected"]
