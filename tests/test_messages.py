"""Message catalogs: complete in both languages, and every text people read comes from them."""

import re

import numpy as np
import pandas as pd
import pytest

import churnml as cm
from churnml.constants import CAUSES
from churnml.scoring.causes import reason_text
from churnml.indicators import REGISTRY
from churnml.output import for_people, write_outputs
from churnml.messages import LANGUAGES, catalog, placeholders, text
from churnml.data.validation import DataValidationError

CJK = re.compile(r"[\u4e00-\u9fff]")


def _words(template: str) -> str:
    """A template's own words: placeholders removed."""
    return re.sub(r"\{[^}]*\}", "", template)


def test_both_catalogs_have_the_same_keys():
    en, zh = set(catalog("en")), set(catalog("zh"))
    assert en - zh == set(), f"only in en: {sorted(en - zh)}"
    assert zh - en == set(), f"only in zh: {sorted(zh - en)}"


def test_every_text_has_the_same_placeholders_in_both_languages():
    en, zh = catalog("en"), catalog("zh")
    differ = {k: (placeholders(en[k]), placeholders(zh[k])) for k in en if placeholders(en[k]) != placeholders(zh.get(k, ""))}
    assert differ == {}


def test_chinese_texts_are_written_in_chinese():
    en, zh = catalog("en"), catalog("zh")
    untranslated = [k for k in en if re.search("[A-Za-z]{3,}", _words(en[k])) and not CJK.search(zh[k])]
    assert untranslated == []


def test_every_indicator_has_a_reason_and_every_reason_an_indicator():
    for language in LANGUAGES:
        reasons = {k.removeprefix("reason.") for k in catalog(language) if k.startswith("reason.")}
        assert reasons == set(REGISTRY)


def test_every_reason_template_fills_with_numbers_in_both_languages():
    row = {name: 1.25 for name in REGISTRY} | {"industry": "retail", "segment": "small", "region": "north"}
    for language in LANGUAGES:
        for name, ind in REGISTRY.items():
            filled = ind.reason(language).format(**row)
            assert "{" not in filled and filled, (language, name)


def test_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown language 'fr'.*en, zh"):
        catalog("fr")
    with pytest.raises(Exception, match="language"):
        cm.config.load_config({"language": "fr"})


def test_reason_text_in_chinese_on_a_hand_made_customer():
    row = pd.Series({"customer_id": "a", "payment_days_3m": 15.0, "payment_days_ratio": 5.0, "industry": "retail"})
    said = reason_text(row, "payment_days_ratio", 1.1, ("同行业（retail）客户", 1.04), "zh")
    assert said == "付款周期变为以前的 5.0 倍（目前 15 天）（3个月前：1.1；同行业（retail）客户平均：1.0）"
    nothing = reason_text(pd.Series({"complaints_3m": 0.0}), "complaints_3m", np.nan, ("全部客户", np.nan), "zh")
    assert nothing == "近3个月投诉 0 次"


@pytest.mark.slow
def test_score_in_chinese_and_english_with_the_customers_numbers(sample_model, sample):
    zh = sample_model.score(sample, as_of="2025-06-01", language="zh")
    en = sample_model.score(sample, as_of="2025-06-01", language="en")
    # same customers, order, levels and causes: language changes words only
    keys = ["customer_id", "warning_level", "primary_cause", "owner", "health_score"]
    pd.testing.assert_frame_equal(zh[keys], en[keys])
    warned_zh, warned_en = zh[zh.warning_level > 0], en[en.warning_level > 0]
    assert len(warned_zh) > 50
    for reasons, action in zip(warned_zh.reasons, warned_zh.action, strict=True):
        assert reasons and all(CJK.search(r) and re.search(r"\d", r) for r in reasons)
        assert CJK.search(action) and not re.search("[A-Za-z]{4,}", _words(action))
    for reasons, action in zip(warned_en.reasons, warned_en.action, strict=True):
        assert reasons and all(re.search(r"\d", r) and not CJK.search(r) for r in reasons)
        assert not CJK.search(action)
    # the same number in both languages: the first reason's first figure
    first_zh = re.findall(r"[\d,.]+", warned_zh.reasons.iloc[0][0])
    first_en = re.findall(r"[\d,.]+", warned_en.reasons.iloc[0][0])
    assert set(first_zh) & set(first_en)
    assert set(warned_zh.action.map(lambda a: a[:6])) <= {text(f"playbook.{c}", "zh")[:6] for c in CAUSES} | {text("playbook.control", "zh")[:6]}


def test_for_people_puts_codes_in_words_and_keeps_the_rest():
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "warning_level": [1, 0],
            "primary_cause": ["price", None],
            "owner": ["finance", None],
            "value_tier": ["high", "low"],
            "quadrant": ["potential", "core"],
            "status": ["scored", "scored"],
            "cause_shares": [{"price": 0.7, "service": 0.3, "needs_change": 0.0}, None],
            "reasons": [["a", "b"], None],
            "health_score": [31.5, 88.0],
        }
    )
    zh = for_people(frame, "zh")
    assert list(zh.columns) == ["客户编号", "预警等级", "流失原因", "负责部门", "价值分层", "价值与忠诚度分类", "状态", "原因占比", "预警原因", "健康度"]
    assert zh.iloc[0].tolist()[:7] == ["c1", text("level.1", "zh"), "价格敏感型", "财务部", "高价值客户", text("quadrant.potential", "zh"), "已评分"]
    assert zh.iloc[0]["原因占比"] == "价格敏感型 70%；服务不满型 30%" and zh.iloc[0]["预警原因"] == "a；b"
    assert pd.isna(zh.iloc[1]["流失原因"]) and zh.iloc[1]["健康度"] == 88.0
    assert for_people(frame, "en").columns[1] == "warning level"


def test_warning_list_csv_opens_in_excel_with_chinese_text(tmp_path):
    frame = pd.DataFrame({"customer_id": ["c1"], "warning_level": [2], "primary_cause": ["service"], "reasons": [["近3个月投诉 4 次"]]})
    frame.attrs["language"] = "zh"
    parquet, csv = write_outputs(frame, tmp_path / "warnings")
    raw = csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs to read UTF-8
    people = pd.read_csv(csv, encoding="utf-8-sig")
    assert list(people.columns) == ["客户编号", "预警等级", "流失原因", "预警原因"]
    assert people.iloc[0].tolist() == ["c1", text("level.2", "zh"), "服务不满型", "近3个月投诉 4 次"]
    machines = pd.read_parquet(parquet)  # codes stay codes for machines
    assert machines.iloc[0].tolist() == ["c1", 2, "service", '["近3个月投诉 4 次"]']


def test_bad_input_is_explained_in_the_configured_language(tiny_frames):
    frames = {k: v.copy() for k, v in tiny_frames.items()}
    frames["invoices"].loc[0, "amount"] = -5.0
    with pytest.raises(DataValidationError) as zh:
        cm.from_pandas(frames, {"language": "zh"})
    message = str(zh.value)
    assert "发现 1 个数据问题" in message and "表“invoices”的列“amount”" in message and "为负数" in message and "-5" in message
    assert "validation.negative_value" in message and "'warn' 或 'drop'" in message
    with pytest.raises(DataValidationError, match=r"table 'invoices', column 'amount': 1 row\(s\) are negative"):
        cm.from_pandas(frames)
    del frames["orders"]
    with pytest.raises(DataValidationError, match="必须提供订单表"):
        cm.from_pandas(frames, {"language": "zh"})
