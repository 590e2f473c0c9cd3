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


def readme_commands() -> list[str]:
    """The indented command lines before the README's first paragraph of prose."""
    text = (ROOT / "README.md").read_text()
    head = text[text.index("# Image Deep Hash"):text.index("SHA and MD5 say only")]
    return [line.strip() for line in head.splitlines() if line.startswith("    ")]


def test_the_readme_starts_with_the_two_commands_and_ci_runs_the_second_verbatim():
    install_and_start, install_and_test = readme_commands()[:2]
    assert install_and_start.startswith('pip install -e ".[deep,app]"') and install_and_start.endswith("python demo.py")
    assert install_and_test.endswith("python -m pytest")
    assert install_and_test in (ROOT / ".ci" / "run").read_text().splitlines()
