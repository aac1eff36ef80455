"""Tests of model-file loading (pk._custom) and custom-model handling in the library."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from imatinib_tdm.errors import ModelDefinitionError
from imatinib_tdm.pk._custom import load_model_file, parse_model_text
from imatinib_tdm.pk._individual import typical_parameters
from imatinib_tdm.pk.library import get_model, load_models, model_file_path

WIDMER_TOML = '''
id = "widmer2006_base"
name = "Widmer 2006 base model (CML + GIST, Lausanne; no covariates)"
citation = """Widmer N, Decosterd LA, Csajka C, Leyvraz S, Duchosal MA, Rosselet A, Rochat B, \
Eap CB, Henry H, Biollaz J, Buclin T. Population pharmacokinetics of imatinib and the role of \
alpha1-acid glycoprotein. Br J Clin Pharmacol 2006;62(1):97-112."""
doi = "10.1111/j.1365-2125.2006.02719.x"
pmid = "16842382"
covariates = []

[population]
description = """CML and GIST adult patients, single centre (Lausanne, Switzerland), \
routine and study samples"""
n_patients = 59
n_samples = 321
indication = ["CML", "GIST"]
age_group = "adults"
age_range_years = "20-88 (Tucuxi domain); Yang 2025 Table 1 gives 20-79"
weight_range_kg = "44-110 (Tucuxi domain)"
ethnicity = "not stated (Swiss single centre)"

[structure]
compartments = 1
absorption = "first_order"
lag_time = false

[[applicability]]
name = "age_years"
unit = "years"
domain = {min = 20, max = 79, kind = "soft"}
source = """Yang 2025 Table 1 (Target Oncol 2025;20(5):871-886, \
doi:10.1007/s11523-025-01172-2), as transcribed in nlmixr2lib Widmer_2006_imatinib.R \
(secondhand)"""
notes = """The Tucuxi drug file gives 20-88 y (see verification.discrepancies); Yang's range \
is used because this is the model Yang evaluated."""

[[applicability]]
name = "weight_kg"
unit = "kg"
domain = {min = 44, max = 110, kind = "soft"}
source = """Tucuxi drug file ch.tucuxi.imatinib.gotta2012.tdd (sotalya/tucuxi-drugs), \
covariate domain of the Widmer 2006 population"""

[[applicability]]
name = "agp_g_per_l"
unit = "g/L"
domain = {min = 0.4, max = 2.0, kind = "soft"}
source = """Tucuxi drug file ch.tucuxi.imatinib.gotta2012.tdd (sotalya/tucuxi-drugs), \
covariate domain of the Widmer 2006 population"""

[[applicability]]
name = "daily_dose_mg"
unit = "mg/day"
domain = {min = 150, max = 800, kind = "soft"}
source = """Yang 2025 Table 1 (Target Oncol 2025;20(5):871-886, \
doi:10.1007/s11523-025-01172-2), as transcribed in nlmixr2lib Widmer_2006_imatinib.R \
(secondhand)"""

[[thetas]]
name = "TVCL"
value = 14.3
unit = "L/h"
description = "apparent clearance CL/F"
source = "Widmer 2006 abstract (14.3 +/- 1.0 L/h, PMC1885072); Yang 2025 Table 1 via nlmixr2lib"

[[thetas]]
name = "TVV"
value = 347
unit = "L"
description = "apparent volume V/F"
source = "Widmer 2006 abstract (347 +/- 62 L, PMC1885072); Yang 2025 Table 1 via nlmixr2lib"

[[thetas]]
name = "TVKA"
value = 0.61
unit = "1/h"
description = "first-order absorption rate constant"
source = "Yang 2025 Table 1 via nlmixr2lib (secondhand); Tucuxi gotta2012 file gives 0.609"

[etas]
names = ["ETA_CL", "ETA_V"]
omega = [[0.1296, 0.0], [0.0, 0.3969]]
source = "IIV CV 36% (CL) and 63% (V): Widmer 2006 abstract; Yang 2025 Table 1 via nlmixr2lib"
notes = "NOTES"

[parameters]
cl_l_per_h = "TVCL * exp(ETA_CL)"
v_l = "TVV * exp(ETA_V)"
ka_per_h = "TVKA"
bioavailability_frac = "1"

[residual_error]
model = "proportional"
proportional_sd = 0.31
source = "Yang 2025 Table 1 via nlmixr2lib (31%); Tucuxi gotta2012 file gives 0.3138"

[concentration]
analyte = "imatinib"
basis = "free base, total plasma"
unit = "mg/L"

[verification]
grade = "A"
note = "NOTE"
discrepancies = ["D1", "D2"]
'''


def _widmer_yaml_data() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(model_file_path("widmer2006_base").read_text(encoding="utf-8"))


def test_yaml_toml_and_json_give_identical_models(tmp_path: Path) -> None:
    data = _widmer_yaml_data()
    toml_text = (
        WIDMER_TOML.replace('"NOTES"', json.dumps(data["etas"]["notes"]))
        .replace('"NOTE"', json.dumps(data["verification"]["note"]))
        .replace('["D1", "D2"]', json.dumps(data["verification"]["discrepancies"]))
    )
    (tmp_path / "widmer.toml").write_text(toml_text, encoding="utf-8")
    (tmp_path / "widmer.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "widmer.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    builtin = get_model("widmer2006_base")
    from_toml = load_model_file(tmp_path / "widmer.toml")
    from_json = load_model_file(tmp_path / "widmer.json")
    from_yml = load_model_file(tmp_path / "widmer.yml")
    assert from_toml == builtin
    assert from_json == builtin
    assert from_yml == builtin
    assert from_toml.source_path == str(tmp_path / "widmer.toml")
    assert not from_toml.builtin and builtin.builtin


def test_loaded_custom_model_is_usable(tmp_path: Path) -> None:
    data = _widmer_yaml_data()
    data["id"] = "widmer2006_base_lausanne"
    data["thetas"][0]["value"] = 10.0
    path = tmp_path / "centre.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    (custom,) = load_models([path])
    np.testing.assert_allclose(typical_parameters(custom, {}).cl_l_per_h, [10.0])
    pool = load_models([path], include_builtin=True)
    assert get_model("widmer2006_base_lausanne", models=pool) == custom
    assert get_model("widmer2006_base", models=pool).builtin


def test_custom_id_clashing_with_builtin_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump(_widmer_yaml_data()), encoding="utf-8")
    assert load_models([path])[0].id == "widmer2006_base"
    with pytest.raises(ModelDefinitionError, match="already used"):
        load_models([path], include_builtin=True)
    with pytest.raises(ModelDefinitionError, match="already used"):
        load_models([path, path])


def test_errors_name_the_file(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("id: x\nthetas: [1, 2\n", encoding="utf-8")
    with pytest.raises(ModelDefinitionError, match=r"broken\.yaml: invalid YAML \(line"):
        load_model_file(bad_yaml)

    bad_toml = tmp_path / "broken.toml"
    bad_toml.write_text("id = \n", encoding="utf-8")
    with pytest.raises(ModelDefinitionError, match=r"broken\.toml: invalid TOML"):
        load_model_file(bad_toml)

    bad_json = tmp_path / "broken.json"
    bad_json.write_text("{", encoding="utf-8")
    with pytest.raises(ModelDefinitionError, match=r"broken\.json: invalid JSON"):
        load_model_file(bad_json)

    with pytest.raises(ModelDefinitionError, match=r"model\.txt: unsupported model file type"):
        load_model_file(tmp_path / "model.txt")

    with pytest.raises(ModelDefinitionError, match=r"absent\.yaml: cannot read"):
        load_model_file(tmp_path / "absent.yaml")

    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ModelDefinitionError, match=r"list\.yaml: a model file must contain one"):
        load_model_file(listing)

    data = _widmer_yaml_data()
    data["etas"]["omega"] = [[0.1296, 0.5], [0.5, 0.3969]]
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ModelDefinitionError) as info:
        load_model_file(invalid)
    assert str(info.value).startswith("invalid.yaml: model 'widmer2006_base', etas")
    assert "not positive definite" in str(info.value)
    assert info.value.fields["file"] == str(invalid)


def test_yaml_tags_cannot_run_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("!!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(ModelDefinitionError, match="invalid YAML"):
        load_model_file(path)


def test_parse_model_text_unknown_suffix() -> None:
    with pytest.raises(ModelDefinitionError, match="unsupported"):
        parse_model_text("id: x", suffix=".ini")
