"""Writes the import-linter contracts of pyproject.toml from the capability packages on disk.

A capability is a folder of `src/handoff` with a `service` module or package. Contracts that hold
for every capability use wildcards; the two that need "every package but this one" (a package's
repository and adapters are its own) and the order of the shells are written out per package.
`python scripts/layer_contracts.py` rewrites them after a package is added; `--check` exits 1 when
pyproject.toml is not what this script would write (the test suite checks it too).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "handoff"
MARK = "[[tool.importlinter.contracts]]"

ADAPTERS = ("api", "ui", "cli")
LOWER = ("repository", "connectors", "formats", "documents", "channels", "charts")
SHELLS = ("handoff.web", "handoff.worker", "handoff.cli", "handoff.runtime", "handoff.demo", "handoff.bootstrap")
KERNEL_PURE = ("handoff.kernel.money", "handoff.kernel.parties", "handoff.kernel.audit", "handoff.kernel.encoding",
               "handoff.kernel.escaping")
# pure modules of a capability that sit beside its `domain` module rather than in it
DOMAIN_PURE = ("handoff.reporting.forecast", "handoff.reporting.forecast_backtest")


def capabilities() -> list[str]:
    """The capability packages, in the order the data flows through them, then any newer ones."""
    flow = ["deals", "invoicing", "cash", "collections", "approvals", "accounting", "notifications", "reporting"]
    found = {p.name for p in SRC.iterdir() if (p / "service.py").exists() or (p / "service").is_dir()}
    return [p for p in flow if p in found] + sorted(found - set(flow))


def _exists(module: str) -> bool:
    path = ROOT / "src" / module.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").exists()


def _list(modules: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{m}"' for m in modules) + "]"


def _contract(name: str, kind: str, **fields: object) -> list[str]:
    lines = [MARK, f'name = "{name}"', f'type = "{kind}"']
    for key, value in fields.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, list | tuple):
            lines.append(f"{key} = {_list(value)}")
        else:
            lines.append(f'{key} = "{value}"')
    return [*lines, ""]


def contracts() -> str:
    caps = capabilities()
    every_layer = [f"handoff.*.{layer}" for layer in ("service", "repository", *ADAPTERS)]
    out = _contract(
        "Inside each capability: adapters -> service -> repository, connectors, formats -> domain",
        "layers",
        containers=[f"handoff.{p}" for p in caps],
        layers=["(api) : (ui) : (cli)", "(service)", " : ".join(f"({name})" for name in LOWER), "(domain)"],
    )
    out += _contract(
        "Use cases hold no SQL: services never import SQLAlchemy, the schema, the bulk writers or the runtime helpers",
        "forbidden",
        source_modules=["handoff.*.service"],
        forbidden_modules=["sqlalchemy", "handoff.kernel.storage.schema", "handoff.kernel.storage.bulk",
                           "handoff.kernel.storage.db", "handoff.runtime"],
        allow_indirect_imports=True,
    )
    out += _contract(
        "SQL only in repositories and kernel storage: adapters, domains, shells and the runtime never touch it",
        "forbidden",
        source_modules=[*(f"handoff.*.{layer}" for layer in (*ADAPTERS, "domain", "formats", "documents", "channels")),
                        "handoff.web", "handoff.worker", "handoff.cli", "handoff.demo", "handoff.runtime"],
        forbidden_modules=["sqlalchemy", "handoff.kernel.storage.schema", "handoff.kernel.storage.bulk"],
        allow_indirect_imports=True,
    )
    out += _contract(
        "Domains are pure: no I/O and no frameworks; the kernel's pure parts and other domains only",
        "forbidden",
        source_modules=["handoff.*.domain", *DOMAIN_PURE, *KERNEL_PURE],
        forbidden_modules=["sqlalchemy", "fastapi", "starlette", "httpx", "jinja2", "handoff.kernel.storage",
                           "handoff.kernel.connectors", "handoff.kernel.delivery", "handoff.context", "handoff.config",
                           *SHELLS, *every_layer, *(f"handoff.*.{layer}" for layer in LOWER[2:])],
    )
    out += _contract(
        "The kernel imports no capability, configuration or shell",
        "forbidden",
        source_modules=["handoff.kernel"],
        forbidden_modules=["handoff.*.domain", *every_layer, "handoff.config", "handoff.context", *SHELLS],
    )
    for p in caps:
        others = [f"handoff.{o}" for o in caps if o != p]
        if _exists(f"handoff.{p}.repository"):
            out += _contract(
                f"Others reach {p} only through its service and domain, never its repository",
                "forbidden",
                source_modules=[*others, *SHELLS],
                forbidden_modules=[f"handoff.{p}.repository"],
                allow_indirect_imports=True,
            )
        adapters = [f"handoff.{p}.{a}" for a in ADAPTERS if _exists(f"handoff.{p}.{a}")]
        if adapters:
            out += _contract(
                f"No other capability uses {p}'s adapters: only the shells mount them",
                "forbidden",
                source_modules=others,
                forbidden_modules=adapters,
                allow_indirect_imports=True,
            )
    out += _contract(
        "Shells on top, then the capabilities, the context and runtime, configuration, the kernel",
        "layers",
        layers=["handoff.cli : handoff.demo", "handoff.bootstrap", "handoff.web.app : handoff.worker",
                " : ".join(f"handoff.{p}" for p in caps), "handoff.context", "handoff.runtime", "handoff.config",
                "handoff.kernel"],
        # configuration, the context's interfaces and the runtime helpers build on the capabilities' pure domains
        ignore_imports=["handoff.config -> handoff.*.domain.**", "handoff.config -> handoff.*.domain",
                        "handoff.context -> handoff.*.domain.**", "handoff.runtime -> handoff.*.domain.**",
                        "handoff.runtime.** -> handoff.*.domain.**"],
    )
    return "\n".join(out)


def written(pyproject: str) -> str:
    """`pyproject` with its contracts replaced by the ones above."""
    start = pyproject.index(MARK)
    return pyproject[:start] + contracts()


def main(argv: list[str]) -> int:
    path = ROOT / "pyproject.toml"
    current = path.read_text()
    wanted = written(current)
    if "--check" in argv:
        if current != wanted:
            print("pyproject.toml's import contracts are out of date: run python scripts/layer_contracts.py")
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
