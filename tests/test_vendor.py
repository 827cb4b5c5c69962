"""The browser libraries are exactly what vendor/vendor.py copied from the pinned npm packages."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_vendor_script():
    spec = importlib.util.spec_from_file_location("vendor_script", ROOT / "vendor" / "vendor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_vendored_file_matches_its_recorded_checksum_and_pinned_version():
    assert load_vendor_script().check() == []


def test_a_changed_vendored_file_is_caught(tmp_path, monkeypatch):
    vendor = load_vendor_script()
    target = ROOT / "static" / "vendor" / "dompurify" / "purify.mjs"
    original = target.read_bytes()
    try:
        target.write_bytes(original + b"\n// edited by hand\n")
        assert any("purify.mjs differs" in problem for problem in vendor.check())
    finally:
        target.write_bytes(original)


def test_no_page_loads_anything_from_another_site():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        assert "://" not in text.replace("http://127.0.0.1", ""), template
