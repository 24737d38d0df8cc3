"""Operating clusters of real node processes: the local launcher and readiness probes.

Used by `kvctl cluster`, the test suite, the chaos harness and benchmarks.
Imports: server config types, proto, errors (never the server's internals).
"""
