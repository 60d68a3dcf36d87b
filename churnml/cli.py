"""The ``churnml`` command line.

Errors print one clear message without a traceback: exit code 2 for bad
input (tables, configuration, paths, arguments), 1 for a failure of the job
itself. ``--debug`` (or ``--verbose``) adds the traceback and debug logs.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from churnml._version import __version__
from churnml.config import ConfigError, load_config
from churnml.data.tables import load_tables
from churnml.data.validation import DataValidationError, first_lines

app = typer.Typer(
    help="churnml: customer-churn early warning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
if not console.is_terminal:  # piped or captured: do not wrap tables at 80 columns
    console = Console(width=160)
state = {"verbose": False}


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--debug", "--verbose", "-v", help="Show debug logs and tracebacks.")] = False,
) -> None:
    state["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # MLflow logs its own INFO lines and artifact progress bars otherwise
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _print_tables(tables) -> None:
    summary = tables.summary()
    view = Table(title="Tables")
    for col in ["table", "rows", "customers", "first", "last", "dropped"]:
        view.add_column(col, justify="right" if col in ("rows", "customers", "dropped") else "left")
    for row in summary.itertuples(index=False):
        view.add_row(
            row.table,
            f"{row.rows:,}",
            "" if pd.isna(row.customers) else f"{row.customers:,}",
            str(row.first)[:10],
            str(row.last)[:10],
            str(row.dropped),
        )
    console.print(view)
    for issue in tables.report.issues:
        console.print(f"[yellow]warning[/yellow] {issue.message()} -> {issue.action}")
    if tables.report.derived:
        console.print(f"derived from {tables.clock[0]}: {', '.join(tables.report.derived)}")


def _frame_table(title: str, frame: pd.DataFrame, digits: int = 3) -> Table:
    view = Table(title=title)
    view.add_column(frame.index.name or "")
    for col in frame.columns:
        view.add_column(str(col), justify="right")
    integer = [pd.api.types.is_integer_dtype(frame[c]) for c in frame.columns]
    for idx, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        view.add_row(str(idx), *[f"{v:,}" if is_int else f"{v:,.{digits}f}" for v, is_int in zip(row, integer, strict=True)])
    return view


@app.command()
def demo(
    config: Annotated[Path | None, typer.Option(help="YAML configuration (embedded defaults when omitted).")] = None,
    out: Annotated[Path, typer.Option(help="Directory for the trained model and the evaluation report.")] = Path("churnml-demo"),
    top: Annotated[int, typer.Option(help="How many warnings to print.")] = 10,
) -> None:
    """Run the main job end to end on the bundled sample: train both models, evaluate, score."""
    from churnml.datasets import load_sample
    from churnml.evaluation import report
    from churnml.model import ChurnModel
    from churnml.output import for_people

    cfg = load_config(config)
    console.print(f"churnml {__version__}: loading and validating the bundled sample")
    tables = load_sample()
    _print_tables(tables)

    with console.status("building indicators and labels, training the rule scorecard and LightGBM", spinner="dots"):
        model = ChurnModel(cfg).fit(tables)
    split = model.holdout_.split
    console.print(
        f"trained on {len(split.train)} monthly snapshots ({split.train[0].date()} to {split.train[-1].date()}), "
        f"calibrated ({model.fitted_.method}) on {', '.join(str(d.date()) for d in split.calibration)}, "
        f"tested out of time on {', '.join(str(d.date()) for d in split.test)}; "
        f"churn probability from {model.fitted_.name}, which ranked the calibration slice best"
    )
    rep = report(model)
    console.print(_frame_table("Out-of-time test slice", rep.metrics.loc[["rows", "churn_rate", "auc_roc", "pr_auc", "brier", "ece", "lift_top10"]]))
    console.print(_frame_table("Warning levels on the test slice", rep.levels.reset_index(level="model").pivot(columns="model", values="precision").rename_axis("level")))
    model.save(out / "model")
    rep.save(out / "report", cfg.language)

    with console.status("scoring the latest month", spinner="dots"):
        scored = model.score(tables)
    warned = scored[scored.warning_level > 0]  # already sorted: level, value at risk, risk
    view = Table(title=f"Top {top} warnings as of {scored.as_of.iloc[0].date()} ({len(warned):,} of {len(scored):,} customers warned)")
    shown = warned.head(top)[["customer_id", "warning_level", "health_score", "value_tier", "primary_cause", "owner", "reasons"]].assign(
        health_score=lambda f: f.health_score.map("{:.0f}".format), reasons=lambda f: f.reasons.map(lambda r: r[0] if r else "")
    )
    shown = for_people(shown, cfg.language)  # the main reason only, codes in words
    for col in shown.columns:
        view.add_column(col, overflow="fold")
    for row in shown.itertuples(index=False):
        view.add_row(*map(str, row))
    console.print(view)
    console.print(f"model: {out / 'model'}   report and plots: {out / 'report'}")
    if getattr(model, "run_id_", None):
        from churnml.ops.registry import tracking_uri

        uri = tracking_uri(cfg.tracking)
        console.print(f"MLflow run {model.run_id_} in {uri}" + (f"; browse it with: mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite") else ""))


def _model_option() -> object:
    return typer.Option("--model", "-m", help="A saved model directory or an MLflow URI such as models:/churnml@champion.")


@app.command()
def train(
    path: Annotated[Path, typer.Argument(help="Directory of Parquet/CSV tables.")],
    config: Annotated[Path | None, typer.Option(help="YAML configuration.")] = None,
    as_of: Annotated[list[str] | None, typer.Option("--as-of", help="Snapshot month starts (default: every labelled month).")] = None,
    out: Annotated[Path | None, typer.Option(help="Also save the model to this directory.")] = None,
) -> None:
    """Train the configured model on a time-ordered split, log and register it in MLflow."""
    from churnml.evaluation import report
    from churnml.model import ChurnModel

    cfg = load_config(config)
    tables = load_tables(path, cfg)
    with console.status("building indicators and labels, training", spinner="dots"):
        model = ChurnModel(cfg).fit(tables, as_of=as_of or None)
    console.print(_frame_table("Out-of-time test slice", report(model).metrics.loc[["rows", "auc_roc", "pr_auc", "brier", "ece"]]))
    if out is not None:
        console.print(f"saved to {model.save(out)}")
    if getattr(model, "run_id_", None):
        console.print(f"MLflow run {model.run_id_}")


@app.command()
def retrain(
    config: Annotated[Path | None, typer.Option(help="YAML configuration (retrain.tables says where the data is).")] = None,
    tables: Annotated[Path | None, typer.Option(help="Directory of raw tables (overrides retrain.tables).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The run's month start (default: after the last order).")] = None,
    replace_broken_champion: Annotated[
        bool, typer.Option(help="If the champion's artifact cannot be loaded, train a new model judged as a first one.")
    ] = False,
) -> None:
    """The scheduled job: train a challenger, promote it if good enough, write the warning list."""
    from churnml.ops.retrain import retrain as run_retrain

    result = run_retrain(load_config(config), tables, as_of, replace_broken_champion=replace_broken_champion)
    console.print(f"retrain {result.as_of}: [bold]{result.decision}[/bold] ({result.reason})")
    console.print(f"challenger version {result.challenger_version}, previous champion {result.champion_version}")
    console.print(f"warning list: {', '.join(result.warning_list)}; win-back list: {', '.join(result.winback_list)}")


@app.command()
def score(
    path: Annotated[Path, typer.Argument(help="Directory of Parquet/CSV tables.")],
    model: Annotated[str, _model_option()] = "models:/churnml@champion",
    out: Annotated[Path, typer.Option(help="Output file stem: writes STEM.parquet and STEM.csv atomically.")] = Path("warnings"),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Month start (default: after the last order).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML configuration for reading the tables (column mapping).")] = None,
    explain: Annotated[str | None, typer.Option(help="warned (default) or all.")] = None,
    language: Annotated[str | None, typer.Option(help="en or zh: reasons, actions and the CSV (default: the model's config).")] = None,
    allow_missing: Annotated[
        bool, typer.Option(help="Score even without tables the model was trained with; each row names what it lacks.")
    ] = False,
) -> None:
    """Score every customer with a trained model and write the warning list."""
    from churnml.ops.serving import score as run_score
    from churnml.output import write_outputs

    with console.status("scoring", spinner="dots"):
        warnings = run_score(path, model, as_of, explain=explain, config=config, language=language, allow_missing=allow_missing)
    written = write_outputs(warnings, out)
    console.print(f"{(warnings.warning_level > 0).sum():,} of {len(warnings):,} customers warned; wrote {', '.join(map(str, written))}")


@app.command()
def winback(
    path: Annotated[Path, typer.Argument(help="Directory of Parquet/CSV tables.")],
    model: Annotated[str, _model_option()] = "models:/churnml@champion",
    out: Annotated[Path, typer.Option(help="Output file stem: writes STEM.parquet and STEM.csv atomically.")] = Path("winback"),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Any day (default: the month start after the last order).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML configuration for reading the tables (column mapping).")] = None,
    lookback_months: Annotated[
        int | None, typer.Option(min=1, help="Only customers lost in the last N months (default: the model's winback.lookback_months).")
    ] = None,
    language: Annotated[str | None, typer.Option(help="en or zh: reasons, strategies and the CSV (default: the model's config).")] = None,
) -> None:
    """List the lapsed customers to win back (cause, value, chance of return, strategy) and write the list."""
    from churnml.ops.registry import load_model
    from churnml.output import write_outputs
    from churnml.scoring.winback import winback as winback_list

    churn_model = load_model(model)
    tables = load_tables(path, load_config(config) if config is not None else churn_model.config_)
    with console.status("explaining the lapsed customers", spinner="dots"):
        listed = winback_list(tables, churn_model, as_of, lookback_months=lookback_months, language=language)
    written = write_outputs(listed, out)
    value = listed.expected_recovered_value.sum()
    console.print(f"{len(listed):,} lapsed customers, expected recovered value {value:,.0f}; wrote {', '.join(map(str, written))}")


@app.command()
def report(
    model: Annotated[str, _model_option()] = "models:/churnml@champion",
    out: Annotated[Path, typer.Option(help="Directory for report.md and the plots.")] = Path("report"),
) -> None:
    """Write a trained model's out-of-time evaluation report (Markdown and PNG plots)."""
    from churnml.evaluation import report as evaluation_report
    from churnml.ops.registry import load_model

    churn_model = load_model(model)
    rep = evaluation_report(churn_model)
    rep.save(out, churn_model.config_.language)
    console.print(_frame_table("Out-of-time test slice", rep.metrics.loc[["rows", "auc_roc", "pr_auc", "brier", "ece"]]))
    console.print(f"wrote {out}")


@app.command()
def kpis(
    path: Annotated[Path, typer.Argument(help="Directory of Parquet/CSV tables, including 'interventions'.")],
    config: Annotated[Path | None, typer.Option(help="YAML configuration (churn definition, kpis section).")] = None,
    by: Annotated[
        str | None, typer.Option(help="Comma-separated groups: period, warning_level, primary_cause, owner, action (with --winback: value_tier, not warning_level).")
    ] = None,
    winback: Annotated[bool, typer.Option("--winback", help="Measure the win-back lists' rows (kind winback) instead of the warnings.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write STEM.parquet and STEM.csv atomically.")] = None,
) -> None:
    """Measure the retention programme: warning precision, timeliness, win-back and return rates, control group."""
    from churnml.kpis import kpis as compute_kpis
    from churnml.kpis import winback_kpis
    from churnml.output import write_outputs

    by = by if by is not None else "primary_cause,value_tier" if winback else "period,warning_level"
    groups = [b.strip() for b in by.split(",") if b.strip()]
    cfg = load_config(config)
    table = (winback_kpis if winback else compute_kpis)(path, cfg, by=groups)
    shown = (
        ["lapsed", "control", "win_back_rate", "control_win_back_rate", "win_back_effect", "return_rate", "control_return_rate", "spend_change"]
        if winback
        else ["warnings", "control", "labelled", "precision", "control_churn_rate", "action_effect", "timeliness", "win_back_rate", "return_rate"]
    )
    keys = groups or ["group"]
    label = pd.Index(table[keys].astype(str).agg(" / ".join, axis=1), name=" / ".join(keys))
    console.print(_frame_table("Win-back KPIs" if winback else "Retention KPIs", table[shown].set_axis(label), digits=2))
    if out is not None:
        console.print(f"wrote {', '.join(map(str, write_outputs(table, out, cfg.language)))}")


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="Directory of Parquet/CSV tables.")],
    config: Annotated[Path | None, typer.Option(help="YAML configuration with column mapping.")] = None,
) -> None:
    """Load and validate a directory of raw tables and print a summary."""
    tables = load_tables(path, load_config(config))
    _print_tables(tables)


@app.command()
def indicators(
    path: Annotated[Path, typer.Argument(help="Directory of Parquet/CSV tables.")],
    as_of: Annotated[list[str], typer.Option("--as-of", help="Month start (repeat for several snapshots).")],
    out: Annotated[Path, typer.Option(help="Parquet file to write (one row per customer and as_of).")],
    config: Annotated[Path | None, typer.Option(help="YAML configuration.")] = None,
) -> None:
    """Build point-in-time indicators for one or more as_of dates and write them as Parquet."""
    from churnml.indicators.build import build_indicators

    cfg = load_config(config)
    tables = load_tables(path, cfg)
    with console.status(f"building indicators for {len(as_of)} snapshot(s)", spinner="dots"):
        build_indicators(tables, as_of, cfg, path=out)
    console.print(f"wrote {out}")


@app.command()
def generate(
    path: Annotated[Path, typer.Argument(help="Output directory (created).")],
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 10_000,
    months: Annotated[int, typer.Option(help="Months of data.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    start: Annotated[str, typer.Option(help="First month (YYYY-MM-01).")] = "2024-01-01",
    interventions: Annotated[bool, typer.Option(help="Simulate a retention programme and write its interventions table.")] = False,
) -> None:
    """Write a synthetic churn world as Parquet, in chunks (bounded memory)."""
    from churnml.datasets import RetentionProgramme, write_synthetic

    with console.status(f"generating {customers:,} customers x {months} months", spinner="dots"):
        write_synthetic(path, customers, months, seed, start=start, retention=RetentionProgramme() if interventions else None)
    console.print(f"wrote {path}")


# what the user gave wrong (exit 2, like a usage error) rather than what failed in the job (exit 1)
_BAD_INPUT = (DataValidationError, ConfigError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, ValueError, TypeError)
_MLFLOW_BAD_INPUT = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}  # an unknown model or version, a bad alias


def _exit_code(exc: Exception) -> int:
    mlflow_input = type(exc).__module__.startswith("mlflow") and getattr(exc, "error_code", None) in _MLFLOW_BAD_INPUT
    registry = sys.modules.get("churnml.ops.registry")  # not imported up front: it brings LightGBM into every --help
    unknown_model = registry is not None and isinstance(exc, registry.ModelNotFoundError)
    return 2 if isinstance(exc, _BAD_INPUT) or mlflow_input or unknown_model else 1


def main(args: list[str] | None = None) -> None:
    """Entry point: any error becomes one clear message, exit code 2 for bad input and 1 for a failure.

    Parameters
    ----------
    args : list of str, optional
        The command line without the program name (default: ``sys.argv[1:]``).
    """
    try:
        app(args=args, prog_name="churnml")
    except Exception as exc:  # noqa: BLE001 - the command line's last word on any error
        if state["verbose"]:
            raise
        code = _exit_code(exc)
        # bad input's and churnml's own messages are written for the user; an unexpected failure's first line names it
        own = code == 2 or type(exc).__module__.split(".")[0] == "churnml"
        message = str(exc) if own else f"{type(exc).__name__}: {first_lines(exc, 1)} (run with --debug for the traceback)"
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}", highlight=False)
        sys.exit(code)
