"""The kvstore client library: `KVClient` (asyncio) and `SyncKVClient` (blocking).

Routing (consistent-hash ring + leader cache), request coalescing into Batch
RPCs, retries with backoff and deadlines, per-node circuit breakers,
exactly-once writes (client id + sequence numbers) and four consistency
levels: linearizable, lease, sequential, stale.
"""

from kvstore.client.core import CONSISTENCY, KVClient
from kvstore.client.sync import SyncKVClient

__all__ = ["CONSISTENCY", "KVClient", "SyncKVClient"]
