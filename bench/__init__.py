"""The Brewverse benchmark: `make bench` (quick) and `make bench-full`.

`bench.run` starts the server in its production shape on a fresh PostgreSQL database, `bench.load`
drives it over HTTP and real WebSockets from a separate process, `bench.django_tasks` seeds data and
counts queries in-process, and `bench.plot` draws the results. See docs/performance.md.
"""
