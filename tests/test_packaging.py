"""The installed distribution: one import package, ``policyqa``, whose every module imports, whose every
third-party import is a declared dependency, and which works from a plain (non-editable) install."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
COMMANDS = ("parse", "index", "search", "serve", "eval", "bench")


def _normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Foo_Bar`` = ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_modules() -> list[str]:
    """Every module of the installed ``policyqa`` package, sub-packages in other folders included."""
    names: set[str] = set()
    for package_name in PACKAGE_DIRS:  # policyqa and each policyqa.<folder> it maps
        package = importlib.import_module(package_name)
        names.add(package_name)
        names.update(info.name for info in pkgutil.walk_packages(package.__path__, f"{package_name}."))
    return sorted(names)


def _runtime_imports(tree: ast.Module) -> set[str]:
    """Top-level names of the absolute imports in ``tree``, leaving out ``if TYPE_CHECKING:`` blocks."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


FEATURE_EXTRAS = ("bench",)  # extras whose imports the package guards with an error naming the extra


def declared_requirements() -> set[str]:
    """Normalised names of policyqa's own requirements and its feature extras' (``dev`` excluded)."""
    declared = set()
    for requirement in requires("policyqa") or []:
        name, _, marker = requirement.partition(";")
        extra = re.search(r"\bextra\s*==\s*[\"']([\w-]+)", marker)
        if extra and extra.group(1) not in FEATURE_EXTRAS:
            continue
        declared.add(_normalise(re.match(r"[A-Za-z0-9._-]+", name.strip()).group()))
    return declared


def test_every_module_of_the_installed_package_imports() -> None:
    modules = installed_modules()
    assert {"policyqa.cli", "policyqa.corpus.parse", "policyqa.indexer.index", "policyqa.service.app"} <= set(
        modules
    )
    for name in modules:
        importlib.import_module(name)


def test_every_third_party_import_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    declared = declared_requirements()
    undeclared: dict[str, list[str]] = {}
    for name in installed_modules():
        origin = importlib.util.find_spec(name).origin
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"), origin)
        for top in _runtime_imports(tree):
            if top in sys.stdlib_module_names or top in {"policyqa", "__future__"}:
                continue
            providers = {_normalise(dist) for dist in distributions.get(top, [])}
            if not providers & declared:
                label = f"{top} ({', '.join(sorted(providers)) or 'not installed'})"
                undeclared.setdefault(label, []).append(name)
    assert not undeclared, f"imported but not in [project.dependencies] or {FEATURE_EXTRAS}: {undeclared}"


def _copy_sources(target: Path) -> Path:
    """What a build of the distribution reads: pyproject.toml, the readme and each package folder."""
    target.mkdir()
    shutil.copy2(REPO / "pyproject.toml", target)
    shutil.copy2(REPO / PYPROJECT["project"]["readme"], target)
    for folder in sorted(set(PACKAGE_DIRS.values())):
        shutil.copytree(REPO / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _run(*command: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd`` without this process's PYTHON*/PIP_*/VIRTUAL_ENV settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    argv = [str(part) for part in command]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def test_plain_install_exposes_only_policyqa(tmp_path: Path) -> None:
    """Install a copy of the sources, non-editable, into a fresh venv that borrows this venv's packages
    through a .pth file (so nothing is downloaded), then use it from a folder outside the repository."""
    assert not tmp_path.resolve().is_relative_to(REPO)
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path)
    site_packages = Path(purelib.stdout.strip())
    borrowed = dict.fromkeys(sysconfig.get_path(key) for key in ("purelib", "platlib"))
    (site_packages / "borrowed-from-test-venv.pth").write_text("\n".join(borrowed) + "\n", encoding="utf-8")

    # pip and setuptools come from the borrowed packages; --ignore-installed leaves the borrowed
    # (editable) policyqa alone, --no-index keeps pip off the network.
    sources = _copy_sources(tmp_path / "src")
    install = ["install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "--ignore-installed"]
    _run(python, "-m", "pip", *install, sources, cwd=tmp_path)

    imports = "import policyqa.corpus, policyqa.indexer, policyqa.service, policyqa.eval"
    imported = _run(python, "-c", f"{imports}; print(policyqa.corpus.__file__)", cwd=tmp_path)
    assert Path(imported.stdout.strip()).is_relative_to(site_packages), imported.stdout

    missing = _run(python, "-c", "import corpus", cwd=tmp_path, check=False)
    assert missing.returncode != 0
    assert "ModuleNotFoundError: No module named 'corpus'" in missing.stderr, missing.stderr
    folders = sorted(set(PACKAGE_DIRS.values()) - {"policyqa"})
    probe = f"import importlib.util as u; print([n for n in {folders!r} if u.find_spec(n)])"
    found = _run(python, "-c", probe, cwd=tmp_path)
    assert found.stdout.strip() == "[]", f"top-level packages besides policyqa: {found.stdout}"

    shipped = "from policyqa.indexer.model_loading import SHIPPED_ADAPTER as a; print(sorted(a.iterdir()))"
    adapter_files = _run(python, "-c", shipped, cwd=tmp_path).stdout
    assert "adapter_model.safetensors" in adapter_files and str(site_packages) in adapter_files, adapter_files

    usage = _run(venv / "bin" / "policyqa", "--help", cwd=tmp_path).stdout
    listed = set(re.findall(r"^ {4}(\w+) ", usage, re.MULTILINE))
    assert set(COMMANDS) <= listed, usage
