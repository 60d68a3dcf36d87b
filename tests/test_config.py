from pathlib import Path

import pytest

from churnml.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_spells_out_the_embedded_defaults():
    assert load_config(ROOT / "configs" / "default.yaml") == Config()
    assert load_config(None) == Config()


def test_unknown_key_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"validation\.null_values: unknown key"):
        load_config({"validation": {"null_values": "drop"}})


def test_wrong_value_names_key_and_value():
    with pytest.raises(ConfigError, match=r"validation\.null_value: .*got 'ignore'"):
        load_config({"validation": {"null_value": "ignore"}})


@pytest.mark.parametrize(
    "setting, shown", [({"model": {"seed": "3"}}, "got '3'"), ({"survival": {"enabled": "yes"}}, "got 'yes'"), ({"model": {"seed": 3.5}}, "got 3.5")]
)
def test_a_typo_of_the_wrong_type_is_an_error_not_a_silent_coercion(setting, shown):
    with pytest.raises(ConfigError, match=shown):
        load_config(setting)
    assert load_config({"model": {"seed": 3}, "causes": {"value_tiers": [0.1, 0.4], "loyal_health": 60}}).causes.value_tiers == (0.1, 0.4)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_config({"validation": {"null_value": "ignore", "bogus": 1}, "extra_section": {}})
    assert "3 problem(s)" in str(err.value)


def test_mapping_to_unknown_table_or_column_is_rejected():
    with pytest.raises(ConfigError, match="unknown table 'sales'"):
        load_config({"tables": {"sales": {"columns": {}}}})
    with pytest.raises(ConfigError, match="unknown canonical column 'revenue'.*columns of orders"):
        load_config({"tables": {"orders": {"columns": {"revenue": "Umsatz"}}}})


def test_yaml_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("validation: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_round_trip_through_yaml(tmp_path):
    cfg = load_config({"tables": {"orders": {"columns": {"amount": "Umsatz"}}}, "validation": {"null_value": "drop"}})
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) == cfg


def test_every_shipped_config_file_is_valid():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        load_config(path)
