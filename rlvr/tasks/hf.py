"""Tasks from a Hugging Face dataset, through a column mapping.

    load_hf_tasks("openai/gsm8k", {"prompt": "question", "reference": "answer"}, split="test")

`datasets` is imported only here and only when needed, so rlvr works without it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlvr._errors import ConfigError, DataError
from rlvr.tasks.records import Task, check_unique_ids

_FIELDS = ("prompt", "reference", "id")  # the Task fields a column can fill
_REQUIRED = ("prompt", "reference")
# Local files load through datasets' packaged builders.
_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}


def load_hf_tasks(
    dataset: Any,
    columns: Mapping[str, str],
    verifier: str | dict = "math",
    split: str = "train",
    id_prefix: str | None = None,
) -> list[Task]:
    """Build one Task per row of a Hugging Face dataset.

    dataset:   a `datasets.Dataset` (or `DatasetDict`, from which `split` is taken), or a name
               or local path for `datasets.load_dataset`, whose split `split` is loaded.
    columns:   our field -> dataset column, for "prompt", "reference" and optionally "id".
    verifier:  the verifier every task names.
    split:     the split label of every task (and the split loaded when `dataset` is a name).
    id_prefix: ids become "{id_prefix}-{id column}", or the id column as it is when no prefix
               is given; without an id column, "{id_prefix}-{row}" with the dataset's name
               as the default prefix.
    """
    mapping = _check_columns(columns)
    label = dataset if isinstance(dataset, (str, os.PathLike)) else _dataset_name(dataset)
    table = _load(dataset, split) if isinstance(dataset, (str, os.PathLike)) else _pick_split(dataset, split)
    missing = [column for column in mapping.values() if column not in table.column_names]
    if missing:
        raise DataError(
            f"dataset {label} has no column {missing[0]!r}; its columns are: {', '.join(table.column_names)}."
        )
    if len(table) == 0:
        raise DataError(f"dataset {label} (split {split!r}) has no rows; check the dataset and split.")
    rows = table.select_columns(sorted(set(mapping.values())))
    located = ((i, _row_task(row, i, mapping, verifier, split, id_prefix, str(label))) for i, row in enumerate(rows))
    return check_unique_ids(located, lambda i: f"{label}[{i}]", "first in row",
                            "map 'id' to a unique column or leave it out.")


def _check_columns(columns: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(columns, Mapping):
        raise ConfigError(f"columns must map fields to column names, got {type(columns).__name__}.")
    unknown = [key for key in columns if key not in _FIELDS]
    if unknown:
        raise ConfigError(
            f"columns has no field {unknown[0]!r}; map {', '.join(_FIELDS)} to dataset columns."
        )
    missing = [key for key in _REQUIRED if key not in columns]
    if missing:
        raise ConfigError(
            f'columns must say which column holds {missing[0]!r}, e.g. {{"prompt": "question", '
            '"reference": "answer"}.'
        )
    for key, column in columns.items():
        if not isinstance(column, str):
            raise ConfigError(f"columns[{key!r}] must be a column name, got {column!r}.")
    return dict(columns)


def _row_task(
    row: dict,
    row_index: int,
    mapping: dict[str, str],
    verifier: Any,
    split: str,
    id_prefix: str | None,
    label: str,
) -> Task:
    where = f"{label}[{row_index}]"
    if "id" in mapping:
        raw_id = row[mapping["id"]]
        if raw_id is None or isinstance(raw_id, (dict, list)):
            raise DataError(
                f"{where}: id column {mapping['id']!r} holds {raw_id!r}; map 'id' to a text or number column."
            )
        task_id = f"{id_prefix}-{raw_id}" if id_prefix else str(raw_id)
    else:
        task_id = f"{id_prefix or _slug(label)}-{row_index}"
    record = {
        "id": task_id,
        "prompt": row[mapping["prompt"]],
        "reference": row[mapping["reference"]],
        "verifier": verifier,
        "split": split,
        "meta": {"source": label, "row": row_index},
    }
    return Task.from_dict(record, where)


def _load(name: str | os.PathLike, split: str) -> Any:
    """`datasets.load_dataset` for a hub name, a folder, or a single local file."""
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            "loading Hugging Face datasets needs the `datasets` package; install rlvr[hf] "
            "(pip install 'rlvr[hf]')."
        ) from None
    path = Path(name).expanduser()
    looks_local = str(name).startswith(("/", ".", "~")) or path.suffix in _BUILDERS
    if looks_local and not path.exists():  # not a hub id: fail now rather than after network retries
        raise DataError(f"dataset path {name} does not exist; check the path.")
    try:
        if path.is_file() and path.suffix in _BUILDERS:
            # A lone file has no split names of its own: it becomes the split asked for.
            return datasets.load_dataset(_BUILDERS[path.suffix], data_files={split: str(path)}, split=split)
        return datasets.load_dataset(str(name), split=split)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types; all mean "cannot load this"
        raise DataError(
            f"could not load dataset {name} (split {split!r}): {type(exc).__name__}: {str(exc).rstrip('.')}; "
            "check the name, path and split."
        ) from None


def _pick_split(dataset: Any, split: str) -> Any:
    """A Dataset passes through; from a DatasetDict (several splits) take `split`."""
    if hasattr(dataset, "column_names") and isinstance(dataset.column_names, list):
        return dataset
    if isinstance(dataset, Mapping):
        if split not in dataset:
            raise DataError(f"the dataset has no split {split!r}; its splits are: {', '.join(dataset)}.")
        return dataset[split]
    raise ConfigError(
        f"dataset must be a datasets.Dataset, a DatasetDict, or a name or path, got {type(dataset).__name__}."
    )


def _dataset_name(dataset: Any) -> str:
    info = getattr(dataset, "info", None)
    return getattr(info, "dataset_name", None) or "hf"


def _slug(name: str) -> str:
    """A short id prefix from a dataset name or path: "openai/gsm8k" -> "gsm8k"."""
    stem = Path(name.rstrip("/")).stem if name not in ("", "hf") else name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "hf"
