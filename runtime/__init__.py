"""What the processes run: the Temporal worker and its providers, `make run`'s supervisor, and the one
start-up error handler every entry point's `main()` uses. A library: worker.py, run.py and the CLI's
commands import it."""
