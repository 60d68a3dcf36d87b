"""One generator per raw table: each draws its rows around the population's planted signals.

Every table stays a noisy Poisson/Bernoulli draw around the signal, so
prediction is possible but not trivial. The generators share one random
stream in a fixed order (:func:`churnml.datasets.world.chunk`): the same seed
gives the same world.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.datasets.population import DAY, INDUSTRIES, REGIONS, SEGMENTS, Population

__all__ = ["activity", "contacts", "contracts", "customers", "interactions", "invoices", "market_events", "orders", "surveys", "tickets"]


def market_events(rng: np.random.Generator, month_start: np.ndarray, end: int) -> pd.DataFrame:
    """Per industry and month: adverse policy (p=0.04) and competitor promotions (p=0.08)."""
    m = month_start.size
    rows = []
    for kind, p in (("policy_adverse", 0.04), ("competitor_promo", 0.08)):
        hit = rng.random((len(INDUSTRIES), m)) < p
        ind, mon = np.nonzero(hit)
        when = month_start[mon] + (rng.random(mon.size) * 28 * DAY).astype(np.int64)
        rows.append(
            pd.DataFrame(
                {
                    "date": when,
                    "industry": np.asarray(INDUSTRIES)[ind],
                    "kind": kind,
                    "severity": np.round(rng.uniform(0.3, 1.0, mon.size), 2),
                }
            )
        )
    # market-wide promotions now and then
    allm = np.nonzero(rng.random(m) < 0.05)[0]
    rows.append(pd.DataFrame({"date": month_start[allm] + 5 * DAY, "industry": "all", "kind": "competitor_promo", "severity": 0.5}))
    events = pd.concat(rows, ignore_index=True)
    events = events[events.date < end].sort_values("date", kind="stable").reset_index(drop=True)
    events["date"] = pd.to_datetime(events.date, unit="s")
    return events


def _poisson_events(rng, rate, win_start, win_len):
    """Draw Poisson counts per customer-month and place each event uniformly in its window.

    Returns (customer index, month index, time stamp in seconds), sorted by
    customer then time.
    """
    counts = rng.poisson(np.clip(rate, 0, None))
    counts[win_len <= 0] = 0
    flat = np.repeat(np.arange(counts.size), counts.ravel())
    cust, month = np.divmod(flat, rate.shape[1])
    ts = win_start[cust, month] + (rng.random(flat.size) * win_len[cust, month]).astype(np.int64)
    # one int64 key (customer, then seconds since the first event): a single argsort, 4x faster than lexsort
    order = np.argsort((cust.astype(np.int64) << 32) | (ts - (ts.min() if ts.size else 0)))
    return cust[order], month[order], ts[order]


def orders(rng: np.random.Generator, p: Population) -> tuple[pd.DataFrame, np.ndarray]:
    """Orders: a Poisson rate per customer-month that every signal lowers; price signals cut order value and add discounts.

    Also returns the spend per customer and month (net of discounts), which the invoices bill.
    """
    rate = p.base_freq[:, None] * p.seas * (1 - 0.6 * p.needs_s - 0.25 * p.price_s - 0.15 * p.service_s) * p.active
    c, mo, ts = _poisson_events(rng, rate, p.win_start, p.win_len)
    unit_price = np.exp(rng.normal(np.log(40), 0.6, p.n))
    value = p.base_amount[c] * (1 - 0.15 * p.needs_s[c, mo] - 0.4 * p.price_s[c, mo]) * np.exp(rng.normal(0, 0.35, c.size))
    on_discount = rng.random(c.size) < 0.08 + 0.6 * p.price_s[c, mo]
    discount = np.where(on_discount, value * rng.uniform(0.05, 0.3, c.size), 0.0)
    product = rng.integers(0, p.breadth[c] * 2 + 1)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(c.size, dtype=np.int64) + p.offset * 1000,
            "customer_id": p.cat(c),
            "order_date": ts.astype("datetime64[s]"),
            "amount": np.round(value, 2),
            "product": pd.Categorical.from_codes(product, categories=[f"P{i:02d}" for i in range(17)]),
            "category": pd.Categorical.from_codes(product % 4, categories=["core", "addon", "service", "consumable"]),
            "discount": np.round(discount, 2),
            "quantity": np.maximum(1, np.round(value / unit_price[c])),
        }
    )
    spend = np.bincount(c * p.m + mo, weights=value - discount, minlength=p.n * p.m).reshape(p.n, p.m)
    return frame, spend


def invoices(rng: np.random.Generator, p: Population, spend: np.ndarray) -> pd.DataFrame:
    """Invoices: one per customer-month with orders, issued early next month; price signals slow payment, some never paid."""
    ic, im = np.nonzero(spend > 0)
    issue = p.edges_s[im + 1] + (rng.uniform(0, 3, ic.size) * DAY).astype(np.int64)
    keep = issue < p.end
    ic, im, issue = ic[keep], im[keep], issue[keep]
    delay_days = p.pay_delay[ic] * (1 + 3 * p.price_s[ic, im]) * rng.gamma(4, 0.25, ic.size)
    paid = issue + (delay_days * DAY).astype(np.int64)
    # a price churner leaves its last invoices unpaid (not those after a return)
    leaving = (issue >= p.churn_at[ic] - 30 * DAY) & (issue < p.return_at[ic])
    arrears = (p.cause[ic] == 0) & leaving & (rng.random(ic.size) < 0.6)
    paid_at = pd.Series(paid.astype("datetime64[s]")).where(~arrears & (paid < p.end))
    return pd.DataFrame(
        {
            "invoice_id": np.arange(ic.size, dtype=np.int64) + p.offset * 100,
            "customer_id": p.cat(ic),
            "issue_date": issue.astype("datetime64[s]"),
            "due_date": (issue + 30 * DAY).astype("datetime64[s]"),
            "amount": np.round(spend[ic, im], 2),
            "paid_date": paid_at,
        }
    )


def activity(rng: np.random.Generator, p: Population) -> pd.DataFrame:
    """Activity: logins and feature use (usage breadth), fading with needs-change signals."""
    parts = []
    for kind, base, fade in (("login", p.base_logins, 0.75), ("feature_use", p.base_features, 0.7)):
        rate = base[:, None] * (1 - fade * p.needs_s - 0.2 * p.service_s - 0.1 * p.price_s) * p.active
        ac, am, at = _poisson_events(rng, rate, p.win_start, p.win_len)
        width = np.maximum(1, np.round(p.breadth[ac] * (1 - 0.7 * p.needs_s[ac, am]))).astype(int)
        feature = np.where(kind == "feature_use", rng.integers(0, width), -1)
        parts.append((ac, at, np.full(ac.size, 0 if kind == "login" else 1), feature))
    ac, at, et, ft = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((at, ac))
    return pd.DataFrame(
        {
            "customer_id": p.cat(ac[order]),
            "timestamp": at[order].astype("datetime64[s]"),
            "event_type": pd.Categorical.from_codes(et[order], categories=["login", "feature_use"]),
            "feature": pd.Categorical.from_codes(ft[order], categories=[f"F{i}" for i in range(8)]),
        }
    )


def tickets(rng: np.random.Generator, p: Population) -> pd.DataFrame:
    """Tickets: complaints and price requests rise with service and price signals, consultations fade with needs change."""
    parts = []
    for k, (_, rate) in enumerate(
        (
            ("complaint", (0.04 + 0.03 * p.segment[:, None]) + 1.1 * p.service_s + 0.15 * p.price_s),
            ("price", 0.02 + 0.6 * p.price_s),
            ("consultation", 0.15 * np.sqrt(p.seg_scale)[:, None] * (1 - 0.6 * p.needs_s)),
            ("technical", 0.08 * np.sqrt(p.seg_scale)[:, None] * (1 - 0.4 * p.needs_s) + 0.2 * p.service_s),
        )
    ):
        tc, tm, tt = _poisson_events(rng, rate * p.active, p.win_start, p.win_len)
        parts.append((tc, tm, tt, np.full(tc.size, k)))
    tc, tm, tt, tk = (np.concatenate(x) for x in zip(*parts, strict=True))
    standard_h = np.where(np.isin(tk, [0, 3]), 24.0, 2.0)
    response_h = standard_h * 0.6 * (1 + 3.5 * p.service_s[tc, tm]) * np.exp(rng.normal(0, 0.6, tc.size))
    first = tt + (response_h * 3600).astype(np.int64)
    resolved = first + (rng.gamma(2, 12, tc.size) * (1 + 2 * p.service_s[tc, tm]) * 3600).astype(np.int64)
    severity = np.where(rng.random(tc.size) < 0.15, -1, np.minimum(2, rng.poisson(0.3 + 1.5 * (tk == 0), tc.size)))
    return pd.DataFrame(
        {
            "ticket_id": np.arange(tc.size, dtype=np.int64) + p.offset * 10,
            "customer_id": p.cat(tc),
            "opened_at": tt.astype("datetime64[s]"),
            "first_response_at": pd.Series(first.astype("datetime64[s]")).where(first < p.end),
            "resolved_at": pd.Series(resolved.astype("datetime64[s]")).where(resolved < p.end),
            "category": pd.Categorical.from_codes(tk, categories=["complaint", "price", "consultation", "technical"]),
            "severity": pd.Categorical.from_codes(severity, categories=["low", "medium", "high"]),
        }
    ).sort_values(["customer_id", "opened_at"], kind="stable", ignore_index=True)


def interactions(rng: np.random.Generator, p: Population) -> pd.DataFrame:
    """Interactions: outreach (replies fall with service signals), meetings, events, feedback, competitor mentions."""
    parts = []
    reply_p = np.clip(0.9 - 0.5 * p.service_s - 0.3 * p.needs_s - 0.1 * p.price_s, 0.03, 1)
    specs = (
        # kind, channel, rate, executive
        ("outreach", "email", np.array([0.6, 1.5, 3.0])[p.segment][:, None] * np.ones_like(p.signal), False),
        ("meeting", "visit", np.array([0.05, 0.35, 0.9])[p.segment][:, None] * (1 - 0.85 * np.maximum(p.service_s, p.needs_s)), True),
        ("event_invite", "email", np.full_like(p.signal, 0.34), False),
        ("event_attended", "event", 0.2 * np.sqrt(p.seg_scale)[:, None] * (1 - 0.9 * p.needs_s), False),
        ("feedback", "email", 0.2 * p.responder[:, None] * (1 - 0.9 * p.service_s), False),
    )
    for k, (_, _, rate, _) in enumerate(specs):
        ic_, im_, it_ = _poisson_events(rng, rate * p.active, p.win_start, p.win_len)
        parts.append((ic_, im_, it_, np.full(ic_.size, k)))
    xc, xm, xt, xk = (np.concatenate(x) for x in zip(*parts, strict=True))
    outbound = np.isin(xk, [0, 1, 2])
    replied = np.where(xk == 0, rng.random(xc.size) < reply_p[xc, xm], True)
    competitor = replied & (rng.random(xc.size) < 0.02 + 0.45 * p.price_s[xc, xm])
    order = np.lexsort((xt, xc))
    kinds = [s[0] for s in specs]
    channels = np.array([s[1] for s in specs])
    frame = pd.DataFrame(
        {
            "customer_id": p.cat(xc[order]),
            "timestamp": xt[order].astype("datetime64[s]"),
            "channel": pd.Categorical(channels[xk[order]], categories=["email", "visit", "event"]),
            "direction": pd.Categorical.from_codes(np.where(outbound, 0, 1)[order], categories=["outbound", "inbound"]),
            "replied": pd.array(np.where(outbound, replied, False)[order], dtype="boolean"),
            "is_executive": np.array([s[3] for s in specs])[xk[order]],
            "mentions_competitor": competitor[order],
            "kind": pd.Categorical.from_codes(xk[order], categories=kinds),
        }
    )
    # only outreach awaits a reply
    frame.loc[xk[order] != 0, "replied"] = pd.NA
    return frame


def surveys(rng: np.random.Generator, p: Population) -> pd.DataFrame:
    """Surveys (responders only): CSAT and NPS, lower with service and price signals."""
    parts = []
    for k, (rate, mean, sd, top) in enumerate(((0.3, 4.3 - 2.3 * p.service_s - 0.5 * p.price_s, 0.6, 5), (0.1, 8.3 - 5.5 * p.service_s - 1.5 * p.price_s, 1.4, 10))):
        sc, sm, st = _poisson_events(rng, rate * p.responder[:, None] * p.active, p.win_start, p.win_len)
        score = np.clip(np.round(mean[sc, sm] + rng.normal(0, sd, sc.size)), 1 if k == 0 else 0, top)
        parts.append((sc, st, np.full(sc.size, k), score))
    sc, st, sk, ss = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((st, sc))
    return pd.DataFrame(
        {
            "customer_id": p.cat(sc[order]),
            "survey_date": st[order].astype("datetime64[s]"),
            "kind": pd.Categorical.from_codes(sk[order], categories=["csat", "nps"]),
            "score": ss[order],
        }
    )


def contacts(rng: np.random.Generator, p: Population) -> pd.DataFrame:
    """Contacts: a key contact from signup; needs-change (and some service) signals make it leave."""
    hazard = 0.008 + 0.25 * p.needs_s + 0.05 * p.service_s
    change = (rng.random((p.n, p.m)) < hazard) & (p.active > 0)
    changed = change.any(axis=1)
    change_month = change.argmax(axis=1)
    change_at = p.month_start[change_month] + (rng.random(p.n) * 25 * DAY).astype(np.int64)
    change_at = np.maximum(change_at, p.signup + DAY)
    key_end = np.where(changed, change_at, -1)
    contacts = pd.DataFrame(
        {
            "customer_id": p.cat(np.concatenate([np.arange(p.n), np.nonzero(changed)[0], np.arange(p.n)])),
            "contact_id": np.concatenate([[f"K{i}-1" for i in range(p.offset, p.offset + p.n)], [f"K{i}-2" for i in np.nonzero(changed)[0] + p.offset], [f"U{i}" for i in range(p.offset, p.offset + p.n)]]),
            "role": ["key"] * p.n + ["key"] * int(changed.sum()) + ["user"] * p.n,
            "start_date": np.concatenate([p.signup, change_at[changed], p.signup]).astype("datetime64[s]"),
            "end_date": pd.Series(np.concatenate([key_end, np.full(int(changed.sum()) + p.n, -1)]).astype("datetime64[s]")),
        }
    )
    contacts.loc[contacts.end_date == pd.Timestamp(-1, unit="s"), "end_date"] = pd.NaT
    return contacts.sort_values(["customer_id", "start_date"], kind="stable", ignore_index=True)


def contracts(p: Population) -> tuple[pd.DataFrame, np.ndarray]:
    """Contracts: yearly terms from signup for contract customers; churners cancel. Also returns each customer's last term end."""
    stop = np.minimum(p.churn_at, p.end)
    n_terms = np.where(p.has_contract, np.ceil((stop - p.signup) / (365 * DAY)).astype(int), 0)
    cc = np.repeat(np.arange(p.n), n_terms)
    term = np.arange(cc.size) - np.repeat(np.cumsum(n_terms) - n_terms, n_terms)
    t_start = p.signup[cc] + term * 365 * DAY
    t_end = t_start + 365 * DAY
    cancelled = (p.churn_at[cc] >= t_start) & (p.churn_at[cc] < t_end)
    frame = pd.DataFrame(
        {
            "customer_id": p.cat(cc),
            "start_date": t_start.astype("datetime64[s]"),
            "end_date": t_end.astype("datetime64[s]"),
            "cancelled_at": pd.Series(p.churn_at[cc].clip(max=p.end).astype("datetime64[s]")).where(cancelled),
        }
    )
    last_end = np.full(p.n, -1, dtype=np.int64)
    np.maximum.at(last_end, cc, t_end)
    return frame, last_end


def customers(rng: np.random.Generator, p: Population, last_end: np.ndarray) -> pd.DataFrame:
    """Customers: the profile, a few fields missing."""
    return pd.DataFrame(
        {
            "customer_id": p.ids,
            "industry": pd.Categorical.from_codes(np.where(rng.random(p.n) < 0.03, -1, p.industry), categories=INDUSTRIES),
            "segment": pd.Categorical.from_codes(np.where(rng.random(p.n) < 0.02, -1, p.segment), categories=SEGMENTS),
            "signup_date": p.signup.astype("datetime64[s]"),
            "region": pd.Categorical.from_codes(np.where(rng.random(p.n) < 0.05, -1, p.region), categories=REGIONS),
            "contract_end_date": pd.Series(last_end.astype("datetime64[s]")).where(last_end > 0),
        }
    )
