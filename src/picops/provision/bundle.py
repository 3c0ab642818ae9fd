"""The Lambda bundle: picops's Lambda-side code plus its runtime dependencies, as one deterministic zip.

What goes in:
- picops's `core` and `handlers` packages and every picops module they import (found by reading their
  `import` statements, so `picops/__init__.py`, `config.py`, `errors.py`, `aws.py`, `stack/...` come along as
  needed). `picops.cli`, `picops.provision` and `picops.local` never do: one of them in that closure is a
  layering bug and the build fails naming the importing module.
- the distributions in `[deploy] dependencies` and what they require, for the Lambda platform. boto3 and its
  family are left out: the Lambda Python runtime provides them. typer/rich/click never go in.

Where dependencies come from (`[deploy] dependency_source`):
- `pip`: `pip install --platform manylinux... --python-version 3.12 --only-binary=:all: --target DIR`, the
  Lambda platform's wheels, no Docker. `[deploy] find_links` points pip at a local wheel directory with
  `--no-index` (offline builds, CI caches).
- `environment`: copy the installed distributions from the interpreter running picops. Only as faithful as
  that interpreter is to Lambda's: with compiled extensions (pydantic-core) and a different Python version or
  machine, the build is refused unless the target is a loopback endpoint (moto stores code, never runs it).
- `auto` (default): `environment` for a loopback endpoint, `pip` otherwise.

The resolved dependency tree is cached under `<cache dir>/deps/<key>` keyed by (requirements, runtime,
architecture, source), so repeated builds only re-zip. The zip is deterministic: sorted entries, fixed
timestamps (1980-01-01) and modes, no install-time metadata (RECORD, INSTALLER, scripts), so unchanged
inputs give byte-identical zips and the same CodeSha256, and deploy skips UpdateFunctionCode.

Bytecode: Lambda's code directory is read-only, so a bundle without `__pycache__` compiles every module it
imports on every cold start (the ingest handler's import: about 200 ms compiling against 50 ms with
bytecode). When this interpreter is the runtime's Python (same minor version: bytecode is version-specific),
each `.py` goes in with its `__pycache__/<name>.cpython-3XY.pyc`, compiled as unchecked-hash pycs: their
validity does not depend on file timestamps the zip fixes at 1980, and identical sources give identical
pycs, so the zip stays deterministic. Otherwise the bundle carries sources only (`Bundle.bytecode`).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.metadata
import json
import os
import platform
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import picops
from picops.aws import is_loopback_url
from picops.config import DeploySettings, Settings, state_dir
from picops.errors import ConfigError, OperationFailed, UsageError

MIB = 1024 * 1024
# Lambda's documented limits: a zip uploaded in the request body, and the unzipped function + layers.
LAMBDA_DIRECT_UPLOAD_LIMIT = 50 * MIB
LAMBDA_UNZIPPED_LIMIT = 250 * MIB

# Distributions the Lambda Python runtime ships (boto3 and what it needs): bundling them only adds weight.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
)
# CLI-only distributions: never shipped even if a dependency asks for them.
NEVER_BUNDLED = frozenset({"typer", "rich", "click", "shellingham", "markdown-it-py", "mdurl", "pygments"})

# The picops packages Lambdas run, and the ones that must never follow them into a bundle.
BUNDLE_ROOTS = ("picops.core", "picops.handlers")
FORBIDDEN_PACKAGES = ("picops.cli", "picops.provision", "picops.local")

# Fixed zip metadata: the earliest timestamp zip can express, regular files with mode 0644, made on Unix.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644
ZIP_CREATE_SYSTEM = 3
ZIP_COMPRESSLEVEL = 6

# Files under *.dist-info that record the install itself (paths, installer, script hashes), not the package.
_INSTALL_METADATA = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_MANIFEST = ".picops-deps.json"


class BundleError(OperationFailed):
    """The bundle could not be built (dependency resolution, layering) (exit 1)."""


class BundleTooLarge(UsageError):
    """The bundle exceeds a Lambda size limit (exit 2)."""


class MissingEntryPoint(UsageError):
    """An entry point the model wires live traffic to is not in the bundle (exit 2): deploying would send
    every event to a function that cannot start, and on into a DLQ with alarms firing."""


@dataclass(frozen=True)
class SizeLimits:
    """Lambda size limits the bundle is measured against (lowered in tests to exercise the errors)."""

    direct_upload_bytes: int = LAMBDA_DIRECT_UPLOAD_LIMIT
    unzipped_bytes: int = LAMBDA_UNZIPPED_LIMIT

    @classmethod
    def from_settings(cls, deploy: DeploySettings) -> SizeLimits:
        return cls(
            direct_upload_bytes=deploy.direct_upload_limit_mb * MIB,
            unzipped_bytes=deploy.unzipped_limit_mb * MIB,
        )


@dataclass(frozen=True)
class LambdaPlatform:
    """The Python version and wheel platform tags of one Lambda runtime/architecture pair."""

    runtime: str
    architecture: str

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")

    @property
    def machine(self) -> str:
        return "aarch64" if self.architecture == "arm64" else "x86_64"

    @property
    def wheel_platforms(self) -> tuple[str, ...]:
        # manylinux2014 (glibc 2.17) runs everywhere Lambda does. python3.12+ runs on Amazon Linux 2023
        # (glibc 2.34), so manylinux_2_28 wheels are accepted there too; python3.11 is Amazon Linux 2 (2.26).
        tags = [f"manylinux2014_{self.machine}"]
        if self.python_version != "3.11":
            tags.append(f"manylinux_2_28_{self.machine}")
        return tuple(tags)

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values of the Lambda runtime, to pick the requirements it needs."""
        return {
            "python_version": self.python_version,
            "python_full_version": f"{self.python_version}.0",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": self.machine,
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "extra": "",
        }

    def matches_interpreter(self) -> bool:
        here = platform.machine().lower()
        here = {"amd64": "x86_64", "arm64": "aarch64"}.get(here, here)
        return (
            sys.platform == "linux"
            and f"{sys.version_info.major}.{sys.version_info.minor}" == self.python_version
            and here == self.machine
        )


@dataclass(frozen=True)
class Bundle:
    path: Path  # the zip on disk
    code_sha256: str  # base64 SHA-256 of the zip, as Lambda reports CodeSha256
    size_bytes: int  # zipped
    unzipped_bytes: int
    runtime: str = ""
    architecture: str = ""
    files: int = 0
    dependencies: tuple[str, ...] = ()  # "name==version" of every bundled distribution
    source: str = ""  # "pip" or "environment"
    warnings: tuple[str, ...] = ()
    limits: SizeLimits = field(default_factory=SizeLimits)
    # Compiled modules ship beside the sources (only when the building Python is the runtime's).
    bytecode: bool = False

    @property
    def needs_s3_upload(self) -> bool:
        """Over the direct-upload limit: the code must go through an S3 bucket."""
        return self.size_bytes > self.limits.direct_upload_bytes

    @property
    def sha256_hex(self) -> str:
        return base64.b64decode(self.code_sha256).hex()

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def budget(self) -> dict[str, int | float | bool]:
        """The size budget against Lambda's limits, for reports."""
        return {
            "zipped_bytes": self.size_bytes,
            "zipped_limit_bytes": self.limits.direct_upload_bytes,
            "zipped_pct": round(100 * self.size_bytes / self.limits.direct_upload_bytes, 1),
            "unzipped_bytes": self.unzipped_bytes,
            "unzipped_limit_bytes": self.limits.unzipped_bytes,
            "unzipped_pct": round(100 * self.unzipped_bytes / self.limits.unzipped_bytes, 1),
            "s3_upload": self.needs_s3_upload,
        }


def build_bundle(
    settings: Settings,
    *,
    out_dir: Path | None = None,
    limits: SizeLimits | None = None,
    refresh: bool = False,
    entry_points: Mapping[str, str] | None = None,
) -> Bundle:
    """Build (or rebuild byte-identically) the Lambda bundle for `settings`' runtime and architecture.

    `refresh` re-resolves the dependency tree instead of using the cached one. `entry_points` (function
    logical name -> `module.function`) must all be importable from the bundle, else MissingEntryPoint
    before anything is built.
    """
    if entry_points:
        require_entry_points(entry_points)
    deploy = settings.deploy
    limits = limits or SizeLimits.from_settings(deploy)
    target = LambdaPlatform(deploy.runtime, deploy.architecture)
    source = _dependency_source(settings)
    requirements = pin_requirements(deploy.dependencies)
    cache = cache_dir(settings)
    deps_dir, warnings = dependency_tree(
        requirements, target, source, cache, find_links=deploy.find_links, refresh=refresh
    )
    warnings = [*warnings, *_environment_warnings(deps_dir, target, source, settings)]

    entries = dict(picops_sources())
    dep_entries = dict(_tree_files(deps_dir))
    clash = sorted(name for name in dep_entries if name.split("/")[0] == "picops")
    if clash:
        raise BundleError(f"a dependency installs files inside the picops package: {clash[:3]}")
    entries.update(dep_entries)
    warnings.extend(_unresolved_imports(entries, deps_dir))
    bytecode = target.matches_interpreter()
    if bytecode:
        entries.update(bytecode_entries(entries, cache / "pyc"))

    out_dir = out_dir or cache / "bundles"
    out_dir.mkdir(parents=True, exist_ok=True)
    # A private temp name: concurrent builds into one directory never write the same file.
    fd, tmp_name = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        unzipped = write_deterministic_zip(entries, tmp)
        digest = hashlib.sha256(tmp.read_bytes()).digest()
        path = out_dir / f"picops-{target.runtime}-{target.architecture}-{digest.hex()[:16]}.zip"
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    manifest = json.loads((deps_dir / _MANIFEST).read_text())
    bundle = Bundle(
        path=path,
        code_sha256=base64.b64encode(digest).decode(),
        size_bytes=path.stat().st_size,
        unzipped_bytes=unzipped,
        runtime=target.runtime,
        architecture=target.architecture,
        files=len(entries),
        dependencies=tuple(manifest["distributions"]),
        source=source,
        warnings=tuple(warnings),
        limits=limits,
        bytecode=bytecode,
    )
    check_unzipped_limit(bundle)
    return bundle


def check_unzipped_limit(bundle: Bundle) -> None:
    if bundle.unzipped_bytes > bundle.limits.unzipped_bytes:
        raise BundleTooLarge(
            f"the Lambda bundle is {_mb(bundle.unzipped_bytes)} unzipped, over Lambda's limit of "
            f"{_mb(bundle.limits.unzipped_bytes)} (function code and layers, unzipped)",
            hint="drop dependencies from [deploy] dependencies; the largest bundled distributions are "
            + ", ".join(_largest(bundle)),
        )


def _largest(bundle: Bundle, count: int = 3) -> list[str]:
    sizes: dict[str, int] = {}
    with zipfile.ZipFile(bundle.path) as zf:
        for info in zf.infolist():
            top = info.filename.split("/")[0]
            sizes[top] = sizes.get(top, 0) + info.file_size
    ranked = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:count]
    return [f"{name} ({_mb(size)})" for name, size in ranked]


def _mb(size: int) -> str:
    return f"{size / MIB:.1f} MB"


def cache_dir(settings: Settings) -> Path:
    if settings.deploy.cache_dir:
        return Path(settings.deploy.cache_dir)
    return state_dir() / "bundle-cache"


def _dependency_source(settings: Settings) -> str:
    source = settings.deploy.dependency_source
    if source == "auto":
        return "environment" if is_loopback_url(settings.aws.endpoint_url) else "pip"
    return source


# ---------------------------------------------------------------------------------------------------------
# picops's own modules


def picops_sources(root: Path | None = None) -> list[tuple[str, Path]]:
    """(archive name, file) for every picops module the Lambda roots import, transitively.

    `root` is the `picops` package directory (default: the one running).
    """
    root = root or Path(picops.__file__).parent
    modules = _module_index(root)
    todo = [name for name in modules if any(_within(name, pkg) for pkg in BUNDLE_ROOTS)]
    seen: set[str] = set()
    importers: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for parent in _parents(name):
            if parent not in seen:
                todo.append(parent)
        for imported in _picops_imports(name, modules[name], modules):
            importers.setdefault(imported, name)
            if imported not in seen:
                todo.append(imported)
    # Name a module imported directly (its parent packages come along only implicitly).
    forbidden = sorted(
        (n for n in seen if any(_within(n, pkg) for pkg in FORBIDDEN_PACKAGES)),
        key=lambda n: (n not in importers, n),
    )
    if forbidden:
        raise BundleError(
            f"Lambda code imports {forbidden[0]} (from {importers.get(forbidden[0], '?')}): "
            f"{', '.join(FORBIDDEN_PACKAGES)} must never ship in a Lambda bundle",
            hint="move what the handler needs into picops.core",
        )
    files = {modules[n].relative_to(root.parent).as_posix(): modules[n] for n in seen}
    # Package data (schemas, templates) next to an included package's __init__.py ships with it.
    for name in seen:
        init = modules[name]
        if init.name != "__init__.py":
            continue
        for data in init.parent.iterdir():
            if (
                data.is_file()
                and data.suffix not in {".py", ".pyc", ".pyo"}
                and not data.name.startswith(".")
            ):
                files[data.relative_to(root.parent).as_posix()] = data
    return sorted(files.items())


def missing_entry_points(
    entry_points: Mapping[str, str], entries: Mapping[str, Path] | None = None
) -> list[str]:
    """What keeps each `module.function` in `entry_points` from importing out of the bundle's picops files
    (`entries`: archive name -> file; default: what `picops_sources()` ships): the module is not there, does
    not parse, or defines no `function` at top level. One line per problem, naming the function."""
    entries = dict(picops_sources()) if entries is None else entries
    problems = []
    for logical, target in sorted(entry_points.items()):
        module, _, attribute = target.rpartition(".")
        if not module or not attribute:
            problems.append(f"{logical}: handler {target!r} is not of the form module.function")
            continue
        base = module.replace(".", "/")
        path = entries.get(f"{base}.py") or entries.get(f"{base}/__init__.py")
        if path is None:
            problems.append(f"{logical}: {target}: module {module} is not in the bundle")
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError) as exc:
            problems.append(f"{logical}: {target}: {module} cannot be read or parsed ({exc})")
            continue
        if attribute not in _top_level_names(tree):
            problems.append(f"{logical}: {target}: {module} defines no {attribute}")
    return problems


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def require_entry_points(entry_points: Mapping[str, str], entries: Mapping[str, Path] | None = None) -> None:
    problems = missing_entry_points(entry_points, entries)
    if problems:
        raise MissingEntryPoint(
            "refusing to deploy: the model wires live traffic (event source mappings, API routes, schedules) "
            "to handlers the bundle does not have:\n  " + "\n  ".join(problems),
            hint="add the handler module, or deploy only the functions that exist (`picops deploy "
            "FUNCTION ...`); on a local endpoint `picops local run` skips such mappings instead",
        )


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _module_index(root: Path) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the picops package."""
    index: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if "__pycache__" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        index[".".join(parts)] = path
    return index


def _picops_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """picops modules `name` imports anywhere in its body (lazy imports count: they run in Lambda too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(package, node.module, node.level)
            found.add(base)
            # `from picops.stack import names` imports the submodule `picops.stack.names`.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {mod for mod in found if mod in modules and _within(mod, "picops")}


def _resolve_from(package: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


# ---------------------------------------------------------------------------------------------------------
# third-party dependencies


def pin_requirements(requirements: Iterable[str]) -> tuple[str, ...]:
    """Validate requirement strings; a bare name is pinned to the version installed next to picops, so
    the Lambda runs what the tests ran. Sorted, so the cache key does not depend on the order given."""
    pinned: list[str] = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise ConfigError(f"[deploy] dependencies: {text!r} is not a requirement: {exc}") from None
        name = canonicalize_name(req.name)
        if name in RUNTIME_PROVIDED or name in NEVER_BUNDLED:
            raise ConfigError(
                f"[deploy] dependencies: {req.name} must not be bundled "
                + ("(the Lambda runtime provides it)" if name in RUNTIME_PROVIDED else "(CLI only)")
            )
        if not req.specifier and req.url is None:
            try:
                version = importlib.metadata.version(req.name)
            except importlib.metadata.PackageNotFoundError:
                pinned.append(str(req))
                continue
            extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            marker = f"; {req.marker}" if req.marker else ""
            pinned.append(f"{name}{extras}=={version}{marker}")
        else:
            pinned.append(str(req))
    return tuple(sorted(pinned))


def dependency_tree(
    requirements: tuple[str, ...],
    target: LambdaPlatform,
    source: str,
    cache: Path,
    *,
    find_links: str | None = None,
    refresh: bool = False,
) -> tuple[Path, list[str]]:
    """The resolved dependency tree for (requirements, platform, source), built once and cached."""
    key_doc = {
        "requirements": list(requirements),
        "runtime": target.runtime,
        "architecture": target.architecture,
        "source": source,
        "find_links": find_links,
        # The environment source copies this interpreter's files: a different interpreter is a different tree.
        "interpreter": sys.executable if source == "environment" else None,
    }
    key = hashlib.sha256(json.dumps(key_doc, sort_keys=True).encode()).hexdigest()[:20]
    final = cache / "deps" / key
    if refresh and final.exists():
        shutil.rmtree(final)
    if (final / _MANIFEST).is_file():
        return final, []
    (cache / "deps").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache / "deps"))
    try:
        if source == "pip":
            warnings = _pip_install(requirements, target, work, find_links)
        else:
            warnings = _copy_environment(requirements, target, work)
        distributions = _prune(work)
        (work / _MANIFEST).write_text(json.dumps({"key": key_doc, "distributions": distributions}, indent=1))
        # Atomic publish: a crashed build leaves a temp dir, never a half-filled cache entry.
        if final.exists():
            shutil.rmtree(final)
        try:
            os.replace(work, final)
        except OSError:
            # Another build published the same key first: theirs is the same tree.
            if not (final / _MANIFEST).is_file():
                raise
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final, warnings


def _pip_install(
    requirements: tuple[str, ...], target: LambdaPlatform, work: Path, find_links: str | None
) -> list[str]:
    if not requirements:
        return []
    cmd = [sys.executable, "-m", "pip", "install", "--target", str(work), "--only-binary=:all:"]
    for tag in target.wheel_platforms:
        cmd += ["--platform", tag]
    cmd += [
        "--python-version",
        target.python_version,
        "--implementation",
        "cp",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ]
    if find_links:
        if not Path(find_links).is_dir():
            raise ConfigError(f"[deploy] find_links: {find_links} is not a directory")
        cmd += ["--no-index", "--find-links", find_links]
    cmd += list(requirements)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    except subprocess.TimeoutExpired:
        raise BundleError("pip did not resolve the Lambda dependencies within 15 minutes") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise BundleError(
            f"pip could not install the Lambda dependencies for {target.runtime}/{target.architecture}:\n"
            f"{tail}",
            hint="every dependency needs a wheel for "
            f"{' or '.join(target.wheel_platforms)} / cp{target.python_version.replace('.', '')} (or a "
            "pure-Python wheel); offline, point [deploy] find_links at a directory holding them",
        )
    return []


def _copy_environment(requirements: tuple[str, ...], target: LambdaPlatform, work: Path) -> list[str]:
    """Copy the installed distributions `requirements` resolve to (for `target`'s markers) into `work`."""
    env = target.marker_environment()
    todo: list[tuple[Requirement, str]] = [(Requirement(r), "") for r in requirements]
    seen: set[str] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name in RUNTIME_PROVIDED or name in NEVER_BUNDLED:
            continue
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            raise BundleError(
                f"{req.name} is not installed in this environment ({sys.executable}), so the "
                "'environment' dependency source cannot bundle it",
                hint="install it, or set [deploy] dependency_source = 'pip'",
            ) from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise BundleError(f"installed {req.name} {dist.version} does not satisfy {req}")
        for extra_name in sorted(req.extras):
            todo.extend((Requirement(r), extra_name) for r in dist.requires or [] if _needs_extra(r))
        if name in seen:
            continue
        seen.add(name)
        todo.extend((Requirement(r), "") for r in dist.requires or [])
        _copy_distribution(dist, work)
    return []


def _needs_extra(requirement: str) -> bool:
    marker = Requirement(requirement).marker
    return marker is not None and "extra" in str(marker)


def _copy_distribution(dist: importlib.metadata.Distribution, work: Path) -> None:
    direct_url = dist.read_text("direct_url.json")
    if direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"):
        # An editable install's files are a .pth/finder pointing at a source tree, not the package.
        raise BundleError(
            f"{dist.metadata['Name']} is installed in editable mode: the 'environment' source cannot "
            "bundle it",
            hint="install it normally, or set [deploy] dependency_source = 'pip'",
        )
    files = dist.files
    if files is None:
        raise BundleError(f"{dist.metadata['Name']} has no RECORD: its files cannot be listed for bundling")
    for file in files:
        parts = file.parts
        if ".." in parts or "__pycache__" in parts or file.suffix == ".pyc":
            continue  # console scripts outside site-packages, bytecode
        src = Path(str(dist.locate_file(file)))
        if not src.is_file():
            continue
        dest = work / Path(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


def _prune(work: Path) -> list[str]:
    """Remove distributions Lambda provides or that must never ship, and scripts; list what stays."""
    shutil.rmtree(work / "bin", ignore_errors=True)
    kept: list[str] = []
    for info in sorted(work.glob("*.dist-info")):
        meta = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        name = _meta_field(meta, "Name")
        version = _meta_field(meta, "Version")
        canon = canonicalize_name(name)
        if canon in RUNTIME_PROVIDED or canon in NEVER_BUNDLED:
            for rel in _record_paths(info):
                path = work / rel
                if path.is_file():
                    path.unlink()
            shutil.rmtree(info, ignore_errors=True)
            continue
        kept.append(f"{canon}=={version}")
    for cache_dir_ in sorted(work.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache_dir_, ignore_errors=True)
    return sorted(kept)


def _meta_field(metadata: str, field_name: str) -> str:
    for line in metadata.splitlines():
        if line.startswith(f"{field_name}:"):
            return line.split(":", 1)[1].strip()
        if not line.strip():
            break
    return ""


def _record_paths(info: Path) -> list[str]:
    record = info / "RECORD"
    if not record.is_file():
        return []
    return [line.split(",", 1)[0] for line in record.read_text().splitlines() if line.strip()]


def _tree_files(root: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root)
        parts = rel.parts
        if parts[0].startswith(".") or "__pycache__" in parts or path.suffix in {".pyc", ".pyo"}:
            continue
        if parts[0].endswith(".dist-info") and parts[-1] in _INSTALL_METADATA:
            continue
        yield rel.as_posix(), path


def _environment_warnings(
    deps_dir: Path, target: LambdaPlatform, source: str, settings: Settings
) -> list[str]:
    """An environment-sourced tree with compiled extensions only fits Lambda if this interpreter does."""
    if source != "environment" or target.matches_interpreter():
        return []
    compiled = sorted(
        {p.relative_to(deps_dir).parts[0] for p in deps_dir.rglob("*") if p.suffix in {".so", ".pyd"}}
    )
    if not compiled:
        return []
    here = f"Python {sys.version_info.major}.{sys.version_info.minor} on {sys.platform}/{platform.machine()}"
    message = (
        f"dependencies copied from this environment ({here}) include compiled extensions "
        f"({', '.join(compiled)}) that will not load on Lambda {target.runtime}/{target.architecture}"
    )
    if is_loopback_url(settings.aws.endpoint_url):
        return [message + " (fine for the local endpoint, which never runs the code)"]
    raise ConfigError(message, hint="set [deploy] dependency_source = 'pip' (or 'auto') for real AWS")


def _unresolved_imports(entries: dict[str, Path], deps_dir: Path) -> list[str]:
    """Top-level imports in bundled picops code that neither the bundle, the stdlib nor Lambda provides."""
    available = {name.split("/")[0].removesuffix(".py") for name in entries}
    available |= {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"}
    available |= set(sys.stdlib_module_names) | {"__future__"}
    missing: dict[str, str] = {}
    for name, path in entries.items():
        if not name.startswith("picops/") or path.suffix != ".py":
            continue
        for module in _runtime_imports(path):
            top = module.split(".")[0]
            if top and top not in available:
                missing.setdefault(top, name)
    return [
        f"{name} imports {top}, which is not in the bundle nor provided by the Lambda runtime; "
        "add it to [deploy] dependencies"
        for top, name in sorted(missing.items())
    ]


def _runtime_imports(path: Path) -> set[str]:
    """Absolute imports that run at runtime (not under `if TYPE_CHECKING:` nor guarded by try/except)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        guarded = (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)) or isinstance(
            node, ast.Try
        )
        if guarded:
            for inner in ast.walk(node):
                skipped.add(id(inner))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


# ---------------------------------------------------------------------------------------------------------
# the zip


def bytecode_entries(entries: Mapping[str, Path], cache: Path) -> dict[str, Path]:
    """`__pycache__/<module>.<tag>.pyc` for every `.py` entry, compiled by this interpreter as unchecked-hash
    pycs (cached by source content and archive name, so a rebuild compiles only what changed). A source this
    Python cannot compile (a test fixture, a file for another version) is left without bytecode, as
    compileall leaves it."""
    tag = sys.implementation.cache_tag
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, path in entries.items():
        if not name.endswith(".py"):
            continue
        source = path.read_bytes()
        key = hashlib.sha256(name.encode() + b"\0" + source).hexdigest()
        cached = cache / f"{key}.{tag}.pyc"
        if not cached.exists() and not _compile(path, name, cached):
            continue
        folder, _, file = name.rpartition("/")
        pyc = f"{file[:-3]}.{tag}.pyc"
        out[f"{folder}/__pycache__/{pyc}" if folder else f"__pycache__/{pyc}"] = cached
    return out


def _compile(path: Path, name: str, cached: Path) -> bool:
    # Written under a private name, then renamed: a concurrent build never reads half a pyc.
    fd, tmp = tempfile.mkstemp(prefix=".pyc-", dir=cached.parent)
    os.close(fd)
    try:
        py_compile.compile(
            str(path),
            cfile=tmp,
            dfile=name,  # the path the traceback shows: the module's place in the bundle
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        os.replace(tmp, cached)
        return True
    except (py_compile.PyCompileError, SyntaxError, ValueError):
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_deterministic_zip(entries: dict[str, Path], dest: Path) -> int:
    """Write `entries` (archive name -> file) to `dest` byte-reproducibly; returns the unzipped size."""
    total = 0
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            data = entries[name].read_bytes()
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = ZIP_FILE_MODE << 16
            info.create_system = ZIP_CREATE_SYSTEM
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=ZIP_COMPRESSLEVEL)
            total += len(data)
    return total


__all__ = [
    "LAMBDA_DIRECT_UPLOAD_LIMIT",
    "LAMBDA_UNZIPPED_LIMIT",
    "Bundle",
    "BundleError",
    "BundleTooLarge",
    "LambdaPlatform",
    "MissingEntryPoint",
    "SizeLimits",
    "build_bundle",
    "missing_entry_points",
    "require_entry_points",
]
