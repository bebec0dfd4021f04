"""Tests of the methods x datasets table in course_lib.experiment (headline_score, comparison_table)."""
from __future__ import annotations

import math

from course_lib.experiment import comparison_table, headline_score


def test_headline_score_is_ukbench_score_or_map_in_percent():
    assert headline_score({"method": "mac", "map": 0.80449, "ukbench_score": 3.6612}) == ("UKB score", 3.66)
    assert headline_score({"method": "mac", "map": 0.80449, "map_medium": 0.80449}) == ("mAP %", 80.4)


def test_comparison_table_puts_methods_in_rows_and_datasets_in_columns():
    results = {
        "mini": [{"method": "mac", "map": 0.5}, {"method": "gem", "map": 0.61}],
        "ukbench": [{"method": "gem", "map": 0.9, "ukbench_score": 3.5}, {"method": "rmac", "map": 0.8,
                                                                          "ukbench_score": 3.25}],
    }
    table = comparison_table(results, labels={"gem": "GeM (p=3)"})
    assert list(table.columns) == ["mini mAP %", "ukbench UKB score"]
    assert list(table.index) == ["mac", "GeM (p=3)", "rmac"]
    assert table.index.name == "method"
    assert table.loc["GeM (p=3)", "mini mAP %"] == 61.0 and table.loc["GeM (p=3)", "ukbench UKB score"] == 3.5
    assert math.isnan(table.loc["mac", "ukbench UKB score"]) and math.isnan(table.loc["rmac", "mini mAP %"])
