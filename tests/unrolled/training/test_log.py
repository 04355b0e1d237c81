"""The record of a training run (unrolled.training.log): exact float round trips, a restart that keeps only the rows
it is given, atomic CSV writes, and the loss plot."""

import math

import pytest

from unrolled.training.log import (
    LATER_TERMS,
    LOG_COLUMNS,
    TERMS,
    TrainLog,
    finite_row,
    plot_losses,
    read_log,
    write_rows,
)


def _row(step, x):
    return {"step": step, **{t: x * (i + 1) for i, t in enumerate(TERMS)}, "seconds": 0.5}


def test_rows_round_trip_exactly_and_a_restart_keeps_only_the_given_rows(tmp_path):
    path = tmp_path / "log.csv"
    rows = [_row(1, 0.1), _row(2, 1 / 3), _row(3, 2.0 ** -60)]
    with TrainLog(path) as log:
        for r in rows:
            log.append(r)
    assert read_log(path) == rows  # shortest exact repr: bit for bit
    with TrainLog(path, rows[:1]) as log:  # a resume from a checkpoint that saved one row
        log.append(_row(2, 7.0))
    assert read_log(path) == [rows[0], _row(2, 7.0)]
    assert path.read_text().splitlines()[0] == ",".join(LOG_COLUMNS)


def test_write_rows_is_atomic_and_keeps_the_columns(tmp_path):
    path = tmp_path / "val.csv"
    write_rows(path, [{"step": 0, "VIF": 1.25}, {"step": 50, "VIF": 0.1}])
    assert path.read_text() == "step,VIF\n0,1.25\n50,0.1\n"
    with pytest.raises(KeyError):
        write_rows(path, [{"step": 0, "VIF": 1.0}, {"step": 1}])  # a row without a column: nothing is written
    assert path.read_text() == "step,VIF\n0,1.25\n50,0.1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["val.csv"]


def test_finite_row_and_the_plot(tmp_path):
    assert finite_row(_row(1, 1.0)) and not finite_row({**_row(1, 1.0), "middle": math.nan})
    png = plot_losses([_row(s, 1.0 / s) for s in range(1, 60)], tmp_path / "losses.png", title="t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rows_logged_before_a_term_existed_hold_it_as_zero(tmp_path):
    old = {k: v for k, v in _row(1, 1.0).items() if k not in LATER_TERMS}  # a checkpoint of an older run
    path = tmp_path / "log.csv"
    with TrainLog(path, [old]) as log:
        log.append(_row(2, 1.0))
    rows = read_log(path)
    assert [r["content"] for r in rows] == [0.0, _row(2, 1.0)["content"]]
    legacy = tmp_path / "legacy.csv"  # an old log.csv without the column
    legacy.write_text("step,pixel,shallow,middle,deep,total,seconds\n1,1.0,2.0,3.0,4.0,10.0,0.5\n")
    (row,) = read_log(legacy)
    assert row["content"] == 0.0 and row["total"] == 10.0 and finite_row(row)
    assert plot_losses([old, _row(2, 1.0)], tmp_path / "p.png").stat().st_size > 0


def test_a_term_with_negative_values_is_drawn_on_a_linear_axis(tmp_path, drawn_axes):
    rows = [{**_row(s, 1.0), "content": -1.0 - 1.0 / s, "total": -0.5} for s in range(1, 120)]
    plot_losses(rows, tmp_path / "neg.png")
    axes = dict(zip(TERMS, drawn_axes[0], strict=True))
    assert axes["content"].get_yscale() == "linear" and axes["pixel"].get_yscale() == "log"
    assert len(axes["content"].lines) == 2 and not axes["content"].texts  # both curves, not "no positive values"
