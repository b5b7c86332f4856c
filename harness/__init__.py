"""What the tests and the benchmarks both need to run Voxsig for real: free ports and process
groups (`processes`), `voxsig serve`/`worker`/CLI subprocesses (`server`), a throwaway
PostgreSQL cluster (`postgres`) and the outbox's state as the models see it (`deliveries`).

A top-level package, not under tests/: `python -m bench` imports it from the repository root,
and pytest finds it there too (the root is on sys.path as tests/ is a package).
"""
