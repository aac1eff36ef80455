"""Bad tables get clear errors naming the column and lines; unit synonyms are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from imatinib_tdm.errors import TrainingDataError
from imatinib_tdm.ml import load_feature_table, load_training_data

HEADER = (
    "sex_male,daily_dose_mg,metastatic_site,rbc_10e12_per_l,plt_10e9_per_l,neu_pct,trough_ng_per_ml"
)
GOOD = [
    "1,400,liver,4.2,250,62,900",
    "0,400,none,4.5,180,55,1300",
    "1,600,peritoneum,3.9,300,70,1500",
    "0,800,both,4.1,220,60,800",
]


def _write(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_good_table_loads_with_label(tmp_path: Path) -> None:
    data = load_training_data(_write(tmp_path, GOOD))
    assert data.y.tolist() == [1, 0, 0, 1]
    assert data.x.shape == (4, 9)
    assert not data.synthetic


def test_missing_column_is_named(tmp_path: Path) -> None:
    header = HEADER.replace("plt_10e9_per_l", "platelets")
    with pytest.raises(TrainingDataError, match="missing column 'plt_10e9_per_l'") as info:
        load_training_data(_write(tmp_path, GOOD, header))
    assert info.value.column == "plt_10e9_per_l"


def test_mapping_renames_columns_and_plt_per_nl_is_the_same_number(tmp_path: Path) -> None:
    # PLT in 10^3/µL and RBC in 10^6/µL are numerically identical to 10^9/L and 10^12/L
    header = HEADER.replace("plt_10e9_per_l", "PLT (10^3/uL)").replace(
        "rbc_10e12_per_l", "RBC (10^6/uL)"
    )
    mapping = {"plt_10e9_per_l": "PLT (10^3/uL)", "rbc_10e12_per_l": "RBC (10^6/uL)"}
    data = load_training_data(_write(tmp_path, GOOD, header), mapping=mapping)
    assert data.values["plt_10e9_per_l"][0] == 250.0


def test_neutrophils_as_fraction_are_flagged(tmp_path: Path) -> None:
    lines = [
        ",".join(p if i != 5 else str(float(p) / 100) for i, p in enumerate(row.split(",")))
        for row in GOOD
    ]
    with pytest.raises(TrainingDataError, match="fraction") as info:
        load_training_data(_write(tmp_path, lines))
    assert info.value.column == "neu_pct"


def test_platelets_per_microlitre_are_a_unit_error_with_lines(tmp_path: Path) -> None:
    lines = [*GOOD[:2], GOOD[2].replace(",300,", ",300000,"), GOOD[3]]
    with pytest.raises(TrainingDataError, match="divided by 1000") as info:
        load_training_data(_write(tmp_path, lines))
    assert info.value.column == "plt_10e9_per_l"
    assert info.value.rows == (4,)  # file line 4: header is line 1


def test_non_numeric_value_is_named(tmp_path: Path) -> None:
    lines = [GOOD[0].replace("4.2", "n/a"), *GOOD[1:]]
    with pytest.raises(TrainingDataError, match="not a number") as info:
        load_training_data(_write(tmp_path, lines))
    assert info.value.column == "rbc_10e12_per_l"
    assert info.value.rows == (2,)


def test_one_class_only_is_refused(tmp_path: Path) -> None:
    lines = [line.rsplit(",", 1)[0] + ",2000" for line in GOOD]
    with pytest.raises(TrainingDataError, match="one class only"):
        load_training_data(_write(tmp_path, lines))


def test_troughs_in_mg_per_l_are_flagged(tmp_path: Path) -> None:
    lines = [
        line.rsplit(",", 1)[0] + f",{v}" for line, v in zip(GOOD, [0.9, 1.3, 1.5, 0.8], strict=True)
    ]
    with pytest.raises(TrainingDataError, match="mg/L"):
        load_training_data(_write(tmp_path, lines))


def test_unknown_site_and_bad_sex(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="unknown category 'lung'"):
        load_training_data(_write(tmp_path, [GOOD[0].replace("liver", "lung"), *GOOD[1:]]))
    with pytest.raises(TrainingDataError, match="sex_male"):
        load_training_data(_write(tmp_path, [GOOD[0].replace("1,", "x,", 1), *GOOD[1:]]))


def test_feature_table_needs_no_trough(tmp_path: Path) -> None:
    header = HEADER.rsplit(",", 1)[0]
    table = load_feature_table(_write(tmp_path, [row.rsplit(",", 1)[0] for row in GOOD], header))
    assert table.n_patients == 4


def _xlsx(path: Path, rows: list[list[str]]) -> Path:
    """A minimal Office Open XML workbook: text as shared strings, numbers as values."""
    import zipfile
    from xml.sax.saxutils import escape

    shared: list[str] = []
    xml_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{chr(ord('A') + c)}{r}"
            try:
                float(value)
            except ValueError:
                shared.append(value)
                cells.append(f'<c r="{ref}" t="s"><v>{len(shared) - 1}</v></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    sheet = f"<worksheet {ns}><sheetData>{''.join(xml_rows)}</sheetData></worksheet>"
    strings = "".join(f"<si><t>{escape(s)}</t></si>" for s in shared)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", f"<sst {ns}>{strings}</sst>")
    return path


def test_excel_export_reads_like_the_csv(tmp_path: Path) -> None:
    rows = [HEADER.split(","), *(line.split(",") for line in GOOD)]
    from_xlsx = load_training_data(_xlsx(tmp_path / "data.xlsx", rows))
    from_csv = load_training_data(_write(tmp_path, GOOD))
    assert from_xlsx.x.tolist() == from_csv.x.tolist()
    assert from_xlsx.y.tolist() == from_csv.y.tolist()


def test_broken_excel_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"not a zip file")
    with pytest.raises(TrainingDataError, match=r"not a readable \.xlsx"):
        load_training_data(path)
