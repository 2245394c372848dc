"""bench/_results.update_section replaces only its own section."""

import importlib.util
import pathlib

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[2] / "bench" / "_results.py"
_SPEC = importlib.util.spec_from_file_location("bench_results", _PATH)
results = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(results)


def test_creates_file_and_replaces_only_its_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    results.update_section("alpha", "first alpha", path)
    results.update_section("beta", "beta table", path)
    text = path.read_text()
    assert text.startswith("# Benchmark results")
    assert "<!-- section:alpha -->\nfirst alpha\n<!-- /section:alpha -->" in text
    results.update_section("alpha", "second alpha", path)
    updated = path.read_text()
    assert "first alpha" not in updated and "second alpha" in updated
    assert updated.replace("second alpha", "first alpha") == text
    assert updated.index("section:alpha") < updated.index("section:beta")
    assert [entry.name for entry in tmp_path.iterdir()] == ["RESULTS.md"]  # no lock/temp files
    assert path.stat().st_mode & 0o777 == 0o644


def test_keeps_hand_written_text_around_sections(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("intro\n\n<!-- section:x -->\nold\n<!-- /section:x -->\n\noutro\n")
    results.update_section("x", "new", path)
    assert path.read_text() == "intro\n\n<!-- section:x -->\nnew\n<!-- /section:x -->\n\noutro\n"


def test_rejects_unbalanced_markers_and_bad_names(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("<!-- section:x -->\nno end marker\n")
    with pytest.raises(ValueError, match="unbalanced"):
        results.update_section("x", "new", path)
    with pytest.raises(ValueError, match="'a b'"):
        results.update_section("a b", "new", path)
