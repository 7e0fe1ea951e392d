"""The tabular exports: one zip of datasets (CSV, Stata .dta, SPSS .sav or SAS transport .xpt) and dictionary.csv.

The datasets (`ecrf.exports.datasets`): one per instrument the scope exports, then `subjects`, `visits`,
`queries` and `deviations`. `dictionary.csv` has one row per column of every dataset: dataset, variable,
label, type, unit, allowed, codes, derived, instrument, visits, and the SAS transport names of the dataset
and the variable (`xpt_dataset`, `xpt_name`: SAS version 5 allows 8 characters).

How values are written, the same in every format (so that each binary file read back equals the CSV):
numbers as numbers (yes/no and tick items 1/0), dates as dates (CSV: YYYY-MM-DD), date-times in UTC to the
second (CSV: YYYY-MM-DD HH:MM:SS), codes and text as text; an empty cell is no value. Stata and SPSS files
carry variable labels and value labels (Stata: numeric codes only; SPSS text codes too); SAS transport has
labels of at most 40 characters and no value labels (the dictionary has the code lists).

Memory: rows are read in chunks (`ecrf.exports.datasets.CHUNK`) and CSV is written row by row into the zip.
pyreadstat writes a Stata, SPSS or SAS file from a data frame, so those formats hold ONE dataset at a time in
memory, column by column in compact arrays (numbers as doubles, text as codes of a category list); the next
dataset starts after it is written.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
import zipfile
from array import array
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat

from ecrf.exports.datasets import Column, Dataset, Reader
from ecrf.exports.scope import ExportRefused, Progress, Scope

#: The columns of dictionary.csv.
DICTIONARY_COLUMNS = ("dataset", "variable", "label", "type", "unit", "allowed", "codes", "derived", "instrument", "visits", "xpt_dataset", "xpt_name")
#: Format -> the extension of its dataset files.
EXTENSIONS = {"csv": "csv", "stata": "dta", "spss": "sav", "sas": "xpt"}
#: Longest variable label per format (pyreadstat refuses longer Stata labels; SAS v5 keeps 40 characters).
LABEL_LIMITS = {"stata": 80, "sas": 40}
#: Progress is reported every this many rows (and at the end of each dataset).
PROGRESS_EVERY = 1000
#: Rows per file of a Stata, SPSS or SAS dataset: a longer one is written in parts (see `write_binary`), so that
#: memory does not grow with the study (about 20 MB for a part of 40-odd columns).
PART_ROWS = 20_000
_NAT = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def write_tabular(scope: Scope, fmt: str, path: Path, *, progress: Progress, part_rows: int = PART_ROWS) -> int:
    """Write the scope's datasets in `fmt` into one zip at `path`; returns the number of data rows. A Stata, SPSS or
    SAS dataset longer than `part_rows` is written as numbered parts (`write_binary`)."""
    if fmt not in EXTENSIONS:
        raise ExportRefused(f"unknown tabular format '{fmt}'; one of {', '.join(EXTENSIONS)}")
    datasets = Reader(scope).datasets()
    total = sum(dataset.expected() for dataset in datasets)
    members = short_names([dataset.name for dataset in datasets], 8)
    done = 0
    progress(0, total)

    def counted(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        nonlocal done
        for row in rows:
            yield row
            done += 1
            if done % PROGRESS_EVERY == 0:
                progress(done, max(total, done))
        progress(done, max(total, done))

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, tempfile.TemporaryDirectory(prefix="ecrf-export-") as work:
        for dataset, member in zip(datasets, members, strict=True):
            rows = counted(dataset.rows())
            if fmt == "csv":
                write_csv(archive, dataset, rows)
            else:
                write_binary(archive, dataset, rows, fmt, member, Path(work), part_rows)
        with archive.open("dictionary.csv", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            writer = csv.writer(text)
            writer.writerow(DICTIONARY_COLUMNS)
            for dataset, member in zip(datasets, members, strict=True):
                writer.writerows(dictionary_rows(dataset, member))
    progress(done, done)
    return done


# -- names, dictionary ---------------------------------------------------------------------------


def short_names(names: list[str], limit: int) -> list[str]:
    """Unique names of at most `limit` characters (case ignored), stable for the same names in the same order:
    a name that fits is kept; a longer one is cut, and where that is taken, cut shorter and numbered (1, 2 ...)."""
    taken = {name.lower() for name in names if len(name) <= limit}
    out: list[str] = []
    for name in names:
        if len(name) <= limit:
            out.append(name)
            continue
        candidate, number = name[:limit], 0
        while candidate.lower() in taken:
            number += 1
            candidate = f"{name[: limit - len(str(number))]}{number}"
        taken.add(candidate.lower())
        out.append(candidate)
    return out


def _code_text(code: object) -> str:
    return str(int(code)) if isinstance(code, bool) else str(code)


def dictionary_rows(dataset: Dataset, member: str) -> list[list[str]]:
    """The dictionary's rows of one dataset: one per column."""
    xpt = short_names([column.name for column in dataset.columns], 8)
    return [
        [
            dataset.name,
            column.name,
            column.label,
            column.type,
            column.unit,
            column.allowed,
            "; ".join(f"{_code_text(code)}={label}" for code, label in column.codes),
            column.derived,
            column.instrument,
            column.visits,
            member,
            short,
        ]
        for column, short in zip(dataset.columns, xpt, strict=True)
    ]


# -- CSV -----------------------------------------------------------------------------------------


def utc_seconds(moment: datetime) -> datetime:
    """An instant in UTC, naive, to the second (as every format writes it)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None, microsecond=0)


def csv_text(value: Any) -> str:
    """A value as CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return utc_seconds(value).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_csv(archive: zipfile.ZipFile, dataset: Dataset, rows: Iterator[tuple[Any, ...]]) -> None:
    """Write a dataset as `<name>.csv` into the zip, row by row."""
    with archive.open(f"{dataset.name}.csv", "w", force_zip64=True) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        writer = csv.writer(text)
        writer.writerow([column.name for column in dataset.columns])
        for row in rows:
            writer.writerow([csv_text(value) for value in row])


# -- Stata, SPSS, SAS --------------------------------------------------------------------------


class _Buffer:
    """One column of a dataset being collected for pyreadstat, compactly: numbers as doubles, date-times as
    microseconds, dates as ordinals, text as codes into a list of the distinct values."""

    def __init__(self, storage: str) -> None:
        self.storage = storage
        self.values: array = array("d" if storage == "number" else "q" if storage in ("datetime", "date") else "i")
        self.categories: dict[str, int] = {}

    def add(self, value: Any) -> None:
        storage = self.storage
        if storage == "number":
            self.values.append(math.nan if value is None else float(int(value) if isinstance(value, bool) else value))
        elif storage == "datetime":
            self.values.append(_NAT if value is None else int((utc_seconds(value).replace(tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000)
        elif storage == "date":
            self.values.append(0 if value is None else value.toordinal())
        else:
            self.values.append(-1 if value is None else self.categories.setdefault(str(value), len(self.categories)))

    def series(self) -> Any:
        storage = self.storage
        if storage == "number":
            return np.frombuffer(self.values, dtype=np.float64)
        if storage == "datetime":
            return np.frombuffer(self.values, dtype=np.int64).view("datetime64[us]")
        if storage == "date":  # a number with a date format (`DATE_FORMATS`): typed as a date even where all are missing
            days = np.frombuffer(self.values, dtype=np.int64).astype(np.float64)
            days[days == 0] = math.nan
            return days
        categories = pd.Index(list(self.categories), dtype=object) if self.categories else pd.Index([""], dtype=object)
        return pd.Categorical.from_codes(np.frombuffer(self.values, dtype=np.int32), categories=categories)


def _value_labels(column: Column, fmt: str) -> dict[float | int, str] | dict[str, str] | None:
    """A column's value labels in Stata (numeric codes only) or SPSS (numeric and text codes)."""
    if not column.codes or fmt == "sas":
        return None
    if column.storage == "number":
        return {int(code) if isinstance(code, (bool, int)) else float(Decimal(str(code))): label for code, label in column.codes}  # type: ignore[arg-type]
    if fmt == "spss" and column.storage == "text":
        return {str(code): label for code, label in column.codes}
    return None


#: How each format stores a date: days (or seconds, SPSS) since its epoch, shown with this date format.
DATE_FORMATS = {"stata": ("%td", date(1960, 1, 1), 1), "sas": ("DATE9", date(1960, 1, 1), 1), "spss": ("DATE11", date(1582, 10, 14), 86400)}


def write_binary(
    archive: zipfile.ZipFile, dataset: Dataset, rows: Iterator[tuple[Any, ...]], fmt: str, member: str, work: Path, part_rows: int = PART_ROWS
) -> None:
    """Write a dataset as a Stata, SPSS or SAS transport file into the zip (through files in `work`). pyreadstat
    writes from a whole data frame and cannot append, so a dataset longer than `part_rows` is written in parts
    (`<dataset>_part1.dta`, `_part2` ...; the same variables, labels and SAS member name; append them in order):
    memory stays that of one part however large the study."""
    columns = dataset.columns
    names = [column.name for column in columns] if fmt != "sas" else short_names([column.name for column in columns], 8)
    limit = LABEL_LIMITS.get(fmt)
    labels: list[str | None] = [column.label[:limit].rstrip() if limit else column.label for column in columns]
    value_labels: dict[str, Any] = {name: labels_ for name, column in zip(names, columns, strict=True) if (labels_ := _value_labels(column, fmt))}
    date_format, epoch, per_day = DATE_FORMATS[fmt]
    dates = [name for name, column in zip(names, columns, strict=True) if column.storage == "date"]
    formats = dict.fromkeys(dates, date_format)
    parts: list[Path] = []

    def write_part(buffers: list[_Buffer]) -> None:
        frame = pd.DataFrame({name: buffer.series() for name, buffer in zip(names, buffers, strict=True)})
        for name in dates:  # ordinals -> the format's own day (or second) count
            frame[name] = (frame[name] - epoch.toordinal()) * per_day
        target = work / f"{dataset.name}.part{len(parts) + 1}.{EXTENSIONS[fmt]}"
        if fmt == "sas":
            pyreadstat.write_xport(
                frame, target, file_label=dataset.label[:40], column_labels=labels, table_name=member, file_format_version=5, variable_format=formats
            )
        elif fmt == "stata":
            pyreadstat.write_dta(
                frame, target, file_label=dataset.label[:80], column_labels=labels, variable_value_labels=value_labels, variable_format=formats
            )
        else:
            pyreadstat.write_sav(frame, target, file_label=dataset.label, column_labels=labels, variable_value_labels=value_labels, variable_format=formats)
        parts.append(target)

    buffers = [_Buffer(column.storage) for column in columns]
    count = 0
    for row in rows:
        for buffer, value in zip(buffers, row, strict=True):
            buffer.add(value)
        count += 1
        if count == part_rows:
            write_part(buffers)
            buffers, count = [_Buffer(column.storage) for column in columns], 0
    if count or not parts:  # the last part, or an empty dataset's one file
        write_part(buffers)
    del buffers
    for number, target in enumerate(parts, 1):
        name = f"{dataset.name}.{EXTENSIONS[fmt]}" if len(parts) == 1 else f"{dataset.name}_part{number}.{EXTENSIONS[fmt]}"
        archive.write(target, name)
        target.unlink()
