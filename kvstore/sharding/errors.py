"""The sharding package's one error type.

`kvstore/sharding` imports nothing of ours, so it cannot raise
`kvstore.errors.InvalidArgument`; layers above translate `ShardingError` into
it (see `kvstore/proto_conv.py`). It subclasses ValueError so plain callers
still get a conventional exception.
"""

from __future__ import annotations


class ShardingError(ValueError):
    """An invalid ring definition, placement input or shard map (message says which)."""
