"""The domain's fixed vocabulary and units: churn causes, indicator categories, warning levels, time.

One home for every constant more than one stage reads (domain.md sections
2-4); a stage's own tuning values live in :mod:`churnml.config`.
"""

from __future__ import annotations

__all__ = ["CATEGORIES", "CAUSES", "DAY_SECONDS", "KEYS", "LEVELS", "MAX_ABS_VALUE", "MONTH_DAYS", "TARGET"]

# The three churn causes of seed 001; "none" (profile fields, unknown) is never a cause.
CAUSES = ("price", "service", "needs_change")

# Indicator categories of seed 000 (plus service, market and profile from seed 003).
CATEGORIES = ("activity", "consumption", "interaction", "risk", "service", "relationship", "market", "profile")

# The three warning levels of seed 003, 1 the highest risk; 0 means no warning.
LEVELS = (1, 2, 3)

# Larger amounts (or inf) are typos or sentinels, never money; DuckDB's DECIMAL(38, 12) sums overflow near 1e26.
MAX_ABS_VALUE = 1e15

# A time stamp of something that happened may run ahead of the load time by a zone's offset, not more.
FUTURE_TOLERANCE = "1D"

# Orders beyond a whole calendar month without any, fewer than this share of all, are strays (a typo such as
# 2099 for 2025): the default as_of ignores them, since "the month after the last order" would score everyone lapsed.
STRAY_SHARE = 0.01

DAY_SECONDS = 86_400.0
# The mean Gregorian month (365.25 / 12 days): days become months with it everywhere.
MONTH_DAYS = 30.4375

# A snapshot row is a customer as of a date; its label column.
KEYS = ["customer_id", "as_of"]
TARGET = "churned"
