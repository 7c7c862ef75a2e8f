"""``--output text``, shaped as the AWS CLI's text format.

Scalars of a mapping print on one tab-separated line, in key order, led by the upper-cased
name of the key the mapping sits under; each mapping of a list prints one such line (the
columns are the scalar keys of all the list's mappings); nested lists and mappings follow,
each under its own key. A bare list of scalars prints as one tab-separated line.
"""

from __future__ import annotations

from typing import Any, TextIO


def _scalar(value: Any) -> str:
    return str(value)  # the AWS CLI prints Python's spelling: True, False, None


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def write_text(value: Any, out: TextIO) -> None:
    _write(value, out, None, None)


def _write(value: Any, out: TextIO, label: str | None, columns: list[str] | None) -> None:
    if isinstance(value, dict):
        _write_mapping(value, out, label, columns)
    elif isinstance(value, list):
        _write_list(value, out, label)
    else:
        out.write(_scalar(value) + "\n")


def _write_mapping(
    value: dict[str, Any], out: TextIO, label: str | None, columns: list[str] | None
) -> None:
    if columns is None:
        keys = sorted(value)
        cells = [_scalar(value[k]) for k in keys if _is_scalar(value[k])]
        nested = [k for k in keys if not _is_scalar(value[k])]
    else:
        cells = [_scalar(value.get(k, "")) for k in columns]
        nested = sorted(set(value) - set(columns))
    if cells:
        out.write("\t".join([label.upper(), *cells] if label is not None else cells) + "\n")
    for key in nested:
        _write(value[key], out, key, None)


def _write_list(values: list[Any], out: TextIO, label: str | None) -> None:
    if not values:
        return
    if any(isinstance(v, dict) for v in values):
        columns = sorted(
            {k for v in values if isinstance(v, dict) for k, x in v.items() if _is_scalar(x)}
        )
        for item in values:
            _write(item, out, label, columns)
        return
    scalars = [v for v in values if _is_scalar(v)]
    if scalars:
        if label is not None:
            out.writelines(f"{label.upper()}\t{_scalar(v)}\n" for v in scalars)
        else:
            out.write("\t".join(_scalar(v) for v in scalars) + "\n")
    for item in values:
        if not _is_scalar(item):
            _write(item, out, label, None)
