"""Jepsen-style chaos testing of real kvstore clusters (issue 6).

Role: run a workload (`register` or `kv`) from concurrent logical clients
against a `LocalCluster` whose every peer and client link passes through a
fault-injecting TCP proxy, while a nemesis kills, pauses and partitions real
node processes; record the history in the checker's JSON-lines format, heal,
read every key back, and check the history for linearizability.

    report = run(ChaosConfig(out=Path("chaos-out"), workload="register",
                             nemesis=["partition", "kill", "pause"], time_s=60, seed=7))
    report.verdict, report.exit_code

Layering: imports `kvstore.client`, `kvstore.check`, `kvstore.cluster`,
`kvstore.errors`, `kvstore.sharding`, never the server's internals. The
faults are external to the code under test: signals to processes and cuts in
TCP proxies, nothing inside a node.
"""

from __future__ import annotations

from kvstore.chaos.nemesis import CLIENT_CUTS, KINDS
from kvstore.chaos.report import EXIT_NOT_RECOVERED, ChaosReport, run
from kvstore.chaos.runner import ChaosConfig
from kvstore.chaos.workload import WORKLOADS

__all__ = ["CLIENT_CUTS", "EXIT_NOT_RECOVERED", "KINDS", "WORKLOADS", "ChaosConfig",
           "ChaosReport", "run"]
