"""A tiny hand-made world for golden indicator tests, as_of 2024-07-01.

Customer 'a' has 18 months of history in every table; 'b' signed up six
weeks before as_of and has two orders; 'c' signs up after as_of. Rows stamped
exactly at or after as_of are planted in every table: none may count.
"""

import pandas as pd

AS_OF = pd.Timestamp("2024-07-01")
T = pd.Timestamp


def months(start: str, n: int, day: int = 10, hour: int = 0) -> list[pd.Timestamp]:
    return [T(start) + pd.DateOffset(months=k, days=day - 1, hours=hour) for k in range(n)]


def frames() -> dict[str, pd.DataFrame]:
    hist_orders = [("a", ts, 100.0, 0.0) for ts in months("2023-01-01", 15)]  # Jan 2023 - Mar 2024
    recent_orders = [
        ("a", T("2024-04-10"), 50.0, 0.0),
        ("a", T("2024-04-20"), 30.0, 5.0),
        ("a", T("2024-05-10"), 60.0, 10.0),
        ("a", T("2024-06-10"), 40.0, 0.0),
        ("b", T("2024-05-20"), 200.0, 0.0),
        ("b", T("2024-06-20"), 100.0, 0.0),
        ("a", AS_OF, 999.0, 99.0),  # future: exactly at as_of
        ("c", T("2024-08-05"), 10.0, 0.0),
    ]
    orders = pd.DataFrame(hist_orders + recent_orders, columns=["customer_id", "order_date", "amount", "discount"])
    orders.insert(0, "order_id", range(1, len(orders) + 1))

    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "industry": ["retail", "logistics", "retail"],
            "segment": ["small", "large", "small"],
            "signup_date": [T("2023-01-01"), T("2024-05-15"), T("2024-08-01")],
            "region": ["north", None, "west"],
            "contract_end_date": [T("2025-01-01"), pd.NaT, pd.NaT],
        }
    )

    invoices = pd.DataFrame(
        [
            ("i1", "a", T("2023-06-01"), T("2023-07-01"), 100.0, T("2023-06-04")),
            ("i2", "a", T("2023-09-01"), T("2023-10-01"), 100.0, T("2023-09-04")),
            ("i3", "a", T("2024-04-01"), T("2024-05-01"), 100.0, T("2024-04-16")),
            ("i4", "a", T("2024-05-01"), T("2024-05-31"), 60.0, pd.NaT),
            ("i5", "a", T("2024-05-15"), T("2024-06-14"), 40.0, T("2024-07-05")),  # paid after as_of
            ("i6", "a", T("2024-06-20"), T("2024-07-20"), 40.0, pd.NaT),  # not yet due
            ("i7", "a", AS_OF, T("2024-07-31"), 999.0, AS_OF),  # future
        ],
        columns=["invoice_id", "customer_id", "issue_date", "due_date", "amount", "paid_date"],
    )

    logins = [ts for m in months("2023-04-01", 12, day=3) for ts in (m, m + pd.Timedelta(days=7), m + pd.Timedelta(days=14), m + pd.Timedelta(days=21))]
    recent_logins = [T("2024-04-03"), T("2024-04-17"), T("2024-05-08")]
    features = [(m, f) for m in months("2023-04-01", 12, day=3) for f in ("F1", "F2")] + [(T("2024-04-03"), "F1")]
    activity = pd.DataFrame(
        [("a", ts, "login", None) for ts in logins + recent_logins]
        + [("a", ts, "feature_use", f) for ts, f in features]
        + [("a", AS_OF, "login", None), ("a", AS_OF + pd.Timedelta(days=3), "feature_use", "F9")],
        columns=["customer_id", "timestamp", "event_type", "feature"],
    )

    h = pd.Timedelta(hours=1)
    tickets = [("a", ts, ts + h, ts + 2 * h, "consultation") for ts in months("2023-04-01", 12, day=5, hour=9)]
    tickets += [
        ("a", T("2023-06-05 10:00"), T("2023-06-05 12:00"), T("2023-06-06"), "complaint"),
        ("a", T("2024-04-05 09:00"), T("2024-04-05 10:00"), T("2024-04-05 11:00"), "consultation"),
        ("a", T("2024-04-10 09:00"), T("2024-04-10 10:00"), T("2024-04-10 12:00"), "price"),
        ("a", T("2024-05-02 10:00"), T("2024-05-03 16:00"), T("2024-05-04"), "complaint"),  # 30 h > 24 h standard
        ("a", T("2024-05-20 10:00"), T("2024-05-20 20:00"), T("2024-05-21"), "complaint"),
        ("a", T("2024-06-05 10:00"), T("2024-07-02"), pd.NaT, "complaint"),  # answered after as_of
        ("a", AS_OF, AS_OF + h, pd.NaT, "complaint"),  # future
    ]
    tickets = pd.DataFrame(tickets, columns=["customer_id", "opened_at", "first_response_at", "resolved_at", "category"])
    tickets.insert(0, "ticket_id", range(100, 100 + len(tickets)))

    def x(ts, channel, direction, replied, kind, executive=False, competitor=False):
        return ("a", ts, channel, direction, replied, executive, competitor, kind)

    inter = [x(ts, "email", "outbound", ts.month != 1, "outreach") for ts in months("2023-04-01", 10, day=12)]  # 9 of 10 replied
    inter += [
        x(T("2024-04-12"), "email", "outbound", True, "outreach"),
        x(T("2024-04-25"), "email", "outbound", False, "outreach"),
        x(T("2024-05-12"), "email", "outbound", True, "outreach", competitor=True),
        x(T("2024-06-12"), "email", "outbound", False, "outreach"),
        x(T("2024-06-01"), "phone", "inbound", None, "other", competitor=True),
        x(T("2024-03-01"), "visit", "outbound", True, "meeting", executive=True),
        x(T("2023-08-01"), "phone", "inbound", None, "other", competitor=True),
        x(AS_OF, "visit", "outbound", True, "meeting", executive=True),  # future
    ]
    inter += [x(ts, "event", "inbound", None, "event_attended") for ts in (T("2023-04-20"), T("2023-07-20"), T("2023-10-20"), T("2024-01-20"))]
    inter += [x(ts, "email", "inbound", None, "feedback") for ts in months("2023-05-01", 6, day=15)[::1] if False] + [
        x(T(d), "email", "inbound", None, "feedback") for d in ("2023-05-15", "2023-07-15", "2023-09-15", "2023-11-15", "2024-01-15", "2024-03-15")
    ]
    interactions = pd.DataFrame(
        inter, columns=["customer_id", "timestamp", "channel", "direction", "replied", "is_executive", "mentions_competitor", "kind"]
    )

    surveys = pd.DataFrame(
        [("a", T(d), "csat", 5.0) for d in ("2023-06-01", "2023-09-01", "2023-12-01", "2024-03-01")]
        + [("a", T("2024-05-25"), "csat", 2.0), ("a", T("2024-06-05"), "csat", 3.0)]
        + [("a", T("2024-04-20"), "nps", 6.0), ("a", T("2023-10-01"), "nps", 9.0)]
        + [("a", AS_OF, "csat", 1.0)],
        columns=["customer_id", "survey_date", "kind", "score"],
    )

    contacts = pd.DataFrame(
        [
            ("a", "K1", "key", T("2023-01-01"), T("2024-05-10")),
            ("a", "K2", "key", T("2024-05-10"), T("2024-08-01")),  # end date known, but after as_of
            ("a", "U1", "user", T("2023-01-01"), T("2024-03-01")),
        ],
        columns=["customer_id", "contact_id", "role", "start_date", "end_date"],
    )

    contracts = pd.DataFrame(
        [
            ("a", T("2023-01-01"), T("2024-01-01"), pd.NaT),
            ("a", T("2024-01-01"), T("2025-01-01"), T("2024-09-01")),  # cancelled after as_of
        ],
        columns=["customer_id", "start_date", "end_date", "cancelled_at"],
    )

    market = pd.DataFrame(
        [
            (T("2024-05-03"), "retail", "policy_adverse", 0.8),
            (T("2024-06-15"), "all", "competitor_promo", 0.5),
            (T("2024-02-01"), "retail", "competitor_promo", 0.5),
            (AS_OF, "retail", "policy_adverse", 0.9),
            (T("2024-06-01"), "logistics", "competitor_promo", 0.4),
        ],
        columns=["date", "industry", "kind", "severity"],
    )
    return {
        "orders": orders,
        "customers": customers,
        "invoices": invoices,
        "activity": activity,
        "tickets": tickets,
        "interactions": interactions,
        "surveys": surveys,
        "contacts": contacts,
        "contracts": contracts,
        "market_events": market,
    }


NAN = float("nan")
MD = 30.4375

# Expected values, computed by hand. Recent window = Apr-Jun 2024, history =
# Apr 2023-Mar 2024, streak lags L1..L7 = Jun 2024 back to Dec 2023, streak
# reference = Jan-Dec 2023.
EXPECTED = {
    # activity: logins 4 a month in history, 3 in the recent window
    "logins_per_month_3m": (1.0, 0.0),  # b: activity table present, none of b's, 2 observed months
    "login_ratio": (0.25, NAN),  # (3/3) / (48/12)
    "active_days_ratio": (0.25, NAN),  # feature use falls on login days
    "usage_breadth_ratio": ((1 / 3) / 2, NAN),  # 1 distinct feature in 3 months vs 2 a month
    "consultations_ratio": (1 / 3, NAN),  # 1 in 3 months vs 12 in 12
    "days_since_last_activity": (21.0, 11.0),  # a: order 2024-06-10; b: order 2024-06-20
    "days_since_last_order": (21.0, 11.0),
    "orders_to_date": (19.0, 2.0),  # a: 15 monthly orders 2023-01..2024-03 and 4 since; b: 2; the order at as_of is future
    "days_since_first_order": (538.0, 42.0),  # a: 2023-01-10; b: 2024-05-20
    # consumption: a's monthly amounts ... 100, 100, 100 (Mar), 80 (Apr), 60 (May), 40 (Jun)
    "amount_per_month_3m": (60.0, 150.0),  # b: 300 over its 2 observed months
    "amount_ratio": (0.6, NAN),
    "order_freq_ratio": ((4 / 3) / 1.0, NAN),
    "order_value_ratio": ((180 / 4) / 100, NAN),
    "amount_decline_streak": (3.0, 1.0),  # a: 40<54, 60<72, 80<90, 100 !< 90; b: 100 < 180, then Apr unobserved
    "months_below_history_amount": (2.0, NAN),  # reference 100 -> below 70: Jun 40, May 60, not Apr 80
    "months_below_history_orders": (0.0, NAN),  # Jun has 1 order, reference 1 -> not below 0.7
    "amount_trend": (-220 / 17.5 / 80, NAN),  # slope of 40,60,80,100,100,100 at x=-1..-6 over mean 80
    "discount_share_3m": (0.5, 0.0),
    "discount_share_change": (0.5, NAN),
    "payment_days_3m": (15.0, NAN),  # i3 only; i5 is paid after as_of
    "payment_days_ratio": (5.0, NAN),  # 15 vs 3
    "overdue_invoices": (2.0, 0.0),  # i4 unpaid, i5 paid after as_of; i6 not yet due
    "overdue_days_mean": (24.0, 0.0),  # (31 + 17) / 2
    "overdue_amount_to_avg_order": (100 / (1380 / 16), 0.0),
    # interaction
    "reply_rate_3m": (0.5, NAN),
    "reply_rate_change": (0.5 - 0.9, NAN),
    "event_attendance_change": (0.0 - 4 / 12, NAN),
    "days_since_account_contact": (30.0, NAN),  # inbound call 2024-06-01
    "feedback_change": (0.0 - 6 / 12, NAN),
    # risk
    "complaints_3m": (3.0, 0.0),
    "complaint_rate_change": (1.0 - 1 / 12, NAN),
    "months_above_history_complaints": (2.0, NAN),  # Jun 1, May 2 above 1/12; Apr 0
    "competitor_mentions_3m": (2.0, 0.0),
    "price_tickets_3m": (1.0, 0.0),
    # service: responses given Apr-Jun: 1 h, 1 h, 30 h, 10 h; the June complaint's answer comes after as_of
    "response_hours_3m": (10.5, NAN),
    "response_over_standard_3m": (0.25, NAN),
    "open_tickets": (1.0, 0.0),
    "csat_3m": (2.5, NAN),
    "csat_change": (-2.5, NAN),
    "nps_3m": (6.0, NAN),
    "low_scores_3m": (2.0, 0.0),  # csat 2 and nps 6
    # relationship
    "key_contact_changes_6m": (1.0, 0.0),  # K1 ended 2024-05-10; K2's end is after as_of; U1 is not key
    "months_since_executive_contact": (122 / MD, NAN),  # 2024-03-01 -> 2024-07-01
    # market
    "adverse_policy_events_3m": (1.0, 0.0),
    "competitor_promos_3m": (1.0, 2.0),  # a: the 'all' promo; b: 'all' + logistics
    # profile
    "tenure_months": (18.0, 2.0),
    "monthly_spend": (1380 / 15, 150.0),  # a: Apr 2023 - Jun 2024; b: its 2 observed months
    "months_to_contract_end": (184 / MD, NAN),  # active term ends 2025-01-01; cancellation is after as_of
    "industry": ("retail", "logistics"),
    "segment": ("small", "large"),
    "region": ("north", None),
    # correlations
    "frequency_and_satisfaction_falling": (0.0, NAN),  # frequency did not fall
    "usage_and_orders_falling": (1.0, NAN),  # logins 0.25, amount 0.6
}
