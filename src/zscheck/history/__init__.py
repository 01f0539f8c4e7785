"""The run store and what reads it: every command's typed results kept across builds and nights.

- `record.py`: a command's report directory (its typed documents) and the facts around it as a `RunRecord`
- `store.py`: the store (SQLite by default, PostgreSQL given a `postgresql://` URL), its queries, JSON lines
- `findings.py`: the contract findings of a run, each keyed once (new / fixed / persisting)
- `stats.py`: the statistics of `zscheck compare` (tests over runs: permutation, A/A noise; TOST; bootstrap)
- `noise.py`: A/A pairs (`zscheck noise`) as each metric's run-to-run noise, and the stored noise of a target
- `compare.py`: two sides of runs, metric by metric; `trend.py`: change points over a stored series
- `charts.py`: the HTML pages of compare and trend (matplotlib, inline SVG)

Library code: it returns results and raises `ZscheckError`s (`StoreError`); the CLI prints.
"""
