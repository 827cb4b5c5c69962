"""Copy the pinned browser libraries from the npm registry into static/vendor/ (and the
test-only ones into tests/vendor/), and record a SHA-256 of every file copied.

    python vendor/vendor.py          # fetch with `npm ci` (versions and tarball hashes from
                                     # vendor/package-lock.json), copy, write the manifest
    python vendor/vendor.py --check  # no network: every vendored file matches the manifest,
                                     # and the manifest matches vendor/package.json

Nothing here is edited by hand: change a version in vendor/package.json, run
`npm install --package-lock-only` in vendor/, then this script, and commit the result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "vendor"
MANIFEST = HERE / "manifest.json"

# package -> (destination folder, [(path in the package, name in the destination)]).
# A source path ending in "/*.mjs" copies every such file of that folder.
FILES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "markdown-it": (
        "static/vendor/markdown-it",
        [("dist/browser/markdown-it.esm.min.mjs", "markdown-it.mjs"), ("LICENSE", "LICENSE")],
    ),
    "markdown-it-footnote": (
        "static/vendor/markdown-it-footnote",
        [("index.mjs", "markdown-it-footnote.mjs"), ("LICENSE", "LICENSE")],
    ),
    "@mdit/plugin-tasklist": (
        "static/vendor/mdit-plugin-tasklist",
        [("dist/index.js", "plugin-tasklist.mjs"), ("LICENSE", "LICENSE")],
    ),
    "@mdit/plugin-tex": (
        "static/vendor/mdit-plugin-tex",
        [("dist/index.js", "plugin-tex.mjs"), ("LICENSE", "LICENSE")],
    ),
    "dompurify": (
        "static/vendor/dompurify",
        [("dist/purify.es.mjs", "purify.mjs"), ("LICENSE", "LICENSE")],
    ),
    "@highlightjs/cdn-assets": (
        "static/vendor/highlight.js",
        [
            ("es/highlight.min.js", "highlight.mjs"),
            ("styles/github.min.css", "github.css"),
            ("styles/github-dark.min.css", "github-dark.css"),
            ("LICENSE", "LICENSE"),
        ],
    ),
    "temml": (
        "static/vendor/temml",
        [
            ("dist/temml.mjs", "temml.mjs"),
            ("dist/Temml-Local.css", "Temml-Local.css"),
            ("dist/Temml.woff2", "Temml.woff2"),
            ("LICENSE", "LICENSE"),
        ],
    ),
    "mermaid": (
        "static/vendor/mermaid",
        [
            ("dist/mermaid.esm.min.mjs", "mermaid.esm.min.mjs"),
            ("dist/chunks/mermaid.esm.min/*.mjs", "chunks/mermaid.esm.min/"),
            ("LICENSE", "LICENSE"),
        ],
    ),
    # Only the accessibility tests use it; the site never serves it.
    "axe-core": ("tests/vendor/axe-core", [("axe.min.js", "axe.min.js"), ("LICENSE", "LICENSE")]),
}

# The maps are not vendored, so the comments pointing at them go: browsers would ask for
# them, and collectstatic's manifest storage refuses a .js file naming a missing map.
SOURCE_MAP = re.compile(rb"\n?//# sourceMappingURL=\S*\s*$")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pinned_versions() -> dict[str, str]:
    return json.loads((HERE / "package.json").read_text())["dependencies"]


def fetch(workdir: Path) -> Path:
    """Install exactly what the lock file says (npm checks every tarball's integrity hash)."""
    for name in ("package.json", "package-lock.json", ".npmrc"):
        shutil.copy(HERE / name, workdir / name)
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to fetch the packages (Node.js's package manager)")
    subprocess.run(  # noqa: S603 - a fixed command line, no user input
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=workdir, check=True
    )
    return workdir / "node_modules"


def copy_all(modules: Path) -> dict:
    manifest: dict = {}
    for package, (destination, files) in FILES.items():
        source_root = modules / package
        version = json.loads((source_root / "package.json").read_text())["version"]
        if version != pinned_versions()[package]:
            sys.exit(f"{package}: npm installed {version}, package.json pins another version")
        target_root = ROOT / destination
        if target_root.exists():
            shutil.rmtree(target_root)
        copied: dict[str, str] = {}
        for source, name in files:
            if source.endswith("/*.mjs"):
                sources = sorted((source_root / source[: -len("/*.mjs")]).glob("*.mjs"))
                pairs = [(path, target_root / name / path.name) for path in sources]
            else:
                pairs = [(source_root / source, target_root / name)]
            for path, target in pairs:
                target.parent.mkdir(parents=True, exist_ok=True)
                data = path.read_bytes()
                if target.suffix in {".js", ".mjs", ".css"}:
                    data = SOURCE_MAP.sub(b"\n", data)
                target.write_bytes(data)
                copied[str(target.relative_to(ROOT))] = sha256(target)
        manifest[package] = {"version": version, "files": copied}
    return manifest


def check() -> list[str]:
    """What is wrong with the vendored files; empty when they are exactly as vendored."""
    problems = []
    manifest = json.loads(MANIFEST.read_text())
    pinned = pinned_versions()
    lock = json.loads((HERE / "package-lock.json").read_text())["packages"]
    for package in FILES:
        entry = manifest.get(package)
        if entry is None:
            problems.append(f"{package} is not in the manifest: run vendor/vendor.py")
            continue
        if entry["version"] != pinned[package]:
            problems.append(f"{package}: vendored {entry['version']}, pinned {pinned[package]}")
        if lock.get(f"node_modules/{package}", {}).get("version") != pinned[package]:
            problems.append(f"{package}: package-lock.json does not pin {pinned[package]}")
        for name, digest in entry["files"].items():
            path = ROOT / name
            if not path.exists():
                problems.append(f"{name} is missing")
            elif sha256(path) != digest:
                problems.append(f"{name} differs from what vendor.py copied")
        destination = ROOT / FILES[package][0]
        for path in destination.rglob("*"):
            if path.is_file() and str(path.relative_to(ROOT)) not in entry["files"]:
                problems.append(f"{path.relative_to(ROOT)} was not put there by vendor.py")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify, do not fetch")
    if parser.parse_args().check:
        problems = check()
        print("\n".join(problems) or "vendored files match the manifest")
        sys.exit(1 if problems else 0)
    with tempfile.TemporaryDirectory() as workdir:
        manifest = copy_all(fetch(Path(workdir)))
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"vendored {len(manifest)} packages; manifest in {MANIFEST.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
