import ibis
import pandas as pd
import pytest

import churnml as cm
from churnml.config import load_config
from churnml.data.schema import SCHEMA, contract_markdown
from churnml.data.tables import from_directory, from_ibis, from_pandas, load_tables
from churnml.data.validation import DataValidationError


def _error(frames, config=None) -> str:
    with pytest.raises(DataValidationError) as err:
        from_pandas(frames, config)
    return str(err.value)


# ---- the contract


def test_valid_tables_load_with_canonical_types(tiny_frames):
    tables = from_pandas(tiny_frames)
    assert set(tables) == {"orders", "customers", "invoices", "tickets"}
    orders = tables.to_pandas("orders")
    assert list(orders.columns) == list(SCHEMA["orders"].column_names)
    assert orders.order_id.tolist() == ["1", "2", "3", "4", "5"]  # ids are read as text
    assert pd.api.types.is_datetime64_any_dtype(orders.order_date)
    assert orders["product"].isna().all()  # optional column absent -> typed nulls
    assert tables.report.issues == []
    assert tables.report.rows_out == {"orders": 5, "customers": 3, "invoices": 2, "tickets": 2}


def test_contract_documents_every_table_and_column():
    text = contract_markdown()
    for spec in SCHEMA.values():
        for col in spec.columns:
            assert f"| {spec.name} | {col.name} |" in text
    assert [n for n, s in SCHEMA.items() if s.required] == ["orders"]


def test_orders_only_derives_customers(tiny_frames):
    tables = from_pandas({"orders": tiny_frames["orders"]})
    customers = tables.to_pandas("customers").sort_values("customer_id")
    assert customers.customer_id.tolist() == ["a", "b", "c"]
    assert customers.signup_date.tolist() == [pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-20"), pd.Timestamp("2024-03-01")]
    assert tables.report.derived == ["customers"]


def test_empty_optional_table_is_fine(tiny_frames):
    tiny_frames["surveys"] = pd.DataFrame(
        {"customer_id": pd.Series([], dtype=str), "survey_date": pd.Series([], dtype="datetime64[ns]"), "kind": pd.Series([], dtype=str), "score": pd.Series([], dtype=float)}
    )
    tables = from_pandas(tiny_frames)
    assert tables.report.rows_out["surveys"] == 0


# ---- each failure class names table, column and offending values


def test_missing_orders_table():
    assert "'orders'" in _error({"customers": pd.DataFrame({"customer_id": ["a"]})})


def test_empty_orders_table(tiny_frames):
    assert "table 'orders'" in _error({"orders": tiny_frames["orders"].iloc[:0]})


def test_an_order_log_without_order_ids_counts_each_row_as_one_order(tiny_frames):
    from churnml.indicators.build import build_indicators

    with_ids = from_pandas({"orders": tiny_frames["orders"]})
    without = from_pandas({"orders": tiny_frames["orders"].drop(columns="order_id")})
    assert without.report.derived == ["orders.order_id", "customers"]
    assert without.to_pandas("orders").order_id.is_unique
    columns = ["customer_id", "order_date", "amount"]
    pd.testing.assert_frame_equal(
        without.to_pandas("orders")[columns].sort_values(columns, ignore_index=True), with_ids.to_pandas("orders")[columns].sort_values(columns, ignore_index=True)
    )
    pd.testing.assert_frame_equal(build_indicators(without, "2024-04-01"), build_indicators(with_ids, "2024-04-01"))


def test_any_activity_event_type_counts_as_use(tiny_frames):
    from churnml.indicators.build import build_indicators

    days = pd.date_range("2023-06-01", "2024-03-31", freq="3D")
    activity = pd.DataFrame({"customer_id": "a", "timestamp": days, "event_type": "stream", "feature": "player"})
    own = from_pandas({**tiny_frames, "activity": activity})
    assert not own.report.issues  # a subscription's own event names are not errors
    known = from_pandas({**tiny_frames, "activity": activity.assign(event_type="feature_use")})
    pd.testing.assert_frame_equal(build_indicators(own, "2024-04-01"), build_indicators(known, "2024-04-01"))
    assert build_indicators(own, "2024-04-01").set_index("customer_id").loc["a", "active_days_ratio"] > 0


def test_missing_required_columns_are_all_listed(tiny_frames):
    tiny_frames["orders"] = tiny_frames["orders"].drop(columns=["amount"])
    tiny_frames["invoices"] = tiny_frames["invoices"].drop(columns=["issue_date"])
    msg = _error(tiny_frames)
    assert "table 'orders' has no column 'amount': it is required (float64)" in msg
    assert "table 'invoices' has no column 'issue_date'" in msg
    assert "tables.orders.columns.amount" in msg  # says how to fix


def test_unparseable_date_names_value_and_key(tiny_frames):
    orders = tiny_frames["orders"].astype({"order_date": str})
    orders.loc[1, "order_date"] = "2024-13-45"
    tiny_frames["orders"] = orders
    msg = _error(tiny_frames)
    assert "table 'orders', column 'order_date': 1 row(s) could not be read as timestamp" in msg
    assert "order_id='2'" in msg and "order_date='2024-13-45'" in msg


def test_wrong_type_amount(tiny_frames):
    tiny_frames["orders"]["amount"] = ["100", "eighty", "5000", "300", "n/a"]
    msg = _error(tiny_frames)
    assert "column 'amount': 2 row(s) could not be read as float64" in msg
    assert "'eighty'" in msg and "'n/a'" in msg


def test_negative_invoice_amount_is_an_error_but_refund_orders_are_kept(tiny_frames):
    tiny_frames["orders"].loc[4, "amount"] = -250.0  # a refund
    tiny_frames["invoices"].loc[0, "amount"] = -180.0
    msg = _error(tiny_frames)
    assert "table 'invoices', column 'amount': 1 row(s) are negative" in msg
    assert "table 'orders'" not in msg


def test_duplicate_primary_key(tiny_frames):
    tiny_frames["invoices"].loc[1, "invoice_id"] = "i1"
    msg = _error(tiny_frames)
    assert "table 'invoices', column 'invoice_id': 2 row(s) share a primary key" in msg
    assert "'i1'" in msg


def test_order_lines_may_share_an_order_id(tiny_frames):
    tiny_frames["orders"].loc[4, "order_id"] = 4  # a second line of order 4
    tables = from_pandas(tiny_frames)
    assert tables.report.issues == [] and tables.report.rows_out["orders"] == 5


def test_null_customer_id(tiny_frames):
    tiny_frames["orders"]["customer_id"] = ["a", None, "b", "c", "c"]
    msg = _error(tiny_frames)
    assert "table 'orders', column 'customer_id': 1 row(s) are null" in msg
    assert "order_id='2'" in msg


def test_unknown_customer(tiny_frames):
    tiny_frames["orders"].loc[0, "customer_id"] = "zz"
    msg = _error(tiny_frames)
    assert "table 'orders', column 'customer_id': 1 row(s) reference customers missing from table 'customers'" in msg
    assert "'zz'" in msg


def test_first_response_before_opened(tiny_frames):
    tiny_frames["tickets"].loc[0, "first_response_at"] = pd.Timestamp("2024-01-09")
    msg = _error(tiny_frames)
    assert "table 'tickets', column 'first_response_at': 1 row(s) are before opened_at" in msg
    assert "ticket_id='10'" in msg


def test_all_errors_of_all_tables_reported_at_once(tiny_frames):
    tiny_frames["tickets"].loc[1, "ticket_id"] = 10
    tiny_frames["invoices"].loc[0, "amount"] = -1.0
    tiny_frames["orders"]["amount"] = ["lots", "80", "5000", "300", "250"]
    with pytest.raises(DataValidationError) as err:
        from_pandas(tiny_frames)
    assert {i.check for i in err.value.issues} == {"duplicate_key", "negative_value", "unparseable"}


def test_unknown_category_is_a_counted_warning(tiny_frames, quiet_logs):
    tiny_frames["tickets"].loc[0, "category"] = "Beschwerde"
    tables = from_pandas(tiny_frames)
    [issue] = tables.report.issues
    assert (issue.check, issue.table, issue.column, issue.count, issue.action) == ("unknown_value", "tickets", "category", 1, "warn")
    assert "Beschwerde" in quiet_logs.text


def test_category_values_match_case_insensitively(tiny_frames):
    tiny_frames["tickets"]["category"] = ["Complaint ", "CONSULTATION"]
    tables = from_pandas(tiny_frames)
    assert tables.report.issues == []
    assert sorted(tables.to_pandas("tickets").category) == ["complaint", "consultation"]


# ---- configurable actions: nothing is dropped silently


def test_drop_action_excludes_and_counts_rows(tiny_frames):
    tiny_frames["orders"]["customer_id"] = ["a", None, "b", "zz", "c"]
    cfg = load_config({"validation": {"null_value": "drop", "unknown_customer": "drop"}})
    tables = from_pandas(tiny_frames, cfg)
    assert tables.report.rows_in["orders"] == 5
    assert tables.report.rows_out["orders"] == 3
    assert tables.report.dropped == {"orders": 2}
    assert {i.check: i.count for i in tables.report.issues} == {"null_value": 1, "unknown_customer": 1}
    assert tables.summary().set_index("table").loc["orders", "dropped"] == 2


def test_warn_action_keeps_rows_and_nulls_the_bad_value(tiny_frames):
    tiny_frames["invoices"]["paid_date"] = ["2024-02-04", "soon"]
    tables = from_pandas(tiny_frames, {"validation": {"unparseable": "warn"}})
    invoices = tables.to_pandas("invoices").sort_values("invoice_id")
    assert len(invoices) == 2 and invoices.paid_date.isna().tolist() == [False, True]
    assert tables.report.issues[0].count == 1


def test_duplicate_drop_keeps_one_row_per_key(tiny_frames):
    tiny_frames["tickets"].loc[1, "ticket_id"] = 10
    tables = from_pandas(tiny_frames, {"validation": {"duplicate_key": "drop"}})
    assert tables.to_pandas("tickets").ticket_id.tolist() == ["10"]
    assert tables.report.dropped == {"tickets": 1}


def test_duplicate_warn_still_gives_one_row_per_customer_and_scoring_lists_each_once(tiny_frames):
    # warn kept both rows, and scoring crashed on the customer seen twice
    customers = tiny_frames["customers"]
    tiny_frames["customers"] = pd.concat([customers, customers.head(1).assign(segment="large")], ignore_index=True)
    config = {"validation": {"duplicate_key": "warn"}, "tracking": {"enabled": False}}
    tables = from_pandas(tiny_frames, config)
    assert tables.to_pandas("customers").customer_id.value_counts().max() == 1
    assert tables.report.dropped == {"customers": 1} and tables.report.issues[0].check == "duplicate_key"
    scored = cm.ChurnModel.cold_start(tables, as_of="2024-03-01", config=config).score(tables, as_of="2024-03-01")
    assert sorted(scored.customer_id) == sorted(customers.customer_id)


# ---- mapping


def test_column_and_value_mapping(tiny_frames):
    orders = tiny_frames["orders"].rename(columns={"order_id": "OrderNo", "amount": "Umsatz", "customer_id": "Kunde", "order_date": "Datum"})
    tickets = tiny_frames["tickets"].replace({"category": {"complaint": "Beschwerde"}})
    cfg = {
        "tables": {
            "orders": {"source": "sales", "columns": {"order_id": "OrderNo", "amount": "Umsatz", "customer_id": "Kunde", "order_date": "Datum"}},
            "tickets": {"values": {"category": {"Beschwerde": "complaint"}}},
        }
    }
    tables = from_pandas({"sales": orders, "customers": tiny_frames["customers"], "tickets": tickets}, cfg)
    assert tables.to_pandas("orders").amount.sum() == 5730.0
    assert sorted(tables.to_pandas("tickets").category) == ["complaint", "consultation"]
    assert tables.report.issues == []


def test_one_source_column_may_fill_two_canonical_columns(tiny_frames):
    # a rename cannot: Ibis raised "duplicate new names passed for renaming"
    tickets = tiny_frames["tickets"].rename(columns={"opened_at": "created"}).drop(columns=["first_response_at"])
    config = {"tables": {"tickets": {"columns": {"opened_at": "created", "first_response_at": "created"}}}}
    loaded = from_pandas({**tiny_frames, "tickets": tickets}, config).to_pandas("tickets")
    assert (loaded.opened_at == loaded.first_response_at).all() and loaded.opened_at.notna().all() and "created" not in loaded


def test_mapped_column_absent_says_which(tiny_frames):
    msg = _error({"orders": tiny_frames["orders"]}, {"tables": {"orders": {"columns": {"amount": "Revenue"}}}})
    assert "expected column 'Revenue' (mapped to 'amount')" in msg


def test_unknown_table_name_is_rejected(tiny_frames):
    with pytest.raises(ValueError, match=r"unknown table name\(s\) \['sales'\]"):
        from_pandas({"orders": tiny_frames["orders"], "sales": tiny_frames["orders"]})


def test_integer_and_text_customer_ids_join(tiny_frames):
    tiny_frames["customers"]["customer_id"] = [1, 2, 3]
    tiny_frames["orders"]["customer_id"] = ["1", "1", "2", "3", "3"]
    tiny_frames.pop("invoices"), tiny_frames.pop("tickets")
    tables = from_pandas(tiny_frames)
    assert tables.report.issues == []


def test_time_zone_aware_stamps_become_naive_utc(tiny_frames):
    tiny_frames["orders"]["order_date"] = pd.to_datetime(tiny_frames["orders"].order_date).dt.tz_localize("Asia/Shanghai")
    orders = from_pandas(tiny_frames).to_pandas("orders").sort_values("order_id")
    assert orders.order_date.dt.tz is None
    assert orders.order_date.iloc[0] == pd.Timestamp("2024-01-02 16:00")


def test_nanosecond_stamps_are_floored_to_microseconds_and_stay_before_as_of(tiny_frames):
    # numpy arithmetic on dates gives nanoseconds that are not whole microseconds; Arrow refused them with no table named
    as_of = pd.Timestamp("2024-03-01")
    stamps = [as_of - pd.Timedelta(1, unit="ns"), as_of + pd.Timedelta(1, unit="ns"), pd.Timestamp("2024-01-05 10:00:00.123456789")]
    orders = tiny_frames["orders"].head(3).assign(order_date=pd.Series(stamps, dtype="datetime64[ns]").to_numpy())
    loaded = from_pandas({**tiny_frames, "orders": orders}).to_pandas("orders").sort_values("order_id").order_date.tolist()
    assert loaded == [as_of - pd.Timedelta(1, unit="us"), as_of, pd.Timestamp("2024-01-05 10:00:00.123456")]
    assert loaded[0] < as_of <= loaded[1]  # before as_of stays before it, at or after stays after


@pytest.mark.parametrize("source", ["pandas", "csv", "parquet"])
def test_text_stamps_with_a_utc_offset_are_converted_to_utc(tiny_frames, tmp_path, source):
    # DuckDB's cast of text to a naive time stamp dropped the offset: every stamp moved by it
    written = ["2024-01-03T23:17:50+08:00", "2024-02-10T10:00:00Z", "2024-01-20 12:00:00", "2024-03-01", "2024-03-15T01:00:00-05:30"]
    orders = tiny_frames["orders"].assign(order_date=written)
    if source == "pandas":
        tables = from_pandas({**tiny_frames, "orders": orders})
    else:
        for name, frame in {**tiny_frames, "orders": orders}.items():
            frame.to_csv(tmp_path / f"{name}.csv", index=False) if source == "csv" else frame.to_parquet(tmp_path / f"{name}.parquet")
        tables = from_directory(tmp_path)
    got = tables.to_pandas("orders").sort_values("order_id").order_date.tolist()
    assert got == [pd.Timestamp(s) for s in ["2024-01-03 15:17:50", "2024-02-10 10:00", "2024-01-20 12:00", "2024-03-01", "2024-03-15 06:30"]]


@pytest.mark.parametrize("amount", [1e30, float("inf"), float("-inf")])
def test_amounts_beyond_any_currency_are_a_validation_issue(tiny_frames, amount):
    # they passed validation, then the engine's decimal sums crashed with a traceback naming no table
    tiny_frames["orders"].loc[1, "amount"] = amount
    message = _error(tiny_frames)
    assert "table 'orders', column 'amount': 1 row(s)" in message and "[out_of_range]" in message
    assert f"order_id='2', amount={amount!r}" in message
    dropped = from_pandas(tiny_frames, {"validation": {"out_of_range": "drop"}})
    assert dropped.report.dropped == {"orders": 1}


def test_an_amount_column_mixing_numbers_and_text_names_the_text(tiny_frames):
    # what read_excel gives; Arrow raised a bare ArrowTypeError naming no table
    tiny_frames["orders"]["amount"] = pd.Series([100.0, "2,5", 5000, None, 250.0], dtype=object)
    message = _error(tiny_frames)
    assert "table 'orders', column 'amount': 1 row(s) could not be read as float64" in message
    assert "amount='2,5'" in message


def test_empty_orders_with_untyped_columns_is_an_empty_table_error(tiny_frames):
    # object columns with no values: Ibis refused NULL-typed columns, and the hint pointed at validation.null_value
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in tiny_frames["orders"].columns})
    message = _error({**tiny_frames, "orders": empty})
    assert "table 'orders': expected at least one row: the table is empty" in message
    assert "validation." not in message  # no setting lets an empty orders table pass


# ---- loaders


def _same(a, b):
    for name in a:
        left = a.to_pandas(name).sort_values(list(a.to_pandas(name).columns[:2])).reset_index(drop=True)
        right = b.to_pandas(name).sort_values(list(left.columns[:2])).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=False)


def test_parquet_directory_loader_equals_pandas_loader(tiny_frames, tmp_path):
    for name, frame in tiny_frames.items():
        frame.to_parquet(tmp_path / f"{name}.parquet")
    _same(from_pandas(tiny_frames), from_directory(tmp_path))
    assert isinstance(load_tables(str(tmp_path)), type(from_directory(tmp_path)))


def test_csv_and_partitioned_parquet(tiny_frames, tmp_path):
    tiny_frames["orders"].to_csv(tmp_path / "orders.csv", index=False)
    (tmp_path / "tickets").mkdir()
    tickets = tiny_frames["tickets"]
    tickets.iloc[:1].to_parquet(tmp_path / "tickets" / "part-0.parquet")
    tickets.iloc[1:].to_parquet(tmp_path / "tickets" / "part-1.parquet")
    tables = from_directory(tmp_path)
    assert tables.report.rows_out["orders"] == 5 and tables.report.rows_out["tickets"] == 2


def test_directory_without_orders(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataValidationError, match="orders.parquet"):
        from_directory(tmp_path)


def _orders_csv(tmp_path, text: str, encoding: str = "utf-8"):
    (tmp_path / "orders.csv").write_bytes(text.encode(encoding))
    return tmp_path


def test_a_csv_in_another_encoding_names_file_and_line_and_loads_with_its_encoding(tmp_path):
    # DuckDB's raw error, then a CLI traceback; now the file, the line and the setting
    lines = ["order_id,customer_id,order_date,amount"] + [f"{i},c{i % 3},2024-01-{1 + i % 28:02d},{i}.5" for i in range(50)]
    lines[40] = "40,客户甲,2024-01-13,40.5"
    _orders_csv(tmp_path, "\n".join(lines) + "\n", "gbk")
    with pytest.raises(DataValidationError) as err:
        from_directory(tmp_path)
    message = str(err.value)
    assert "orders.csv is not valid utf-8 (line 41," in message and "tables.<name>.encoding" in message
    tables = from_directory(tmp_path, {"tables": {"orders": {"encoding": "gb18030"}}})
    assert "客户甲" in set(tables.to_pandas("orders").customer_id)


def test_an_unknown_encoding_is_a_config_error():
    with pytest.raises(ValueError, match="tables.orders.encoding.*unknown text encoding 'utf-9'"):
        load_config({"tables": {"orders": {"encoding": "utf-9"}}})


@pytest.mark.parametrize("bad_row", ['3,"c1,2024-01-03,7.5\n4,"c3",2024-01-04,8', "3,c1,2024-01-03,7.5,extra,more"], ids=["broken quote", "ragged row"])
def test_a_malformed_csv_names_the_file_instead_of_four_missing_columns(tmp_path, bad_row):
    _orders_csv(tmp_path, "order_id,customer_id,order_date,amount\n1,c1,2024-01-01,5\n2,c2,2024-01-02,6\n" + bad_row + "\n")
    with pytest.raises(DataValidationError) as err:
        from_directory(tmp_path)
    message = str(err.value)
    assert "orders.csv could not be read as CSV" in message and "Line: 4" in message and "has no column" not in message


def test_a_bad_row_beyond_the_readers_sample_names_the_table(tmp_path):
    # the sniffer reads the first rows only: the first full scan meets the ragged one
    rows = [f"{i},c{i % 7},2024-01-{1 + i % 28:02d},{i}.25" for i in range(60_000)] + ["60000,c1,2024-01-01,1,oops,more"]
    _orders_csv(tmp_path, "order_id,customer_id,order_date,amount\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataValidationError, match="table 'orders': could not be read to the end"):
        from_directory(tmp_path)


def test_two_files_for_one_table_are_refused(tiny_frames, tmp_path):
    # one of them was used without a word
    tiny_frames["orders"].to_parquet(tmp_path / "orders.parquet")
    tiny_frames["orders"].iloc[:2].to_csv(tmp_path / "orders.csv", index=False)
    with pytest.raises(DataValidationError, match=r"orders.parquet, orders.csv are all in .*keep one file per table"):
        from_directory(tmp_path)


def test_ibis_duckdb_file_connection(tiny_frames, tmp_path):
    con = ibis.duckdb.connect(tmp_path / "crm.duckdb")
    for name, frame in tiny_frames.items():
        con.create_table(name, frame)
    _same(from_pandas(tiny_frames), from_ibis(con))
    _same(from_pandas(tiny_frames), load_tables({k: con.table(k) for k in tiny_frames}))


def test_sample_customers_keeps_every_row_of_a_random_share(sample):
    part = sample.sample_customers(0.3, seed=1)
    ids = set(part.to_pandas("customers").customer_id)
    assert 0.25 < len(ids) / 2500 < 0.35
    assert part.sampling == {"fraction": 0.3, "seed": 1, "customers": len(ids), "population": 2500}
    for name in ("orders", "tickets", "contacts"):
        full = sample.to_pandas(name)
        assert len(part.to_pandas(name)) == full.customer_id.isin(ids).sum() > 0
    assert len(part.to_pandas("market_events")) == len(sample.to_pandas("market_events"))
    assert set(sample.sample_customers(0.3, seed=1).to_pandas("customers").customer_id) == ids
    assert set(sample.sample_customers(0.3, seed=2).to_pandas("customers").customer_id) != ids
    assert len(sample.sample_customers(1.0).to_pandas("customers")) == 2500
    with pytest.raises(ValueError, match="fraction"):
        sample.sample_customers(0)



def test_customer_ranges_split_the_customers_into_equal_disjoint_parts(sample):
    bounds = sample.customer_bounds(4)
    assert len(bounds) == 3 and bounds == sorted(bounds)
    edges = [None, *bounds, None]
    parts = [sample.customer_range(low, high) for low, high in zip(edges, edges[1:])]
    ids = [set(part.to_pandas("customers").customer_id) for part in parts]
    assert [len(i) for i in ids] == [625] * 4  # 2,500 customers
    assert set().union(*ids) == set(sample.to_pandas("customers").customer_id)
    for name in ("orders", "tickets"):  # every row of a customer goes with it, and only there
        assert sum(len(part.to_pandas(name)) for part in parts) == len(sample.to_pandas(name))
        assert set(parts[1].to_pandas(name).customer_id) <= ids[1]
    assert sample.customer_bounds(1) == [] and sample.customer_range(None, None) is sample
    with pytest.raises(ValueError, match="chunks"):
        sample.customer_bounds(0)

@pytest.mark.slow
def test_a_model_trained_on_a_sample_records_the_sampling_in_mlflow(sample):
    from mlflow.tracking import MlflowClient

    import churnml as cm

    dates = list(pd.date_range("2024-12-01", "2025-04-01", freq="MS"))  # five months are enough to log the sampling
    model = cm.ChurnModel().fit(sample.sample_customers(0.5, seed=3), as_of=dates)
    params = MlflowClient().get_run(model.run_id_).data.params
    assert params["sample.fraction"] == "0.5" and params["sample.population"] == "2500"
    assert 1100 < int(params["sample.customers"]) < 1400
