"""The plugin guide shows the example's real files, not a drifting copy."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_code_block_in_the_plugin_guide_is_the_example_file_it_names():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```\n", guide, re.S)
    assert {path for path, _ in blocks} == {
        "examples/image-deep-hash-pdq/src/idh_pdq/__init__.py",
        "examples/image-deep-hash-pdq/pyproject.toml",
        "examples/image-deep-hash-pdq/tests/test_pdq.py"}
    for path, code in blocks:
        assert code == (ROOT / path).read_text(), path


def test_the_readme_links_the_guide():
    assert "docs/plugins.md" in (ROOT / "README.md").read_text()
