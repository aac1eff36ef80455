"""Command-line interface ``imatinib-tdm`` (Typer): a thin shell over the library.

Every command parses its input, calls library functions and renders the result; no PK or
clinical logic lives here. Errors of the package (``TdmError``) end the command with one line
on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from pydantic import ValidationError

from imatinib_tdm import __version__, cli_service
from imatinib_tdm.case import Dose, format_validation_error, load_case, load_demo_case
from imatinib_tdm.errors import CaseError, TdmError
from imatinib_tdm.evaluation import choose_model, load_centre_model_prior
from imatinib_tdm.evaluation._cli import evaluate_command, parse_column_options
from imatinib_tdm.io import load_nonmem_dataset, write_cases_nonmem_dataset
from imatinib_tdm.ml._cli import ml_app
from imatinib_tdm.pk import (
    DoseHistory,
    PopPKModel,
    load_model_file,
    resolve_covariates,
    simulate_population,
    simulate_typical,
)
from imatinib_tdm.pk.library import get_model, list_models
from imatinib_tdm.report import write_interpretation_report, write_recommendation_report
from imatinib_tdm.tdm import (
    BAYESIAN_NOTICE,
    NOTICE,
    APrioriPrediction,
    DoseRecommendation,
    IndividualEstimate,
    Interpretation,
    estimate_individual,
    estimate_table,
    interpret,
    predict_a_priori,
    recommend_dose,
)

app = typer.Typer(
    name="imatinib-tdm",
    help="Therapeutic drug monitoring and model-informed dosing of imatinib. "
    "Research and decision support, not a medical device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="The library of published population PK models.")
app.add_typer(models_app, name="models")

MG_PER_L_TO_NG_PER_ML = 1000.0  # unit definition: 1 mg/L = 1000 ng/mL


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _model_summary(model: PopPKModel) -> dict[str, Any]:
    population = model.population
    return {
        "id": model.id,
        "name": model.name,
        "structure": {
            "compartments": model.structure.n_compartments,
            "absorption": model.structure.absorption.value,
            "lag_time": model.structure.has_lag,
        },
        "population": population.description,
        "n_patients": population.n_patients,
        "indication": list(population.indication),
        "age_group": population.age_group,
        "covariates": [c.name for c in model.covariates],
        "citation": model.citation,
        "doi": model.doi,
        "verification_grade": model.verification.grade,
    }


def _load_model(model_id: str | None, model_file: Path | None) -> PopPKModel:
    if model_file is not None:
        return load_model_file(model_file)
    if model_id is None:
        raise CaseError("choose a model with --model ID (see 'imatinib-tdm models')", field="model")
    return get_model(model_id)


@models_app.callback(invoke_without_command=True)
def models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the models with population and citation."""
    if ctx.invoked_subcommand is not None:
        return
    summaries = [_model_summary(m) for m in list_models()]
    if as_json:
        _echo_json(summaries)
        return
    for s in summaries:
        structure = s["structure"]
        typer.echo(
            f"{s['id']:<22} {structure['compartments']}-cmt {structure['absorption']:<11} "
            f"grade {s['verification_grade']:<3} {s['name']}"
        )
        population = s["population"]
        if len(population) > 100:
            population = population[:99] + "…"
        typer.echo(f"{'':<22} {population}" + (f"  doi:{s['doi']}" if s["doi"] else ""))


@models_app.command("show")
def models_show(
    model_id: Annotated[str, typer.Argument(metavar="ID", help="Model id, e.g. schmidli2005.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Everything about one model: parameters, variability, covariates, sources, caveats."""
    model = get_model(model_id)
    detail: dict[str, Any] = _model_summary(model)
    detail.update(
        {
            "thetas": [
                {"name": t.name, "value": t.value, "unit": t.unit, "source": t.source}
                for t in model.thetas
            ],
            "parameters": {name: expr.source for name, expr in model.parameters},
            "etas": {"names": list(model.etas.names), "omega": model.etas.omega.tolist()},
            "iov": None
            if model.iov is None
            else {"names": list(model.iov.names), "omega": model.iov.omega.tolist()},
            "residual_error": {
                "model": model.residual_error.kind.value,
                "proportional_sd": model.residual_error.proportional_sd,
                "additive_sd_mg_per_l": model.residual_error.additive_sd_mg_per_l,
                "log_sd": model.residual_error.log_sd,
            },
            "covariate_definitions": [
                {
                    "name": c.name,
                    "unit": c.unit,
                    "reference": c.reference,
                    "domain": None
                    if c.domain is None
                    else {
                        "min": c.domain.min_value,
                        "max": c.domain.max_value,
                        "kind": c.domain.kind.value,
                        "source": c.domain.source,
                    },
                }
                for c in model.covariates
            ],
            "verification": {
                "grade": model.verification.grade,
                "note": model.verification.note,
                "discrepancies": list(model.verification.discrepancies),
            },
        }
    )
    if as_json:
        _echo_json(detail)
        return
    typer.echo(f"{model.id}: {model.name}")
    typer.echo(f"  citation: {model.citation}" + (f" doi:{model.doi}" if model.doi else ""))
    typer.echo(f"  population: {model.population.description}")
    typer.echo(
        f"  structure: {model.structure.n_compartments} compartment(s), "
        f"{model.structure.absorption.value} absorption"
        + (", lag time" if model.structure.has_lag else "")
    )
    typer.echo("  parameters:")
    for name, source in detail["parameters"].items():
        typer.echo(f"    {name} = {source}")
    typer.echo("  typical values:")
    for t in detail["thetas"]:
        typer.echo(f"    {t['name']} = {t['value']:g} {t['unit']}   [{t['source']}]")
    typer.echo(f"  IIV omega ({', '.join(model.etas.names)}): {model.etas.omega.tolist()}")
    if model.iov is not None:
        typer.echo(f"  IOV omega ({', '.join(model.iov.names)}): {model.iov.omega.tolist()}")
    typer.echo(f"  residual error: {detail['residual_error']}")
    typer.echo(f"  verification grade {model.verification.grade}: {model.verification.note}")
    for item in model.verification.discrepancies:
        typer.echo(f"    ! {item}")


def _parse_times(text: str) -> np.ndarray:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise CaseError(
            f"--times must be comma-separated hours, e.g. 0.5,1,24; got {text!r}", field="times"
        ) from exc
    times = np.array(values, dtype=np.float64)
    if times.size == 0 or not np.all(np.isfinite(times)) or np.any(times < 0):
        raise CaseError(
            f"--times must be hours >= 0 since the first dose; got {text!r}", field="times"
        )
    return times


def _parse_covariates(items: list[str]) -> dict[str, float]:
    covariates: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            covariates[name.strip()] = float(value)
        except ValueError as exc:
            raise CaseError(
                f"--covariate must be NAME=NUMBER (e.g. weight_kg=70); got {item!r}",
                field="covariate",
            ) from exc
    return covariates


@app.command()
def simulate(
    model_id: Annotated[str | None, typer.Option("--model", help="Library model id.")] = None,
    model_file: Annotated[
        Path | None, typer.Option("--model-file", help="A custom model file (YAML/TOML/JSON).")
    ] = None,
    dose_mg: Annotated[float, typer.Option(help="Amount of each dose, mg.")] = 400.0,
    interval_h: Annotated[float, typer.Option(help="Dosing interval, h.")] = 24.0,
    n_doses: Annotated[int, typer.Option(help="Number of doses (first at t = 0 h).")] = 15,
    times: Annotated[
        str, typer.Option(help="Comma-separated times, h since the first dose.")
    ] = "0.5,1,2,4,8,12,24",
    covariate: Annotated[
        list[str] | None,
        typer.Option("--covariate", help="NAME=VALUE in the model's units; repeatable."),
    ] = None,
    individuals: Annotated[
        int | None, typer.Option(help="Monte Carlo virtual patients (population percentiles).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed for --individuals.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG plot of the profile.")] = None,
) -> None:
    """Concentrations (ng/mL) under a regular regimen: typical individual or population."""
    model = _load_model(model_id, model_file)
    try:
        Dose(time=0.0, amount_mg=dose_mg, interval_h=interval_h, count=n_doses)
    except ValidationError as exc:
        raise CaseError(
            format_validation_error(exc, source="--dose-mg/--interval-h/--n-doses"), field="dose"
        ) from exc
    time_points = _parse_times(times)
    if individuals is not None and not 1 <= individuals <= 1_000_000:
        raise CaseError(
            f"--individuals must be 1 to 1,000,000; got {individuals}", field="individuals"
        )
    doses = DoseHistory.regular(amount_mg=dose_mg, interval_h=interval_h, n_doses=n_doses)
    resolved = resolve_covariates(model, _parse_covariates(covariate or []))
    result: dict[str, Any] = {
        "model_id": model.id,
        "model_citation": model.citation,
        "regimen": {"dose_mg": dose_mg, "interval_h": interval_h, "n_doses": n_doses},
        "covariates": {k: float(v[0]) for k, v in resolved.values.items()},
        "covariate_warnings": [w.message for w in resolved.warnings],
        "times_h": time_points.tolist(),
        "unit": "ng/mL",
        "notice": NOTICE,
    }
    typical = simulate_typical(model, resolved, doses, time_points)[0] * MG_PER_L_TO_NG_PER_ML
    percentiles: dict[str, list[float]] | None = None
    if individuals is None:
        result["concentration_ng_per_ml"] = typical.tolist()
    else:
        sim = simulate_population(
            model, resolved, doses, time_points, n_individuals=individuals, seed=seed
        )
        percentiles = {
            f"{p:g}": (values * MG_PER_L_TO_NG_PER_ML).tolist()
            for p, values in sim.percentiles_mg_per_l.items()
        }
        result.update(
            percentiles=percentiles,
            individuals=individuals,
            seed=seed,
            includes_residual_error=sim.residual_error,
        )
    if plot is not None:
        _plot_profile(model, resolved, doses, time_points, individuals, seed, plot)
        result["plot"] = str(plot)
    if as_json:
        _echo_json(result)
        return
    typer.echo(f"model {model.id}: {model.name}")
    typer.echo(f"regimen {dose_mg:g} mg every {interval_h:g} h x {n_doses}")
    for warning in result["covariate_warnings"]:
        typer.echo(f"  ! {warning}")
    if percentiles is None:
        typer.echo(f"{'time_h':>10} {'typical_ng_per_ml':>18}")
        for t, c in zip(time_points, typical, strict=True):
            typer.echo(f"{t:>10g} {c:>18.1f}")
    else:
        keys = list(percentiles)
        typer.echo(f"{'time_h':>10} " + " ".join(f"{'P' + k:>9}" for k in keys) + "  (ng/mL)")
        for i, t in enumerate(time_points):
            typer.echo(f"{t:>10g} " + " ".join(f"{percentiles[k][i]:>9.1f}" for k in keys))
        typer.echo(f"{individuals} virtual patients, seed {seed}, with residual error")
    if plot is not None:
        typer.echo(f"plot written to {plot}")
    typer.echo(NOTICE)


def _plot_profile(
    model: PopPKModel,
    resolved: Any,
    doses: DoseHistory,
    time_points: np.ndarray,
    individuals: int | None,
    seed: int,
    path: Path,
) -> None:
    os.environ.setdefault("MPLCONFIGDIR", str(Path.home() / ".cache" / "imatinib-tdm-mpl"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0.0, float(time_points.max()), 400)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    typical = simulate_typical(model, resolved, doses, grid)[0] * MG_PER_L_TO_NG_PER_ML
    if individuals is not None:
        # The band shows individual profiles (IIV), without residual error, so it is smooth;
        # the printed table gives prediction intervals of observations (with residual error).
        sim = simulate_population(
            model,
            resolved,
            doses,
            grid,
            n_individuals=min(individuals, 5000),
            seed=seed,
            residual_error=False,
        )
        pct = {p: v * MG_PER_L_TO_NG_PER_ML for p, v in sim.percentiles_mg_per_l.items()}
        lo, hi = min(pct), max(pct)
        ax.fill_between(
            grid, pct[lo], pct[hi], alpha=0.25, label=f"P{lo:g}-P{hi:g} of individuals (IIV)"
        )
    ax.plot(grid, typical, color="black", label="typical individual")
    ax.set_xlabel("time since first dose (h)")
    ax.set_ylabel("imatinib (ng/mL)")
    ax.set_title(f"{model.id}: simulated profile")
    ax.legend()
    ax.text(0.01, -0.18, NOTICE, transform=ax.transAxes, fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@app.command()
def predict(
    case_file: Annotated[
        Path | None, typer.Argument(metavar="CASE", help="Case file (YAML or JSON).")
    ] = None,
    demo: Annotated[
        str | None, typer.Option(help="Use a bundled demo case instead, e.g. demo-001.")
    ] = None,
    model_id: Annotated[str | None, typer.Option("--model", help="Library model id.")] = None,
    model_file: Annotated[Path | None, typer.Option("--model-file")] = None,
    individuals: Annotated[int, typer.Option(help="Monte Carlo virtual patients.")] = 2000,
    seed: Annotated[int, typer.Option()] = 20261126,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A priori prediction for a case: where its levels fall among patients like it."""
    case = _load_case_arg(case_file, demo)
    model = _load_model(model_id, model_file)
    prediction = predict_a_priori(case, model, n_individuals=individuals, seed=seed)
    if as_json:
        data = prediction.to_dict()
        data["case_warnings"] = [w.message for w in case.plausibility_warnings()]
        _echo_json(data)
        return
    _print_prediction(prediction, [w.message for w in case.plausibility_warnings()])


def _print_prediction(prediction: APrioriPrediction, case_warnings: list[str]) -> None:
    typer.echo(f"patient {prediction.patient_id} - a priori prediction")
    typer.echo(f"model {prediction.model_id}: {prediction.model_name}")
    typer.echo(
        f"  {prediction.model_citation}"
        + (f" doi:{prediction.model_doi}" if prediction.model_doi else "")
    )
    for warning in [*case_warnings, *prediction.covariate_warnings]:
        typer.echo(f"  ! {warning}")
    for s in prediction.samples:
        label = s.sample_id or "sample"
        if s.below_lloq:
            observed = f"< LLOQ {s.lloq_ng_per_ml:g} ng/mL (censored)"
            where = f"P(level < LLOQ) = {s.probability_below_lloq:.3f}"
        else:
            observed = f"{s.observed_ng_per_ml:g} ng/mL"
            where = f"observed at population percentile {s.observed_percentile:.0f}"
        typer.echo(f"{label} at {s.time_h:.1f} h after the first dose: {observed}")
        typer.echo(
            f"  predicted: typical {s.typical_ng_per_ml:.0f} ng/mL, median "
            f"{s.median_ng_per_ml:.0f}, 90% PI {s.interval_5_ng_per_ml:.0f}-"
            f"{s.interval_95_ng_per_ml:.0f} ng/mL; {where}"
        )
    t = prediction.steady_state_trough
    if t is not None:
        typer.echo(
            f"steady-state trough at {t.dose_mg:g} mg every {t.interval_h:g} h: typical "
            f"{t.typical_ng_per_ml:.0f} ng/mL, median {t.median_ng_per_ml:.0f}, 90% PI "
            f"{t.interval_5_ng_per_ml:.0f}-{t.interval_95_ng_per_ml:.0f} ng/mL"
        )
    typer.echo("assumptions:")
    for a in prediction.assumptions:
        typer.echo(f"  - {a}")
    typer.echo(
        f"{prediction.n_individuals} virtual patients, seed {prediction.seed}; "
        f"imatinib-tdm {prediction.software_version}"
    )
    typer.echo(prediction.notice)


def _load_case_arg(case_file: Path | None, demo: str | None) -> Any:
    if (case_file is None) == (demo is None):
        raise CaseError("give either a CASE file or --demo NAME", field="case")
    return load_demo_case(demo) if demo is not None else load_case(case_file)  # type: ignore[arg-type]


@app.command()
def estimate(
    case_file: Annotated[
        Path | None, typer.Argument(metavar="[CASE]", help="Case file (YAML or JSON).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="A NONMEM-format dataset (CSV): every ID.")
    ] = None,
    demo: Annotated[str | None, typer.Option(help="A bundled demo case, e.g. demo-001.")] = None,
    model_id: Annotated[str | None, typer.Option("--model", help="Library model id.")] = None,
    model_file: Annotated[Path | None, typer.Option("--model-file")] = None,
    dv_unit: Annotated[str, typer.Option(help="Unit of DV in --data.")] = "mg/L",
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="Dataset column holding a model covariate: COLUMN=name (e.g. WT=weight_kg); "
            "columns already named like the covariate need none. Repeatable.",
        ),
    ] = None,
    time_varying: Annotated[
        str, typer.Option(help="Covariate convention for --data: locf or nonmem_next.")
    ] = "locf",
    draws: Annotated[int, typer.Option(help="Posterior draws kept.")] = 1000,
    seed: Annotated[int, typer.Option()] = 20261126,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Bayesian (MAP) estimate: individual parameters, predictions, trough with interval."""
    model = _load_model(model_id, model_file)
    if data is not None:
        if case_file is not None or demo is not None:
            raise CaseError("give a CASE or --data, not both", field="data")
        if time_varying not in ("locf", "nonmem_next"):
            raise CaseError("--time-varying must be locf or nonmem_next", field="time_varying")
        renames = parse_column_options(column or [])
        mapped = set(renames.values())
        columns = list(renames) + [c for c in model.covariate_names if c not in mapped]
        dataset = load_nonmem_dataset(
            data,
            covariates=columns,
            time_varying=time_varying,  # type: ignore[arg-type]
            dv_unit=dv_unit,
        )
        table = dataclasses.replace(
            dataset.table,
            covariates={renames.get(k, k): v for k, v in dataset.table.covariates.items()},
        )
        results = estimate_table(table, model, n_draws=draws, seed=seed)
        if as_json:
            _echo_json(
                {
                    "model_id": model.id,
                    "dataset": str(data),
                    "dataset_warnings": [w.message for w in dataset.warnings],
                    "results": results,
                    "notice": BAYESIAN_NOTICE,
                }
            )
            return
        for w in dataset.warnings:
            typer.echo(f"  ! {w.message}")
        typer.echo(f"{'ID':<10} {'OFV':>9} {'CL/F L/h':>9}  trough ng/mL (90% CrI)   status")
        for r in results:
            t = r["trough_ng_per_ml"]
            trough = "-" if t is None else f"{t['value']:.0f} ({t['lower']:.0f}-{t['upper']:.0f})"
            cl = r["individual_parameters"].get("cl_l_per_h", float("nan"))
            typer.echo(f"{r['id']:<10} {r['ofv']:>9.3f} {cl:>9.2f}  {trough:<24} {r['message']}")
        typer.echo(BAYESIAN_NOTICE)
        return
    case = _load_case_arg(case_file, demo)
    result = estimate_individual(case, model, n_draws=draws, seed=seed)
    if as_json:
        _echo_json(result.to_dict())
        return
    _print_estimate(result)


def _print_estimate(e: IndividualEstimate, *, notice: bool = True) -> None:
    typer.echo(f"patient {e.patient_id} - Bayesian estimate with {e.model_id}: {e.model_name}")
    for w in e.warnings:
        typer.echo(f"  ! {w}")
    etas = ", ".join(f"{k} {v:+.3f}" for k, v in e.etas.items())
    typer.echo(f"MAP: {etas}; OFV {e.ofv:.3f}; {e.message} ({e.n_iterations} iterations)")
    for name, v in e.individual_parameters.items():
        typer.echo(f"  {name:<22} {v['value']:10.4g}  (90% CrI {v['lower']:.4g}-{v['upper']:.4g})")
    for p in e.predictions:
        obs = (
            f"< LLOQ {p['lloq_ng_per_ml']:g}"
            if p["below_lloq"]
            else f"{p['observed_ng_per_ml']:g} ng/mL"
        )
        typer.echo(
            f"{p['sample_id'] or 'sample'} at {p['time_h']:.1f} h: observed {obs}; individual "
            f"prediction {p['individual_prediction_ng_per_ml']:.0f} ng/mL "
            f"(90% CrI {p['lower']:.0f}-{p['upper']:.0f})"
        )
    t = e.trough_ng_per_ml
    if t is not None:
        typer.echo(
            f"individual steady-state trough at {t['dose_mg']:g} mg every {t['interval_h']:g} h: "
            f"{t['value']:.0f} ng/mL (90% CrI {t['lower']:.0f}-{t['upper']:.0f})"
        )
    ll = e.log_linear_trough
    if ll is not None:
        typer.echo(
            f"log-linear correction of {ll['sample_id'] or 'the latest sample'} "
            f"(ke {ll['ke_per_h']:g} 1/h, {ll['method_citation'][:60]}...): "
            f"{ll['trough_ng_per_ml']:.0f} ng/mL (ke range {ll['range_low_ng_per_ml']:.0f}-"
            f"{ll['range_high_ng_per_ml']:.0f})"
        )
        for caveat in ll["caveats"]:
            typer.echo(f"  ! {caveat['message']}")
    typer.echo("assumptions:")
    for a in e.assumptions:
        typer.echo(f"  - {a}")
    if notice:
        typer.echo(e.notice)


@app.command()
def recommend(
    case_file: Annotated[
        Path | None, typer.Argument(metavar="[CASE]", help="Case file (YAML or JSON).")
    ] = None,
    demo: Annotated[str | None, typer.Option(help="A bundled demo case, e.g. demo-001.")] = None,
    model_id: Annotated[str | None, typer.Option("--model", help="Library model id.")] = None,
    model_file: Annotated[Path | None, typer.Option("--model-file")] = None,
    target: Annotated[str | None, typer.Option(help="Target id (data/targets.yaml).")] = None,
    alert: Annotated[str | None, typer.Option(help="High-level alert id.")] = None,
    probability: Annotated[
        float, typer.Option(help="Required probability of reaching the target.")
    ] = 0.8,
    seed: Annotated[int, typer.Option()] = 20261126,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report.")
    ] = None,
) -> None:
    """Regimen table and dose advice from the patient's posterior."""
    if not 0.0 < probability < 1.0:
        raise CaseError("--probability must be between 0 and 1", field="probability")
    model = _load_model(model_id, model_file)
    case = _load_case_arg(case_file, demo)
    rec = recommend_dose(
        case, model, target_id=target, alert_id=alert, probability=probability, seed=seed
    )
    if html is not None:
        write_recommendation_report(case, model, rec, html)
    if as_json:
        _echo_json(rec.to_dict())
        return
    _print_recommendation(rec)
    if html is not None:
        typer.echo(f"HTML report written to {html}")


def _print_recommendation(rec: DoseRecommendation) -> None:
    _print_estimate(rec.estimate, notice=False)
    table = rec.advice.table
    typer.echo(
        f"target {table.target_ng_per_ml:g} ng/mL ({table.target_id})"
        + (f", alert {table.alert_ng_per_ml:g} ng/mL ({table.alert_id})" if table.alert_id else "")
    )
    typer.echo(
        f"{'regimen':<34} {'trough median (90% CrI)':<26} {'P(>=target)':>11} {'P(>alert)':>10}"
    )
    for row in table.rows:
        alert = "-" if row.probability_above_alert is None else f"{row.probability_above_alert:.0%}"
        typer.echo(
            f"{row.regimen.label:<34} {row.trough_median_ng_per_ml:>6.0f} "
            f"({row.trough_p5_ng_per_ml:.0f}-{row.trough_p95_ng_per_ml:.0f}){'':<10} "
            f"{row.probability_target_attained:>10.0%} {alert:>10}"
        )
    typer.echo(f"advice: {rec.advice.reason}")
    if rec.resampling is not None:
        r = rec.resampling
        typer.echo(
            f"re-sample after {r.resample_after_days:.0f} days ({r.lab_rule_applied}); predicted "
            f"trough then {r.predicted_trough_at_resampling_median_ng_per_ml:.0f} ng/mL (median)"
        )
    typer.echo(rec.estimate.notice)


@app.command("interpret")
def interpret_command(
    case_file: Annotated[
        Path | None, typer.Argument(metavar="[CASE]", help="Case file (YAML or JSON).")
    ] = None,
    demo: Annotated[str | None, typer.Option(help="A bundled demo case, e.g. demo-001.")] = None,
    model_id: Annotated[
        str | None,
        typer.Option("--model", help="Library model id (default: chosen for the case, stated)."),
    ] = None,
    model_file: Annotated[Path | None, typer.Option("--model-file")] = None,
    model_prior: Annotated[
        Path | None,
        typer.Option(
            "--model-prior",
            help="With --model auto: the JSON of 'imatinib-tdm evaluate ... --json' whose "
            "centre_model_prior (the centre's model proportions) weights the choice.",
        ),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target id (data/targets.yaml).")] = None,
    alert: Annotated[str | None, typer.Option(help="Alert id (data/targets.yaml).")] = None,
    seed: Annotated[int, typer.Option()] = 20261126,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the HTML report (plot, findings, advice) here."),
    ] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Also write a PDF report here.")] = None,
    triage_model: Annotated[
        Path | None,
        typer.Option(
            "--triage-model",
            help="A triage classifier (imatinib-tdm ml train): its TDM priority is reported "
            "when the case has no level yet.",
        ),
    ] = None,
) -> None:
    """TDM interpretation: trough status, ranked findings, individual trough and advice."""
    if pdf is not None and pdf.suffix.lower() != ".pdf":
        raise CaseError(f"the PDF report needs a .pdf file name, got {pdf.name!r}", field="--pdf")
    if html is not None and html.suffix.lower() == ".pdf":
        raise CaseError("--html got a .pdf file name: use --pdf for a PDF", field="--html")
    if model_prior is not None and (model_id != "auto" or model_file is not None):
        raise CaseError("--model-prior is used only with --model auto", field="--model-prior")
    case = _load_case_arg(case_file, demo)
    auto = None
    model: PopPKModel | None
    if model_id == "auto" and model_file is None:
        prior = None if model_prior is None else load_centre_model_prior(model_prior)
        auto = choose_model(
            case, prior, prior_source=None if model_prior is None else str(model_prior)
        )
        model = auto.model
    else:
        model = (
            None if model_id is None and model_file is None else _load_model(model_id, model_file)
        )
    triage = None
    if triage_model is not None and not case.samples:
        from imatinib_tdm.ml import load_triage_model, triage_case

        triage = triage_case(load_triage_model(triage_model), case)
    result = interpret(case, model, target_id=target, alert_id=alert, seed=seed, triage=triage)
    if auto is not None:
        result = dataclasses.replace(result, assumptions=[auto.reason, *result.assumptions])
    used = model if model is not None else get_model(result.model["id"])
    for path in (html, pdf):
        if path is not None:
            written = write_interpretation_report(case, result, used, path)
            typer.echo(f"report written to {written}", err=as_json)
    if as_json:
        _echo_json(result.to_dict())
        return
    _print_interpretation(result)


def _print_interpretation(r: Interpretation) -> None:
    target = "-" if r.target_ng_per_ml is None else f"{r.target_ng_per_ml:g} ng/mL"
    typer.echo(f"patient {r.patient_id}: status {r.status.upper()} (target {target})")
    if r.status_reason:
        typer.echo(f"  basis: {r.status_reason}")
    t = r.trough_ng_per_ml
    if t is not None:
        typer.echo(
            f"  trough: {t['value']:.0f} ng/mL (90% interval {t['lower']:.0f}-{t['upper']:.0f}; "
            f"{t['method']})"
        )
    typer.echo("findings (most important first):")
    for f in r.findings:
        typer.echo(f"  [{f['severity']}] {f['category']}: {f['message']}")
        if f.get("recommendation"):
            typer.echo(f"      -> {f['recommendation']}")
    if r.recommendation is not None:
        typer.echo(f"advice: {r.recommendation['reason']}")
    for w in r.warnings:
        typer.echo(f"  ! {w}")
    typer.echo(f"model {r.model['id']}: {r.model['citation'][:120]}")
    typer.echo(r.notice)


@app.command()
def validate(
    case_file: Annotated[Path, typer.Argument(metavar="CASE", help="Case file (YAML or JSON).")],
) -> None:
    """Check a case file; print its plausibility warnings."""
    case = load_case(case_file)
    typer.echo(
        f"{case_file}: valid case for patient {case.patient.id}, {len(case.doses)} dose "
        f"entr{'y' if len(case.doses) == 1 else 'ies'}, {len(case.samples)} sample(s)"
    )
    for warning in case.plausibility_warnings():
        typer.echo(f"  ! {warning.message}")


@app.command("export-nonmem")
def export_nonmem(
    case_files: Annotated[
        list[Path], typer.Argument(metavar="CASE...", help="Case files (YAML or JSON).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Dataset to write (comma-separated).")],
    dv_unit: Annotated[
        str, typer.Option("--dv-unit", help="Unit of DV and LLOQ in the file (e.g. ng/mL).")
    ] = "mg/L",
) -> None:
    """Write case files as one NONMEM dataset (for 'imatinib-tdm evaluate' or NONMEM).

    Subjects are numbered 1..n in the order given; the patients' own ids are not written (the
    ID-to-file mapping is printed here, not stored in the dataset).
    """
    cases = [load_case(path) for path in case_files]
    write_cases_nonmem_dataset(cases, out, dv_unit=dv_unit)
    typer.echo(f"{out}: {len(cases)} subject(s), DV and LLOQ in {dv_unit}")
    for number, (path, case) in enumerate(zip(case_files, cases, strict=True), start=1):
        typer.echo(f"  ID {number}: {path}")
        for warning in case.plausibility_warnings():  # e.g. a level in the wrong unit
            typer.echo(f"    ! {warning.message}")


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)


@app.command("verify-audit")
def verify_audit_command(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Database to check (default: DATABASE_URL or the SQLite file)."
        ),
    ] = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            metavar="ID:HASH",
            help="A head printed by an earlier run: that row must still exist with that hash "
            "(detects a truncated or rewritten log).",
        ),
    ] = None,
) -> None:
    """Check the audit log's hash chain; exit 0 if intact, 1 at the first broken row.

    Prints the head (last id and hash): record it outside the database (a ticket, a log
    server) and pass it later as --anchor, since removing the newest rows leaves a valid chain.
    The database is opened as it is, never migrated.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from imatinib_tdm.store import Database, current_revision, head_revision, verify_audit

    expected: tuple[int, str] | None = None
    if anchor is not None:
        number, _, digest = anchor.partition(":")
        if not (number.isdigit() and len(digest) == 64):
            raise CaseError("--anchor: expected ID:HASH (e.g. 1234:9f86d0...)", field="anchor")
        expected = (int(number), digest.lower())
    try:
        database = Database.connect(database_url, upgrade=False)
    except ValueError as error:  # not a SQLite or PostgreSQL URL
        raise CaseError(str(error), field="database_url") from None
    try:
        revision = current_revision(database.engine)
        if revision != head_revision():
            raise CaseError(
                f"the database is at schema revision {revision or 'none'}, not "
                f"{head_revision()}: migrate it first (the hash chain comes with revision 0002)",
                field="database_url",
            )
        with database.read() as session:
            result = verify_audit(session, anchor=expected)
    except SQLAlchemyError as error:  # unreachable server, not a database file ...
        raise CaseError(
            f"cannot read the database: {type(getattr(error, 'orig', None) or error).__name__}",
            field="database_url",
        ) from None
    finally:
        database.dispose()
    head = f"head: id {result.head_id} hash {result.head_hash}" if result.head_id else "empty log"
    if result.ok:
        typer.echo(f"audit chain intact: {result.rows_checked} rows checked; {head}")
        return
    where = f"row {result.first_bad_id}" if result.first_bad_id is not None else "the anchor"
    typer.echo(
        f"audit chain BROKEN at {where} ({result.rows_checked} rows checked): {result.reason}",
        err=True,
    )
    raise typer.Exit(1)


cli_service.register(app)  # serve, create-admin
app.add_typer(ml_app, name="ml")  # triage classifier: train, evaluate, predict, synthetic
app.command("evaluate")(evaluate_command)  # external evaluation of the model library


def main() -> None:
    """Console-script entry point: package errors become one line on stderr and exit code 2."""
    try:
        app()
    except TdmError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)
