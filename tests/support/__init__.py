"""What the tests (and bench/) share: launchers, stubs of the providers, factories and waits. Fixtures live
in the conftest.py files; this package holds plain code."""
