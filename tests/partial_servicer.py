"""Base classes for test servers that implement only some methods of a service.

The generated modules carry no Servicer base classes (scripts/strip-servicers.py),
and `add_<Service>Servicer_to_server` needs every method: these answer the ones
a test leaves out with UNIMPLEMENTED, as an older node would.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.descriptor import FileDescriptor


def unimplemented(file: FileDescriptor, service: str) -> type:
    """A class whose every method of `service` aborts with UNIMPLEMENTED."""
    async def abort(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
                    ) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this test server")

    methods = {m.name: abort for m in file.services_by_name[service].methods}
    return type(f"Unimplemented{service}", (), methods)
