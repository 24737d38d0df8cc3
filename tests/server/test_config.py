"""Node configuration: TOML plus flags, and clear errors for bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvstore.errors import ConfigError
from kvstore.server.config import load_config, parse_peers

GOOD = """
node_id = 2
listen = "127.0.0.1:7002"
data_dir = "d"
shards = 4
[peers]
1 = "127.0.0.1:7001"
2 = "127.0.0.1:7002"
3 = "127.0.0.1:7003"
"""


def test_toml_is_loaded_and_flags_override(tmp_path: Path) -> None:
    p = tmp_path / "n.toml"
    p.write_text(GOOD)
    cfg = load_config(str(p), {"shards": 16, "tick_ms": None})
    assert cfg.node_id == 2 and cfg.shards == 16 and cfg.tick_ms == 50
    assert cfg.peers == {1: "127.0.0.1:7001", 2: "127.0.0.1:7002", 3: "127.0.0.1:7003"}


@pytest.mark.parametrize(("override", "message"), [
    ({"node_id": 9}, "peers must include this node"),
    ({"replication": 4}, "replication must be between"),
    ({"shards": 0}, "shards must be between"),
    ({"election_ticks": 1}, "heartbeat_ticks < election_ticks"),
    ({"bogus": 1}, "unknown configuration keys: bogus"),
    ({"peer_transport": "udp"}, "peer_transport must be 'tcp' or 'grpc'"),
    ({"leader_policy": "random"}, "leader_policy must be 'spread' or 'pack'"),
    ({"raft_tcp_port": 70000}, "raft_tcp_port must be between 0 and 65535"),
    ({"raft_tcp_port": "7100"}, "raft_tcp_port must be an integer, got '7100'"),
    ({"follower_apply_delay_ms": -1}, "follower_apply_delay_ms must be between 0 and 10000"),
    ({"follower_apply_delay_ms": "40"}, "follower_apply_delay_ms must be a number, got '40'"),
    ({"tick_ms": 2.5}, "tick_ms must be an integer, got 2.5"),
    ({"fsync": 1}, "fsync must be true or false, got 1"),
    ({"shards": True}, "shards must be an integer, got True"),
])
def test_bad_settings_name_the_problem(tmp_path: Path, override: dict[str, object],
                                       message: str) -> None:
    p = tmp_path / "n.toml"
    p.write_text(GOOD)
    with pytest.raises(ConfigError, match=message):
        load_config(str(p), override)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.toml"), {})
    bad = tmp_path / "bad.toml"
    bad.write_text("node_id = = 1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(str(bad), {})


def test_parse_peers() -> None:
    assert parse_peers("1=a:1, 2=b:2") == {1: "a:1", 2: "b:2"}
    with pytest.raises(ConfigError, match="expected ID=HOST:PORT"):
        parse_peers("x=a:1")
