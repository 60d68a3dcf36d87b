import re
from pathlib import Path

import pytest

from churnml.data.schema import contract_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("  #")[0].strip() for line in block.strip().splitlines()]
    assert len(commands) == 2
    assert "churnml demo" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_readme_contract_table_is_generated_from_the_schema():
    table = re.search(r"<!-- contract:start -->\n(.*?)\n<!-- contract:end -->", README, re.S).group(1)
    assert table.strip() == contract_markdown()


def test_readme_indicator_table_is_generated_from_the_registry():
    from churnml.indicators import indicators_markdown

    table = re.search(r"<!-- indicators:start -->\n(.*?)\n<!-- indicators:end -->", README, re.S).group(1)
    assert table.strip() == indicators_markdown()


def test_readme_pictures_exist():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert pictures and all((ROOT / p).is_file() for p in pictures)


@pytest.mark.slow
def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    example = re.search(r"## Example\n\n```python\n(.*?)```", README, re.S).group(1)
    assert len(example.strip().splitlines()) <= 15
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README example", "exec"), {})
    printed = capsys.readouterr().out
    assert "auc_roc" in printed and "level 1" in printed
    assert (tmp_path / "models" / "churn" / "model.pickle").is_file()
