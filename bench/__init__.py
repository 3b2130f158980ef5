"""The basebot benchmark (issue #6): `python -m bench --help`.

The API is `bench.run.run(bench.run.Config(...))` and `bench.report.render(report)`. This
module imports nothing on purpose: the serving process (`python -m bench.serve`) loads the
package, and its peak RSS must be basebot's, not pandas'.
"""
