"""kvstore.check is a leaf layer: of our code it may import only kvstore.errors."""

from __future__ import annotations

import ast

from _check_support import REPO


def test_check_imports_nothing_of_ours_but_errors() -> None:
    package = REPO / "kvstore" / "check"
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: use absolute imports"
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name == "cli" or name.startswith(("kvstore", "cli.")):
                    assert name == "kvstore.errors" or name.startswith("kvstore.check"), (
                        f"{path.name} imports {name}")
