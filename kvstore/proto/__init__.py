"""Generated gRPC and protobuf modules (package kvstore.v1).

Written by scripts/gen-proto from proto/kvstore/v1/*.proto; never edit by hand.
tests/proto checks that this directory matches a fresh generation.
"""
