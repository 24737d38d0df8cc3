"""kvstore: a Raft-replicated, sharded key-value store.

Layers (top imports bottom, never the reverse): cli -> client -> server ->
transport/statemachine -> storage; raft, check and sharding import nothing of ours.
See shared/design/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
