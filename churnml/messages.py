"""Every text a person reads, in English and Chinese, from one catalog per language.

The catalogs are plain YAML files shipped with the package
(``churnml/locale/en.yaml`` and ``zh.yaml``): warning level names, causes,
departments, playbook actions, reason templates with the customer's own
numbers, column headers of the files people open, report headings and the
messages for bad input. Both catalogs have the same keys and the same
``{placeholders}`` in every text; ``tests/test_messages.py`` fails otherwise.
A plain catalog (rather than gettext) keeps the reason templates' format
specifications (``{amount_ratio:.0%}``) readable for whoever writes them.

Examples
--------
>>> text("cause.service", "zh")
'服务不满型'
>>> text("reason.complaints_3m", "en", complaints_3m=4.0)
'4 complaints in the last 3 months'
"""

from __future__ import annotations

import string
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml

__all__ = ["LANGUAGES", "Language", "catalog", "placeholders", "text"]

Language = Literal["en", "zh"]
LANGUAGES: tuple[str, ...] = ("en", "zh")


def _flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    """All texts of one language, by dotted key (``cause.price``, ``reason.complaints_3m``)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; churnml speaks {', '.join(LANGUAGES)}")
    source = files("churnml") / "locale" / f"{language}.yaml"
    return _flatten(yaml.safe_load(source.read_text(encoding="utf-8")))


def text(key: str, language: str = "en", /, **values: Any) -> str:
    """The text for ``key`` in ``language``, filled with ``values`` (``str.format`` syntax).

    Raises
    ------
    KeyError
        When the catalog has no such key (a bug: both catalogs are complete).
    """
    template = catalog(language)[key]
    return template.format(**values) if values else template


def placeholders(template: str) -> set[str]:
    """Field names a template fills (``{amount_ratio:.0%}`` -> ``amount_ratio``)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}
