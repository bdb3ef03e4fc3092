"""Scale-out: one pinned IOService per worker process, sharded endpoints, supervision.

See :mod:`boomnet.cluster.launcher`.
"""

from .launcher import Cluster, WorkerInfo, keys_for, shard_of

__all__ = ["Cluster", "WorkerInfo", "shard_of", "keys_for"]
