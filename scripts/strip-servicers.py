"""Remove the generated `<Service>Servicer` base classes from *_pb2_grpc.py files.

grpcio-tools writes, for every service, a base class whose methods answer
UNIMPLEMENTED and raise NotImplementedError. We never ship a service that
relies on those defaults: our servicers define every method, and
`add_<Service>Servicer_to_server` reads each one, so a missing method fails at
registration (start-up), not as UNIMPLEMENTED at run time. Clients only use
the stubs. Usage: python scripts/strip-servicers.py FILE...
"""

from __future__ import annotations

import re
import sys

_SERVICER = re.compile(r"^class \w+Servicer(\(object\))?:\n.*?(?=^def add_\w+Servicer_to_server)",
                       re.DOTALL | re.MULTILINE)


def strip(text: str) -> str:
    out, n = _SERVICER.subn("", text)
    if n == 0:
        raise SystemExit("strip-servicers: no servicer class found (generator output changed?)")
    return out


if __name__ == "__main__":
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(strip(text))
