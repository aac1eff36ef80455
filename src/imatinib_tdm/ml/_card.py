"""The saved triage model: a model card plus the fitted parameters, in one JSON file.

Safe format, no pickle: a logistic model is stored as numbers (coefficients, intercept, scaler
mean and scale) and an XGBoost model as XGBoost's own JSON model text; loading never executes
anything from the file. The file records the package version, a format version, the SHA-256 of
the training data, and a SHA-256 over the card and parameters. Loading refuses a different format
or package version and any content whose digest does not match.

The digest detects a damaged or hand-edited file; it is not a signature: someone who recomputes
it can still forge a file. Keep model files where only trusted people can write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost
from numpy.typing import NDArray
from scipy.special import expit

from imatinib_tdm import __version__
from imatinib_tdm.errors import TriageModelFileError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "TriageModel", "load_triage_model", "save_triage_model"]

FORMAT_NAME = "imatinib-tdm-triage-model"
FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class TriageModel:
    """A fitted triage classifier that can be saved safely.

    Attributes
    ----------
    kind : str
        ``"logistic"`` or ``"xgboost"``.
    feature_names : tuple of str
        Design-matrix columns, in order.
    parameters : mapping
        Logistic: ``coef``, ``intercept``, ``mean``, ``scale`` (standardised scale).
        XGBoost: ``booster_json`` (XGBoost's JSON model text).
    card : mapping
        The model card (data summary, metrics, intended use, limits, hashes, versions).
    """

    kind: str
    feature_names: tuple[str, ...]
    parameters: Mapping[str, Any] = field(repr=False)
    card: Mapping[str, Any] = field(repr=False)

    def _booster(self) -> xgboost.Booster:
        cached: xgboost.Booster | None = getattr(self, "_cached_booster", None)
        if cached is None:
            cached = xgboost.Booster()
            cached.load_model(bytearray(self.parameters["booster_json"].encode("utf-8")))
            cached.set_param({"nthread": 1})
            object.__setattr__(self, "_cached_booster", cached)
        return cached

    def _check(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise ValueError(
                f"x must have shape (n_patients, {len(self.feature_names)}), got {x.shape}"
            )
        return x

    def predict_probability(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability of a trough below the threshold, shape (n_patients,)."""
        x = self._check(x)
        if self.kind == "logistic":
            return np.asarray(
                expit(self.parameters["intercept"] + self._linear_terms(x).sum(axis=1))
            )
        matrix = xgboost.DMatrix(x)
        return np.asarray(self._booster().predict(matrix), dtype=np.float64)

    def _linear_terms(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        coef = np.asarray(self.parameters["coef"])
        mean = np.asarray(self.parameters["mean"])
        scale = np.asarray(self.parameters["scale"])
        return np.asarray(coef * (x - mean) / scale)

    def contributions(
        self, x: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per-patient contributions on the log-odds scale: ``(base, terms)``.

        ``base`` has shape (n_patients,), ``terms`` (n_patients, n_features); base + terms summed
        is the log-odds of the prediction. Logistic: exact, coef x (x - training mean) on the
        standardised scale, base = intercept. XGBoost: TreeSHAP from ``pred_contribs=True``,
        base = the bias column.
        """
        x = self._check(x)
        if self.kind == "logistic":
            terms = self._linear_terms(x)
            return np.full(x.shape[0], float(self.parameters["intercept"])), terms
        values = np.asarray(
            self._booster().predict(xgboost.DMatrix(x), pred_contribs=True), dtype=np.float64
        )
        return values[:, -1], values[:, :-1]


def _digest(
    card: Mapping[str, Any], kind: str, names: tuple[str, ...], parameters: Mapping[str, Any]
) -> str:
    content = json.dumps(
        {"card": card, "kind": kind, "feature_names": list(names), "parameters": parameters},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def save_triage_model(model: TriageModel, path: str | Path) -> Path:
    """Write ``model`` as JSON (format in the module docstring); returns the path."""
    path = Path(path)
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "kind": model.kind,
        "feature_names": list(model.feature_names),
        "card": dict(model.card),
        "parameters": dict(model.parameters),
        "content_sha256": _digest(model.card, model.kind, model.feature_names, model.parameters),
    }
    path.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    return path


def load_triage_model(path: str | Path, *, training_data_sha256: str | None = None) -> TriageModel:
    """Load a model saved by :func:`save_triage_model`, refusing anything suspicious.

    Parameters
    ----------
    path : str or Path
    training_data_sha256 : str, optional
        When given, the model must have been trained on data with this SHA-256.

    Raises
    ------
    TriageModelFileError
        Unreadable file, another format, format or package version mismatch, a digest mismatch
        (damaged or edited file), or a training-data hash that differs from the one expected.
    """
    path = Path(path)
    where = str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TriageModelFileError(
            f"cannot read the model file {path}: {error}", path=where
        ) from error
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise TriageModelFileError(
            f"{path.name} is not an imatinib-tdm triage model file", path=where
        )
    if document.get("format_version") != FORMAT_VERSION:
        raise TriageModelFileError(
            f"{path.name} has format version {document.get('format_version')!r}; this program "
            f"reads version {FORMAT_VERSION}",
            path=where,
        )
    if document.get("package_version") != __version__:
        raise TriageModelFileError(
            f"{path.name} was saved by imatinib-tdm {document.get('package_version')!r}, this is "
            f"{__version__}: retrain with this version (or use the version that saved it)",
            path=where,
        )
    try:
        kind = str(document["kind"])
        names = tuple(str(n) for n in document["feature_names"])
        card = dict(document["card"])
        parameters = dict(document["parameters"])
        recorded = str(document["content_sha256"])
    except (KeyError, TypeError, ValueError) as error:
        raise TriageModelFileError(
            f"{path.name}: incomplete model file ({error})", path=where
        ) from error
    if _digest(card, kind, names, parameters) != recorded:
        raise TriageModelFileError(
            f"{path.name}: content does not match its recorded SHA-256; the file was damaged or "
            "edited and is refused",
            path=where,
        )
    if kind not in {"logistic", "xgboost"}:
        raise TriageModelFileError(f"{path.name}: unknown model kind {kind!r}", path=where)
    data_hash = card.get("training_data", {}).get("sha256")
    if not isinstance(data_hash, str) or len(data_hash) != 64:
        raise TriageModelFileError(
            f"{path.name}: the card lacks the training-data SHA-256", path=where
        )
    if training_data_sha256 is not None and training_data_sha256 != data_hash:
        raise TriageModelFileError(
            f"{path.name} was trained on data with SHA-256 {data_hash[:12]}…, not on the file "
            f"given ({training_data_sha256[:12]}…)",
            path=where,
        )
    return TriageModel(kind=kind, feature_names=names, parameters=parameters, card=card)
