"""Peer transport: coalesced per-peer Raft message streams over gRPC, and their wire format."""
