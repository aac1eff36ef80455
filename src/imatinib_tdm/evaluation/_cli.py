"""``imatinib-tdm evaluate``: the command function (wired into the CLI by ``cli.py``).

Parses options, reads the dataset, runs :func:`evaluate_dataset` with a progress bar, prints the
ranking (or JSON) and writes the HTML report. No evaluation logic lives here.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from imatinib_tdm.errors import CaseError
from imatinib_tdm.evaluation._allometry import allometric_model
from imatinib_tdm.evaluation._evaluate import DEFAULT_SEED, DEFAULT_TIME_VARYING_PATIENT_LIMIT
from imatinib_tdm.evaluation._report import write_evaluation_report
from imatinib_tdm.evaluation._study import EvaluationStudy, evaluate_dataset
from imatinib_tdm.io import LongCsvColumns, load_nonmem_dataset, read_long_csv
from imatinib_tdm.pk import EventTable, PopPKModel
from imatinib_tdm.pk.library import get_model, list_models

__all__ = ["evaluate_command", "load_evaluation_data", "parse_column_options", "select_models"]


def select_models(spec: str, *, allometric: bool = False) -> list[PopPKModel]:
    """Models named by ``spec``: ``all`` or comma-separated library ids (allometric if asked)."""
    if spec.strip().lower() == "all":
        models = list_models()
    else:
        models = [get_model(name.strip()) for name in spec.split(",") if name.strip()]
    if not models:
        raise CaseError("--models names no model", field="models")
    return [allometric_model(m) for m in models] if allometric else models


def _header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for line in handle:
                if line.strip() and not line.lstrip().startswith("#"):
                    return [c.strip() for c in next(csv.reader([line.lstrip("#C ")]))]
    except OSError as exc:
        raise CaseError(f"cannot read {path}: {exc.strerror}", field="data") from None
    raise CaseError(f"{path}: the file is empty", field="data")


def parse_column_options(items: list[str]) -> dict[str, str]:
    """``--column COLUMN=name`` options as a mapping (for ``evaluate`` and ``estimate --data``)."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, name = item.partition("=")
        if not sep or not column.strip() or not name.strip():
            raise CaseError(
                f"--column must be COLUMN=name (e.g. WT=weight_kg); got {item!r}", field="column"
            )
        mapping[column.strip()] = name.strip()
    return mapping


def load_evaluation_data(
    path: Path,
    models: list[PopPKModel],
    *,
    unit: str,
    columns: dict[str, str],
    data_format: str = "auto",
) -> tuple[EventTable, list[str]]:
    """Read a NONMEM-format dataset or a long TDM CSV with every model covariate it holds.

    ``columns`` maps a file column to a covariate name; other covariates are read from columns
    with their own name (case-insensitive). Returns the table and the reading warnings.
    """
    header = _header(path)
    lower = {name.lower(): name for name in header}
    if data_format == "auto":
        data_format = "long" if "patient" in lower else "nonmem"
    if data_format not in ("long", "nonmem"):
        raise CaseError("--format must be auto, long or nonmem", field="format")
    wanted = {name for model in models for name in model.covariate_names}
    mapped = set(columns.values())
    present = {n: lower[n.lower()] for n in wanted - mapped if n.lower() in lower}
    if data_format == "long":
        cov_columns = {name: column for column, name in columns.items()}
        cov_columns.update({n: c for n, c in present.items() if n not in cov_columns})
        dataset = read_long_csv(
            path, concentration_unit=unit, columns=LongCsvColumns(covariates=cov_columns)
        )
        return dataset.table, [w.message for w in dataset.warnings]
    names = list(columns) + sorted(present.values())
    dataset = load_nonmem_dataset(path, covariates=names, dv_unit=unit)
    renames = {**{c: n for n, c in present.items()}, **columns}
    table = dataclasses.replace(
        dataset.table,
        covariates={renames.get(k, k): v for k, v in dataset.table.covariates.items()},
    )
    return table, [w.message for w in dataset.warnings]


def _print_ranking(study: EvaluationStudy) -> None:
    typer.echo(
        f"{study.n_patients} patients, {study.n_observations} observations; ranking by "
        f"{study.ranking[0].basis if study.ranking else 'forecast'} |MDPE| and MDAPE"
    )
    typer.echo(
        f"{'rank':>4}  {'model':<28} {'n':>5} {'MDPE%':>7} {'MDAPE%':>7} {'MAPE%':>7} {'F30%':>6}"
    )
    for row in study.ranking:
        if row.error is not None:
            typer.echo(f"{'-':>4}  {row.model_id:<28} not evaluated: {row.error}")
            continue
        m = row.metrics[row.basis]
        typer.echo(
            f"{row.rank:>4}  {row.model_id:<28} {m.n:>5} {m.mdpe:>7.1f} {m.mdape:>7.1f} "
            f"{m.mape:>7.1f} {m.f30:>6.1f}"
        )


def evaluate_command(
    data: Annotated[Path, typer.Argument(help="NONMEM-format dataset or long TDM CSV.")],
    models: Annotated[
        str, typer.Option("--models", help="'all' or comma-separated library model ids.")
    ] = "all",
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    unit: Annotated[
        str, typer.Option("--dv-unit", help="Unit of the concentrations and LLOQs in DATA.")
    ] = "mg/L",
    column: Annotated[
        list[str] | None,
        typer.Option("--column", help="COLUMN=covariate_name (e.g. WT=weight_kg). Repeatable."),
    ] = None,
    data_format: Annotated[
        str,
        typer.Option("--format", help="auto (a 'patient' column means long CSV), long, nonmem."),
    ] = "auto",
    allometric: Annotated[
        bool, typer.Option(help="Scale adult models without weight allometrically (children).")
    ] = False,
    replicates: Annotated[int, typer.Option(help="Simulated replicates (PI, NPDE, VPC).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the simulations.")] = DEFAULT_SEED,
    workers: Annotated[
        int, typer.Option(help="Processes to spread the models over (2 uses both cores).")
    ] = 1,
    slow_model_limit: Annotated[
        int,
        typer.Option(
            help="Evaluate models with time-varying parameters (one patient at a time, slow) "
            "only up to this many patients."
        ),
    ] = DEFAULT_TIME_VARYING_PATIENT_LIMIT,
) -> None:
    """External evaluation of popPK models on a dataset: ranking, averaging, selection, report."""
    chosen = select_models(models, allometric=allometric)
    table, warnings = load_evaluation_data(
        data, chosen, unit=unit, columns=parse_column_options(column or []), data_format=data_format
    )
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task("evaluating models", total=len(chosen))
        study = evaluate_dataset(
            table,
            chosen,
            seed=seed,
            n_replicates=replicates,
            time_varying_patient_limit=slow_model_limit,
            workers=workers,
            on_model_done=lambda _: progress.advance(task),
        )
    if report is not None:
        try:
            write_evaluation_report(study, report)
        except OSError as exc:
            raise CaseError(
                f"cannot write the report {report}: {exc.strerror}", field="report"
            ) from None
    if as_json:
        payload = study.to_dict()
        payload["dataset_warnings"] = warnings
        typer.echo(json.dumps(payload, indent=2))
        return
    for message in warnings:
        typer.echo(f"  ! {message}")
    _print_ranking(study)
    if report is not None:
        typer.echo(f"report written to {report}")
