"""Typer sub-app ``ml``: train, evaluate, predict, synthetic (wired into the main CLI by cli.py).

Errors of the package end the command with one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from imatinib_tdm.case import load_case
from imatinib_tdm.errors import TdmError
from imatinib_tdm.ml._card import load_triage_model, save_triage_model
from imatinib_tdm.ml._data import (
    DEFAULT_THRESHOLD_NG_PER_ML,
    load_column_mapping,
    load_feature_table,
    load_training_data,
)
from imatinib_tdm.ml._evaluation import nested_cross_validate
from imatinib_tdm.ml._predict import features_from_case, predict_triage
from imatinib_tdm.ml._report import write_evaluation_report
from imatinib_tdm.ml._synthetic import (
    SYNTHETIC_NOTICE,
    generate_synthetic_cohort,
    write_synthetic_csv,
)
from imatinib_tdm.ml._train import train_triage_model

__all__ = ["ml_app"]

ml_app = typer.Typer(
    help="Machine-learning triage: who is likely below the trough threshold before any level.",
    no_args_is_help=True,
)

MappingOption = Annotated[Path | None, typer.Option("--mapping", help="column mapping, YAML/JSON")]
ThresholdOption = Annotated[
    float, typer.Option("--threshold", help="label threshold, ng/mL (trough below it = 1)")
]


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except (TdmError, ValueError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def _mapping(path: Path | None) -> dict[str, str] | None:
    return load_column_mapping(path) if path else None


def _metrics_lines(result: Any) -> list[str]:
    lines = []
    for name, candidate in result.candidates.items():
        m = candidate.metrics
        lines.append(
            f"{name:15s} AUROC {m['auroc'].value:.3f} "
            f"({m['auroc'].low:.3f}-{m['auroc'].high:.3f})  "
            f"AUPR {m['aupr'].value:.3f}  Brier {m['brier'].value:.3f}  "
            f"slope {m['calibration_slope'].value:.2f}  "
            f"intercept {m['calibration_intercept'].value:.2f}"
        )
    return lines


@ml_app.command("train")
def train_command(
    data: Annotated[Path, typer.Argument(help="CSV or .xlsx of TDM records")],
    out: Annotated[Path, typer.Option("--out", help="model file to write (JSON)")],
    mapping: MappingOption = None,
    threshold: ThresholdOption = DEFAULT_THRESHOLD_NG_PER_ML,
    folds: Annotated[int, typer.Option(help="outer CV folds")] = 5,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Compare candidates by nested CV, refit the best savable one, save it with its model card."""

    def action() -> None:
        table = load_training_data(data, mapping=_mapping(mapping), threshold_ng_per_ml=threshold)
        if out.exists():
            raise ValueError(f"{out} exists; choose another --out (nothing is overwritten)")
        model, result = train_triage_model(table, outer_folds=folds, seed=seed)
        save_triage_model(model, out)
        if table.synthetic:
            typer.echo(SYNTHETIC_NOTICE)
        typer.echo("\n".join(_metrics_lines(result)))
        typer.echo(f"saved {model.kind} model to {out}")

    _run(action)


@ml_app.command("evaluate")
def evaluate_command(
    data: Annotated[Path, typer.Argument(help="CSV or .xlsx of TDM records")],
    html: Annotated[Path | None, typer.Option("--html", help="write an HTML report here")] = None,
    mapping: MappingOption = None,
    threshold: ThresholdOption = DEFAULT_THRESHOLD_NG_PER_ML,
    folds: Annotated[int, typer.Option(help="outer CV folds")] = 5,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Nested-CV comparison of all candidates with 95% intervals (and an HTML report)."""

    def action() -> None:
        table = load_training_data(data, mapping=_mapping(mapping), threshold_ng_per_ml=threshold)
        result = nested_cross_validate(table, outer_folds=folds, seed=seed)
        if table.synthetic:
            typer.echo(SYNTHETIC_NOTICE)
        typer.echo("\n".join(_metrics_lines(result)))
        if html is not None:
            write_evaluation_report(result, html)
            typer.echo(f"report written to {html}")

    _run(action)


@ml_app.command("predict")
def predict_command(
    model_file: Annotated[Path, typer.Argument(metavar="MODEL", help="model file from 'ml train'")],
    case: Annotated[Path | None, typer.Argument(help="case file (JSON/YAML)")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="table of patients instead")] = None,
    metastatic_site: Annotated[
        str | None,
        typer.Option(help="metastatic site for a case: none, liver, peritoneum, both, other"),
    ] = None,
    mapping: MappingOption = None,
) -> None:
    """Probability of a trough below threshold, TDM priority and contributions, as JSON."""

    def action() -> None:
        if (case is None) == (csv is None):
            raise ValueError("give either a CASE file or --csv DATA")
        model = load_triage_model(model_file)
        if case is not None:
            x = features_from_case(load_case(case), metastatic_site=metastatic_site)
        else:
            assert csv is not None
            x = load_feature_table(csv, mapping=_mapping(mapping)).x
        output = [p.to_dict() for p in predict_triage(model, x)]
        if model.card.get("training_data", {}).get("synthetic"):
            typer.echo(f"NOTE: model trained on synthetic data. {SYNTHETIC_NOTICE}", err=True)
        typer.echo(json.dumps(output if case is None else output[0], indent=2))

    _run(action)


@ml_app.command("synthetic")
def synthetic_command(
    n: Annotated[int, typer.Option("--n", help="number of synthetic patients")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write")],
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    signal: Annotated[
        bool, typer.Option("--signal/--no-signal", help="features informative or not")
    ] = True,
) -> None:
    """Write a SYNTHETIC cohort (labelled in every row and in a header notice)."""

    def action() -> None:
        if out.exists():
            raise ValueError(f"{out} exists; choose another --out (nothing is overwritten)")
        write_synthetic_csv(generate_synthetic_cohort(n, seed=seed, signal=signal), out)
        typer.echo(f"{SYNTHETIC_NOTICE}\nwrote {n} synthetic patients to {out}")

    _run(action)
