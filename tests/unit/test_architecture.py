"""The house rules, read from the code itself: imports only point down the layers, no import circle
(imports inside functions count; only `if TYPE_CHECKING:` blocks are exempt), nothing outside store/
touches the catalog, SQL or the index files, the interfaces (cli/, web/) go through the service, and no
module passes 400 lines."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "lookalike"

# Layers from the bottom up; a module may import its own layer or lower ones, never a higher one.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "system", "output", "types", "extras", "raw", "video", "images"),
    ("embedders", "pipeline", "settings"),
    ("join",),
    ("store",),
    ("similarity",),
    ("dedupe", "evaluation", "training", "viz", "scale", "corpus"),
    ("service",),
    ("cli", "web", "__main__"),
]
# What the interfaces may import: the service, settings, errors, output, images (thumbnails), viz
# (drawing) and the shared result/option types; never the store, the engines or the models.
INTERFACE_MAY_IMPORT = {"service", "settings", "errors", "output", "images", "viz", "types", "cli", "web"}
STORE_INTERNALS = ("store.catalog", "store.schema", "store.index_keeper", "store.syncer", "store.decisions",
                   "store.lock", "store.rwlock", "store.opening")
# The CLI's last-resort handler names sqlite3's error class so that a damaged catalog is one line.
SQLITE_ALLOWED = {"cli"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(module: str, path: Path, known: set[str]) -> list[str]:
    """The lookalike modules `module` imports at run time (relative imports resolved; TYPE_CHECKING
    blocks left out), as dotted names below lookalike; `from pkg import sub` names the submodule."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_lines(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module or ""]).strip(".")
            elif node.module and (node.module == "lookalike" or node.module.startswith("lookalike.")):
                target = node.module.removeprefix("lookalike").strip(".")
            else:
                if node.module == "sqlite3":
                    found.append("sqlite3")
                continue
            subs = [f"{target}.{a.name}".strip(".") for a in node.names]
            found.extend(sub for sub in subs if sub in known) if any(s in known for s in subs) else found.append(target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lookalike."):
                    found.append(alias.name.removeprefix("lookalike."))
                elif alias.name == "sqlite3":
                    found.append("sqlite3")
    return [t for t in found if t]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for target in _imports(module, path, known):
            graph[module].add(target)
    return graph


def _layer(module: str) -> int:
    first = module.split(".")[0]
    for level, names in enumerate(LAYERS):
        if first in names:
            return level
    raise AssertionError(f"module lookalike.{module} is in no layer: add it to LAYERS")


def test_imports_only_point_down() -> None:
    wrong = [f"lookalike.{module} imports lookalike.{target}"
             for module, targets in _graph().items() if module
             for target in targets if target != "sqlite3" and _layer(target) > _layer(module)]
    assert not wrong, "upward imports:\n" + "\n".join(sorted(wrong))


def test_no_import_circle() -> None:
    graph = _graph()
    modules = set(_modules())

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    edges = {m: {r for t in targets if (r := resolve(t)) is not None and r != m and not m.startswith(f"{r}.")}
             for m, targets in graph.items() if m}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert not circles, f"import circles: {circles}"


def test_store_internals_stay_in_the_store() -> None:
    wrong = []
    for module, targets in _graph().items():
        if module.startswith("store"):
            continue
        for target in targets:
            if target == "sqlite3" and module.split(".")[0] not in SQLITE_ALLOWED:
                wrong.append(f"lookalike.{module} imports sqlite3")
            elif target.startswith(STORE_INTERNALS):
                wrong.append(f"lookalike.{module} imports lookalike.{target}")
    assert not wrong, "\n".join(sorted(wrong))
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if not relative.startswith("store/"):
            text = path.read_text()
            assert ".catalog" not in text.replace("catalog.sqlite", ""), f"{relative} reaches into a catalog"
            assert '".lookalike"' not in text or relative == "types.py", f"{relative} spells the state folder"


def test_interfaces_go_through_the_service() -> None:
    wrong = [f"lookalike.{module} imports lookalike.{target}"
             for module, targets in _graph().items() if module.split(".")[0] in ("cli", "web")
             for target in targets if target != "sqlite3" and target.split(".")[0] not in INTERFACE_MAY_IMPORT]
    assert not wrong, "\n".join(sorted(wrong))


def test_the_service_signatures_have_no_any() -> None:
    for path in (PACKAGE / "service").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                annotations = [a.annotation for a in [*node.args.args, *node.args.kwonlyargs] if a.annotation]
                annotations += [node.returns] if node.returns else []
                assert all("Any" not in ast.unparse(a) for a in annotations), f"{path.name}:{node.name} uses Any"


def test_one_find_pairs_and_one_duplicate_group() -> None:
    definitions: dict[str, list[str]] = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in ("find_pairs", "DuplicateGroup"):
                definitions[node.name].append(path.relative_to(PACKAGE).as_posix())
    assert definitions == {"find_pairs": ["similarity/pairs.py"], "DuplicateGroup": ["types.py"]}


def test_no_module_passes_400_lines() -> None:
    counts = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {name: count for name, count in counts.items() if count > 400}
    assert not long, long


def test_no_merge_conflict_markers_left() -> None:
    """A merge left `<<<<<<<`/`=======`/`>>>>>>>` lines in docs/results.md once; they must never land."""
    root = PACKAGE.parents[1]
    markers = ("<<<<<<< ", "=======\n", ">>>>>>> ")
    found = []
    for folder, pattern in (("src", "*.py"), ("tests", "*.py"), ("benchmarks", "*.py"), ("docs", "*.md"),
                            ("scripts", "*.sh"), (".", "*.md"), (".", "*.toml"), (".", "Makefile")):
        for path in (root / folder).glob(pattern) if folder == "." else (root / folder).rglob(pattern):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(keepends=True), 1):
                if line.startswith(markers) or line.rstrip("\n") == "<<<<<<<":
                    found.append(f"{path.relative_to(root)}:{number}")
    assert not found, f"merge conflict markers: {found}"
