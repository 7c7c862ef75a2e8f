"""The server's packages import one way: `runtime/` wires everything; the front doors
(`api/`, `gateway/`, `replication/`, `sidecar/`) call into `authz/` and `authn/` and report
decisions to `insight/`, which reads `authz/` but never `api/`;
`authz/` decides from `store/` and the engine, `iamd_policy` (in the client distribution, so
that the SDK decides with the same code), which imports the standard library only. Read from
the source with `ast`, so a back edge fails here before it is a cycle."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "server" / "iamd_server"
ENGINE = ROOT / "client" / "iamd_policy"

# Nothing in these imports `api/` (the gRPC servicers) or `runtime/` (the process).
BELOW_API = (
    "authn",
    "authz",
    "store",
    "analysis",
    "errors",
    "startup",
    "validation",
    "insight",
)


def _module_name(path: Path) -> str:
    root = ENGINE.parent if path.is_relative_to(ENGINE) else PACKAGE.parent
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (relative imports resolved, TYPE_CHECKING included);
    ``from package import name`` counts as ``package.name``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    paths = sorted([*PACKAGE.rglob("*.py"), *ENGINE.rglob("*.py")])
    return {_module_name(path): _imports(path) for path in paths}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _layer(module: str) -> str:
    """The top-level room of an iamd_server module: "authz" for iamd_server.authz.cache."""
    return module.split(".")[1] if module.count(".") else ""


def test_the_import_graph_is_read() -> None:
    graph = _graph()
    # Known edges: if these are not seen, the parser sees nothing and every check passes.
    assert "iamd_server.api.dispatch" in graph["iamd_server.runtime.app"]
    assert "iamd_server.authn.authenticator.Caller" in graph["iamd_server.authz.decisions"]
    assert "iamd_policy.compile" in graph["iamd_policy.acl"]


def test_nothing_below_api_imports_api_or_runtime() -> None:
    back_edges = sorted(
        (module, target)
        for module, targets in _graph().items()
        if _layer(module) in BELOW_API or _within(module, "iamd_policy")
        for target in targets
        if _within(target, "iamd_server.api") or _within(target, "iamd_server.runtime")
    )
    assert back_edges == []


def test_only_runtime_imports_runtime_but_its_metrics() -> None:
    # `runtime.metrics` is a leaf every front door records into; the rest is the process.
    edges = sorted(
        (module, target)
        for module, targets in _graph().items()
        if _layer(module) != "runtime"
        for target in targets
        if _within(target, "iamd_server.runtime")
        and not _within(target, "iamd_server.runtime.metrics")
        and target != "iamd_server.runtime"
    )
    assert edges == []


def test_runtime_metrics_imports_nothing_of_iamd_server() -> None:
    graph = _graph()
    assert not [t for t in graph["iamd_server.runtime.metrics"] if _within(t, "iamd_server")]


def test_the_engine_imports_only_itself_and_the_standard_library() -> None:
    outside = sorted(
        (module, target)
        for module, targets in _graph().items()
        if _within(module, "iamd_policy")
        for target in targets
        if not _within(target, "iamd_policy")
        and target.split(".")[0] not in sys.stdlib_module_names
        and target != "__future__"
        and not target.startswith("__future__.")
    )
    assert outside == []


# The Decider's entry for Authorize and AuthorizeBatch (authz/authorize_entry.py): api/
# parses, asks the entry, encodes.
AUTHORIZE_ENTRY = {
    "authorize_now",
    "authorize",
    "authorize_end_user",
    "authorize_batch_now",
    "authorize_batch",
    "replied",
    "remember_reply",
}
AUTHORIZE_METHODS = ("Authorize", "AuthorizeBatch", "_authorize_end_user", "authorize_cached")
# What decides inside the Decider: its caches, remembered decisions and grants, and the
# generation its settle loops read.
DECIDER_INTERNALS = {
    "principals",
    "resources",
    "roles",
    "lookup_principal",
    "lookup_resource",
    "resource_policies",
    "memoized",
    "evaluate",
    "replies",
    "grants",
    "may_authorize_cached",
    "may_authorize_for",
    "known_actions",
    "require_action",
    "check_action",
    "registry_reloading",
    "generation",
    "settled",
    "settled_since",
    "fresh",
    "feed",
}


def _attributes_on(function: ast.AST, holder: str) -> set[str]:
    """Attribute names read on the servicer's ``holder`` in ``function``: ``self.<holder>.x``,
    or ``x`` of a local bound to ``self.<holder>``."""

    def is_holder(node: ast.expr) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == holder

    aliases = {
        target.id
        for node in ast.walk(function)
        if isinstance(node, ast.Assign) and is_holder(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return {
        node.attr
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute)
        and (
            is_holder(node.value) or (isinstance(node.value, ast.Name) and node.value.id in aliases)
        )
    }


def test_authorize_asks_only_the_deciders_entry() -> None:
    tree = ast.parse((PACKAGE / "api" / "authorization.py").read_text())
    methods = {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    used = {name: _attributes_on(methods[name], "_entry") for name in AUTHORIZE_METHODS}
    # Seen at all: otherwise the parser sees nothing and the checks below pass.
    assert {"authorize_now", "authorize"} <= used["Authorize"]
    assert {"authorize_batch_now", "authorize_batch"} <= used["AuthorizeBatch"]
    assert {name: sorted(attrs - AUTHORIZE_ENTRY) for name, attrs in used.items()} == {
        name: [] for name in AUTHORIZE_METHODS
    }
    # Authorize and AuthorizeBatch reach the Decider only through its entry.
    assert {name: sorted(_attributes_on(methods[name], "_decider")) for name in used} == {
        name: [] for name in AUTHORIZE_METHODS
    }
    # Nowhere in the module (simulations included) are the Decider's internals reached.
    assert sorted(_attributes_on(tree, "_decider") & DECIDER_INTERNALS) == []


def test_the_entry_offers_only_authorize() -> None:
    """AuthorizeEntry's public methods are the entry the servicer may ask, no more."""
    tree = ast.parse((PACKAGE / "authz" / "authorize_entry.py").read_text())
    (entry,) = (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AuthorizeEntry")
    public = {
        node.name
        for node in entry.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("_")
    }
    assert public == AUTHORIZE_ENTRY
