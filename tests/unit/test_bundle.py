"""The Lambda bundle builder, offline: dependencies come from this environment or a local wheel directory."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from picops.errors import ConfigError
from picops.provision import bundle as bundle_mod
from picops.provision.bundle import (
    ZIP_EPOCH,
    Bundle,
    BundleError,
    BundleTooLarge,
    LambdaPlatform,
    build_bundle,
    picops_sources,
    pin_requirements,
)
from picops.stack.model import HANDLERS
from tests.deploy_support import RUNTIME, bundle_settings

CLI_ONLY = ("typer", "rich", "click")
RUNTIME_PROVIDED_TOPS = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """One bundle built from this environment, shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("bundle")
    return build_bundle(bundle_settings(root / "cache"), out_dir=root / "out")


def _names(bundle: Bundle) -> list[str]:
    with zipfile.ZipFile(bundle.path) as zf:
        return zf.namelist()


def test_two_independent_builds_are_byte_identical(built: Bundle, tmp_path: Path) -> None:
    # A fresh cache: the dependency tree is copied again, the picops sources re-read, the zip re-written.
    again = build_bundle(bundle_settings(tmp_path / "other-cache"), out_dir=tmp_path / "out")
    assert again.path != built.path
    assert again.path.read_bytes() == built.path.read_bytes()
    assert again.code_sha256 == built.code_sha256


def test_code_sha256_is_what_lambda_reports(built: Bundle) -> None:
    digest = hashlib.sha256(built.path.read_bytes()).digest()
    assert built.code_sha256 == base64.b64encode(digest).decode()
    assert built.size_bytes == built.path.stat().st_size
    with zipfile.ZipFile(built.path) as zf:
        assert built.unzipped_bytes == sum(i.file_size for i in zf.infolist())
        assert built.files == len(zf.infolist())


def test_entries_sorted_with_fixed_timestamps_and_modes(built: Bundle) -> None:
    with zipfile.ZipFile(built.path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for info in infos:
        assert info.date_time == ZIP_EPOCH, info.filename
        assert info.external_attr >> 16 == 0o100644, info.filename
        assert info.create_system == 3
    # Bytecode only as the bundle's own: this Python's tag, beside its source (none copied from an install).
    tag = sys.implementation.cache_tag
    for name in names:
        if "__pycache__" in name or name.endswith((".pyc", ".pyo")):
            folder, _, file = name.rpartition("__pycache__/")
            assert file.endswith(f".{tag}.pyc"), name
            assert f"{folder}{file.removesuffix(f'.{tag}.pyc')}.py" in names, name
    # Install-time records (paths, script hashes) differ between machines: never shipped.
    assert not [n for n in names if n.endswith(("/RECORD", "/INSTALLER", "/direct_url.json"))]


def test_bundle_holds_lambda_code_and_dependencies_only(built: Bundle) -> None:
    names = _names(built)
    tops = {n.split("/")[0] for n in names}
    for required in ("picops/__init__.py", "picops/core/__init__.py", "picops/handlers/__init__.py"):
        assert required in names
    for package in ("pydantic", "pydantic_core", "pydantic_settings", "aws_lambda_powertools"):
        assert package in tops, package
    assert not [n for n in names if n.startswith(("picops/cli/", "picops/provision/", "picops/local/"))]
    for forbidden in (*CLI_ONLY, *RUNTIME_PROVIDED_TOPS):
        assert forbidden not in tops, forbidden
        assert not [t for t in tops if t.startswith(f"{forbidden}-") and t.endswith(".dist-info")], forbidden
    # Every contract handler module that exists in the source tree is in the bundle.
    src = Path(bundle_mod.picops.__file__).parent
    for entry in HANDLERS.values():
        module = entry.rsplit(".", 1)[0]
        rel = module.replace(".", "/") + ".py"
        if (src.parent / rel).is_file():
            assert rel in names, rel
    assert "pydantic==" + importlib.metadata.version("pydantic") in built.dependencies
    assert not [d for d in built.dependencies if d.split("==")[0] in {"boto3", "botocore", "typer", "rich"}]


def test_handlers_import_from_the_unzipped_bundle_alone(built: Bundle, tmp_path: Path) -> None:
    """Only the bundle and what Lambda's runtime provides (boto3 & co.) on sys.path, like /var/task."""
    task = tmp_path / "task"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(task)
    runtime = tmp_path / "runtime"  # stands in for Lambda's /var/runtime: boto3 and its dependencies only
    runtime.mkdir()
    for top in RUNTIME_PROVIDED_TOPS:
        spec = importlib.util.find_spec(top)
        assert spec is not None, top
        assert spec.origin is not None, top
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    handler_modules = sorted(
        {
            e.rsplit(".", 1)[0]
            for e in HANDLERS.values()
            if (task / (e.rsplit(".", 1)[0].replace(".", "/") + ".py")).is_file()
        }
    )
    picops_modules = sorted(
        str(p.relative_to(task).with_suffix("")).replace("/", ".").removesuffix(".__init__")
        for p in (task / "picops").rglob("*.py")
    )
    script = f"""
import importlib, json, sys
sys.path[:] = [p for p in sys.path
               if 'site-packages' not in p and 'dist-packages' not in p and p not in ('', '.')]
sys.path[:0] = [{str(task)!r}, {str(runtime)!r}]
loaded = {{}}
for name in {picops_modules + handler_modules!r} + ['pydantic', 'pydantic_settings',
        'aws_lambda_powertools', 'aws_lambda_powertools.utilities.batch', 'boto3']:
    module = importlib.import_module(name)
    loaded[name] = module.__file__
for entry in {[e for e in HANDLERS.values() if e.rsplit(".", 1)[0] in handler_modules]!r}:
    module, _, attr = entry.rpartition('.')
    assert callable(getattr(importlib.import_module(module), attr)), entry
for cli_only in ('typer', 'rich', 'click', 'picops.cli'):
    try:
        importlib.import_module(cli_only)
    except ImportError:
        pass
    else:
        raise SystemExit(cli_only + ' is importable from the bundle')
print(json.dumps(loaded))
"""
    env = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", "PYTHONNOUSERSITE": "1"}
    proc = subprocess.run(
        [sys.executable, "-S", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    for name in ("pydantic", "pydantic_settings", "aws_lambda_powertools", *picops_modules):
        assert loaded[name].startswith(str(task)), (name, loaded[name])
    assert loaded["boto3"].startswith(str(runtime))


def test_dependency_tree_is_cached_and_refreshable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = bundle_settings(tmp_path / "cache")
    first = build_bundle(settings, out_dir=tmp_path / "a")
    copies: list[tuple[str, ...]] = []
    real = bundle_mod._copy_environment

    def counting(requirements: tuple[str, ...], *args: object) -> list[str]:
        copies.append(requirements)
        return real(requirements, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(bundle_mod, "_copy_environment", counting)
    second = build_bundle(settings, out_dir=tmp_path / "b")
    assert copies == []  # served from the cache
    assert second.code_sha256 == first.code_sha256
    third = build_bundle(settings, out_dir=tmp_path / "c", refresh=True)
    assert len(copies) == 1
    assert third.code_sha256 == first.code_sha256
    # A different requirement set is a different cache entry and a different zip.
    fewer = build_bundle(
        bundle_settings(tmp_path / "cache", dependencies=["pydantic"]), out_dir=tmp_path / "d"
    )
    assert len(copies) == 2
    assert fewer.code_sha256 != first.code_sha256
    assert not [n for n in _names(fewer) if n.startswith("aws_lambda_powertools/")]
    assert len(list((tmp_path / "cache" / "deps").iterdir())) == 2


def test_environment_source_refused_for_real_aws_on_a_different_platform(tmp_path: Path) -> None:
    other = "python3.13" if RUNTIME != "python3.13" else "python3.12"
    with pytest.raises(ConfigError) as err:
        build_bundle(bundle_settings(tmp_path / "c", runtime=other), out_dir=tmp_path / "o")
    assert "pydantic_core" in str(err.value)
    assert err.value.exit_code == 2
    # On a loopback endpoint the code is stored, never run: allowed, with a warning.
    local = build_bundle(
        bundle_settings(tmp_path / "c", endpoint="http://127.0.0.1:4566", runtime=other),
        out_dir=tmp_path / "o",
    )
    assert any("will not load on Lambda" in w for w in local.warnings)


def test_unzipped_limit_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundleTooLarge) as err:
        build_bundle(bundle_settings(tmp_path / "c", unzipped_limit_mb=1), out_dir=tmp_path / "o")
    assert err.value.exit_code == 2
    assert "over Lambda's limit of 1.0 MB" in str(err.value)
    assert "largest bundled distributions" in str(err.value)


def test_direct_upload_limit_marks_s3_upload(built: Bundle, tmp_path: Path) -> None:
    assert not built.needs_s3_upload
    assert built.budget()["zipped_limit_bytes"] == 50 * 1024 * 1024
    assert built.budget()["unzipped_limit_bytes"] == 250 * 1024 * 1024
    small = build_bundle(bundle_settings(tmp_path / "c", direct_upload_limit_mb=1), out_dir=tmp_path / "o")
    assert small.size_bytes > 1024 * 1024  # pydantic-core alone is more than that
    assert small.needs_s3_upload
    assert small.budget()["s3_upload"] is True


def test_requirements_pinned_to_installed_versions() -> None:
    pinned = pin_requirements(["pydantic", "aws-lambda-powertools[parser]", "attrs>=1; python_version>'3'"])
    assert f"pydantic=={importlib.metadata.version('pydantic')}" in pinned
    assert f"aws-lambda-powertools[parser]=={importlib.metadata.version('aws-lambda-powertools')}" in pinned
    assert 'attrs>=1; python_version > "3"' in pinned
    assert list(pinned) == sorted(pinned)
    for bad, why in (
        ("pydantic>>2", "not a requirement"),
        ("boto3", "Lambda runtime"),
        ("typer", "CLI only"),
    ):
        with pytest.raises(ConfigError, match=why):
            pin_requirements([bad])


def test_lambda_platform_tags() -> None:
    assert LambdaPlatform("python3.12", "x86_64").wheel_platforms == (
        "manylinux2014_x86_64",
        "manylinux_2_28_x86_64",
    )
    # python3.11 runs on Amazon Linux 2 (glibc 2.26): no manylinux_2_28 wheels there.
    assert LambdaPlatform("python3.11", "arm64").wheel_platforms == ("manylinux2014_aarch64",)
    env = LambdaPlatform("python3.12", "arm64").marker_environment()
    assert env["platform_machine"] == "aarch64"
    assert env["python_version"] == "3.12"


def _write(root: Path, rel: str, text: str = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_import_closure_follows_lazy_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "picops"
    _write(pkg, "__init__.py")
    _write(pkg, "config.py", "from picops.errors import X\n")
    _write(pkg, "errors.py")
    _write(pkg, "aws.py")
    _write(pkg, "unused.py")
    _write(pkg, "stack/__init__.py")
    _write(pkg, "stack/names.py", "from ..config import Settings\n")
    _write(pkg, "core/__init__.py")
    _write(pkg, "core/tagging.py", "def f():\n    from picops.stack import names\n")
    _write(pkg, "handlers/__init__.py")
    _write(pkg, "handlers/ingest.py", "import picops.aws\nfrom picops.core import tagging\n")
    _write(pkg, "cli/__init__.py")
    _write(pkg, "cli/app.py", "import typer\n")
    _write(pkg, "core/schema.json", "{}")  # package data ships with its package
    _write(pkg, "cli/help.txt", "never shipped")
    names = [name for name, _ in picops_sources(pkg)]
    assert names == sorted(
        [
            "picops/__init__.py",
            "picops/aws.py",
            "picops/config.py",
            "picops/core/__init__.py",
            "picops/core/schema.json",
            "picops/core/tagging.py",
            "picops/errors.py",
            "picops/handlers/__init__.py",
            "picops/handlers/ingest.py",
            "picops/stack/__init__.py",
            "picops/stack/names.py",
        ]
    )


def test_lambda_code_importing_the_cli_fails_the_build(tmp_path: Path) -> None:
    pkg = tmp_path / "picops"
    _write(pkg, "__init__.py")
    _write(pkg, "core/__init__.py")
    _write(pkg, "core/report.py", "from picops.cli.output import Output\n")
    _write(pkg, "cli/__init__.py")
    _write(pkg, "cli/output.py")
    with pytest.raises(BundleError, match=r"picops.cli.* \(from picops.core.report\)"):
        picops_sources(pkg)


def test_unbundled_third_party_imports_are_reported(tmp_path: Path) -> None:
    module = tmp_path / "x.py"
    module.write_text(
        "from typing import TYPE_CHECKING\nimport yaml\nimport pydantic\n"
        "if TYPE_CHECKING:\n    import pyarrow\n"
        "try:\n    import numpy\nexcept ImportError:\n    numpy = None\n"
    )
    warnings = bundle_mod._unresolved_imports(
        {"picops/core/x.py": module, "pydantic/__init__.py": module}, tmp_path
    )
    assert len(warnings) == 1
    assert warnings[0].startswith("picops/core/x.py imports yaml")


# ---------------------------------------------------------------------------------------------------------
# pip source, offline: a local wheel directory with --no-index


def _wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    """A minimal valid pure-Python wheel."""
    dist_info = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": meta,
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: picops-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(body.encode())}\n"
        for path, body in files.items()
    )
    files[f"{dist_info}/RECORD"] = record + f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as zf:
        for path, body in files.items():
            zf.writestr(path, body)


@pytest.mark.slow
def test_pip_source_installs_lambda_platform_wheels_from_a_local_directory(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "tinydep", "1.0", requires=("six>=1",))
    _wheel(wheels, "six", "1.16.0")  # a Lambda-runtime-provided distribution: installed by pip, then pruned
    settings = bundle_settings(
        tmp_path / "cache",
        dependency_source="pip",
        find_links=str(wheels),
        dependencies=["tinydep==1.0"],
        runtime="python3.12",
        architecture="arm64",
    )
    first = build_bundle(settings, out_dir=tmp_path / "a")
    names = _names(first)
    assert "tinydep/__init__.py" in names
    assert "tinydep-1.0.dist-info/METADATA" in names
    assert not [n for n in names if n.startswith(("six", "bin/"))]
    assert first.dependencies == ("tinydep==1.0",)
    assert first.source == "pip"
    again = build_bundle(settings, out_dir=tmp_path / "b", refresh=True)  # pip runs again
    assert again.path.read_bytes() == first.path.read_bytes()


@pytest.mark.slow
def test_pip_failure_names_the_platform(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    settings = bundle_settings(
        tmp_path / "cache", dependency_source="pip", find_links=str(wheels), dependencies=["nosuchdist==1.0"]
    )
    with pytest.raises(BundleError) as err:
        build_bundle(settings, out_dir=tmp_path / "o")
    assert err.value.exit_code == 1
    assert "nosuchdist" in str(err.value)
    assert "manylinux2014_x86_64" in str(err.value)
    assert not list((tmp_path / "cache" / "deps").iterdir())  # no half-built cache entry left behind


def test_find_links_must_be_a_directory(tmp_path: Path) -> None:
    settings = bundle_settings(
        tmp_path / "cache", dependency_source="pip", find_links=str(tmp_path / "nope"), dependencies=["x==1"]
    )
    with pytest.raises(ConfigError, match="not a directory"):
        build_bundle(settings, out_dir=tmp_path / "o")


def test_editable_installs_are_refused_by_the_environment_source(tmp_path: Path) -> None:
    info = tmp_path / "site" / "devpkg-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: devpkg\nVersion: 0.1\n")
    (info / "RECORD").write_text("__editable__.devpkg-0.1.pth,,\n")
    (info / "direct_url.json").write_text(json.dumps({"dir_info": {"editable": True}, "url": "file:///src"}))
    with pytest.raises(BundleError, match="devpkg is installed in editable mode"):
        bundle_mod._copy_distribution(importlib.metadata.PathDistribution(info), tmp_path / "work")


def test_bytecode_ships_for_the_runtimes_python_and_is_what_the_import_uses(
    built: Bundle, tmp_path: Path
) -> None:
    """Lambda's code directory is read-only: without the bundle's pycs each cold start compiles everything."""
    assert built.bytecode  # RUNTIME is this interpreter's Python
    names = set(_names(built))
    tag = sys.implementation.cache_tag
    sources = [n for n in names if n.endswith(".py")]
    for source in ("picops/handlers/ingest.py", "picops/core/ingest/pipeline.py", "pydantic/main.py"):
        folder, _, file = source.rpartition("/")
        assert f"{folder}/__pycache__/{file[:-3]}.{tag}.pyc" in names, source
    assert len([n for n in names if n.endswith(".pyc")]) >= 0.95 * len(sources)
    # Unchecked-hash pycs: the import takes the bundle's bytecode as built, whatever the files' timestamps
    # (the zip fixes them at 1980). An edit to the unzipped source is therefore not seen: the pyc is used.
    task = tmp_path / "task"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(task)
    (task / "picops" / "errors.py").write_text("raise SystemExit('the source was compiled, not the pyc')\n")
    script = (
        f"import sys; sys.path.insert(0, {str(task)!r}); import picops.errors; print(picops.errors.__file__)"
    )
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(task / "picops" / "errors.py")


def test_a_bundle_for_another_python_carries_no_bytecode(tmp_path: Path) -> None:
    other = "python3.13" if RUNTIME != "python3.13" else "python3.12"
    # A loopback endpoint: the environment source is allowed for another runtime (moto never runs the code).
    bundle = build_bundle(
        bundle_settings(tmp_path / "c", endpoint="http://127.0.0.1:4566", runtime=other),
        out_dir=tmp_path / "o",
    )
    assert not bundle.bytecode
    assert not [n for n in _names(bundle) if n.endswith(".pyc") or "__pycache__" in n]
