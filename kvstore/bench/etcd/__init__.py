"""A minimal etcd v3 client surface and a loopback etcd launcher, for `kvctl bench --compare etcd`.

`etcd_rpc.proto` is our own subset of etcd's API (KV.Put, KV.Range,
Maintenance.Status) with etcd's package name and field numbers;
`gen-proto` generates `etcd_rpc_pb2*.py` from it (checked in, never edited;
tests/bench checks they are current). `cluster.EtcdCluster` runs real etcd
members. Only the benchmark uses this package.
"""
