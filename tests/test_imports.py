"""The import graph of the fastmme package has no cycles (issue 16): every `import` and `from … import`
in every module, those inside functions included (a cycle hidden in a function is still a cycle), read
from the source by the AST.  An edge goes to the module named, or, for `from pkg import name` where
`pkg.name` is a module, to that module."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fastmme"


def modules() -> dict:
    """Dotted module name → path, for every .py file of the package (a package is its __init__)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: dict) -> set:
    """The package's modules that module `name` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for a in node.names:
                sub = f"{module}.{a.name}"
                out.add(sub if sub in known else module)
    return {m for m in out if m in known and m != name}


def graph() -> dict:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(g: dict) -> list:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], 0
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_graph_is_read():
    """The reader sees the package's imports, those inside functions included."""
    g = graph()
    assert len(g) > 30
    assert "fastmme.api" in g["fastmme"] and "fastmme.errors" in g["fastmme.optimize.minimize"]
    assert "fastmme.results.mixedfit" in g["fastmme.api"]          # imported inside lmm()


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles in fastmme: " + "; ".join(" ↔ ".join(c) for c in found)


# the stages from the bottom up: a stage imports only stages below it (and the modules at the root
# that every stage may use); fastmme.api, the wiring, and the CLI sit on top
STAGES = ["linalg", "spec", "breeding", "formula", "assembly", "evaluate", "optimize", "results",
          "distributed", "testing", "datasets"]
ROOT_BELOW = {"fastmme.errors", "fastmme.config", "fastmme.lazy", "fastmme._moved"}


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in STAGES) else module


def test_stages_flow_one_way():
    """Collapsed to its stage subpackages, the graph is acyclic: data flow one way (issue 16)."""
    g = graph()
    edges = {}
    for a, deps in g.items():
        if a == "fastmme":
            continue
        for b in deps:
            sa, sb = stage(a), stage(b)
            if sa != sb and b not in ROOT_BELOW:
                edges.setdefault(sa, set()).add(sb)
    nodes = set(edges) | {b for d in edges.values() for b in d}
    found = cycles({n: edges.get(n, set()) for n in nodes})
    assert not found, "stages import each other: " + "; ".join(" ↔ ".join(c) for c in found)
    for a, deps in edges.items():          # nothing below the root's wiring imports it
        assert "fastmme.api" not in deps and "fastmme.cli" not in deps or a in ("fastmme.cli", "fastmme.__main__"), \
            (a, deps)                      # (python -m fastmme: the CLI's entry point, above it)
    assert {"spec", "evaluate", "results"} <= edges["fastmme.api"]


def test_root_modules_are_few():
    """The package root holds the public face, the wiring and what every stage uses; the rest is in stages."""
    root = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert root == ["__init__", "__main__", "_moved", "api", "cli", "config", "errors", "lazy", "progress"], root
