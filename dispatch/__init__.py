"""From stored events to Temporal: the connection every process uses, the dispatcher (stored events →
workflow starts and signals, the relay), the reconciler, retries and dead-letter resubmission.

A library: web/, the CLI's commands and starter.py import it; it imports config, domain, encryption and
store, and names workflows by their type names (it never imports workflows/ or activities/)."""
