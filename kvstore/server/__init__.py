"""kvstore-node: configuration, process lifecycle, gRPC services and the multi-raft host loop."""
