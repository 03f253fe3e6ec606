"""The shape of the Python package, read from its source: the native module
is used only by the modules that wrap it, and no module imports itself back
through others (imports inside functions count)."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[3] / "python" / "bluefog"

# The modules that wrap the native module `_bluefog`: the op modules (and
# autograd, the backward of their collectives), init/shutdown, the timeline,
# the native exception classes and argument checks, and the topology core.
NATIVE_WRAPPERS = {
    "bluefog.torch.mpi_ops", "bluefog.torch.neighbor_ops", "bluefog.torch.win_ops",
    "bluefog.torch.autograd", "bluefog.torch.lifecycle", "bluefog.torch.timeline",
    "bluefog.torch.errors", "bluefog.torch.arguments",
    "bluefog.common.topology_checks", "bluefog.common.topology_graphs",
    "bluefog.common.topology_schedules", "bluefog.common.topology_mixing",
}


def modules():
    """{dotted name: parsed source} of every module of the package."""
    parsed = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        parsed[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return parsed


def imported_modules(tree, known):
    """The package's modules that `tree` imports, anywhere in it."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from bluefog.torch import arguments` imports a module too.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def test_only_the_native_wrappers_use_the_native_module():
    users = set()
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "_bluefog":
                users.add(name)
    strays = sorted(users - NATIVE_WRAPPERS)
    assert not strays, f"modules that use _bluefog but do not wrap it: {strays}"


def test_no_import_cycles():
    parsed = modules()
    # A package's __init__ imports its modules to re-export them; those
    # modules import their siblings, not the package, so packages are left
    # out of the graph.
    packages = {name for name in parsed
                if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()}
    graph = {name: imported_modules(tree, parsed) - packages
             for name, tree in parsed.items() if name not in packages}

    def cycle_from(start):
        path, on_path, done = [], set(), set()

        def visit(node):
            path.append(node)
            on_path.add(node)
            for nxt in sorted(graph.get(node, ())):
                if nxt in on_path:
                    return path[path.index(nxt):] + [nxt]
                if nxt not in done:
                    found = visit(nxt)
                    if found:
                        return found
            on_path.discard(path.pop())
            done.add(node)
            return None

        return visit(start)

    for name in sorted(graph):
        cycle = cycle_from(name)
        assert cycle is None, "import cycle: " + " -> ".join(cycle)
