"""benchmarks/render.py: the LRRNet section takes each row against the sgemm of its own run, and a fast / eager
ratio only between rows of one run."""

from benchmarks.render import _lrrnet_section


def _row(size: str, path: str, median: float, when: str, sgemm: float) -> dict:
    gflops = 2 * 46116 * 480 * 640 / median / 1e9
    return {"name": f"test_lrrnet_{path}[{size}]",
            "extra_info": {"size": size, "path": path, "median": median, "gflops": gflops, "peak_rss_mb": 400.0,
                           "measured": when, "sgemm_gflops": sgemm, "cpu": "CPU"}}


def _line(lines: list[str], start: str) -> list[str]:
    return [c.strip() for c in next(x for x in lines if x.startswith(start)).split("|")[1:-1]]


def test_rows_of_two_runs_give_no_ratio_and_their_own_sgemm():
    fast = _row("640x480", "fast", 0.1, "2026-12-07T17:00:00", 200.0)  # 283 GFLOP/s
    eager = _row("640x480", "eager", 10.0, "2026-12-07T20:00:00", 400.0)  # the later run
    lines = _lrrnet_section({r["name"]: r for r in (fast, eager)}, 300.0)
    cells = _line(lines, "| 640x480 | fast")
    assert cells[4] == "142 %" and cells[6] == "(other runs)"  # 283 / 200, not the later run's 400 nor the default 300
    assert _line(lines, "| 640x480 | eager")[4] == "1 %"
    assert not any(x.startswith("| >= 20x eager") for x in lines) and "Measured in 2 runs" in "".join(lines)


def test_rows_of_one_run_give_the_ratio():
    when = "2026-12-07T20:00:00"
    rows = [_row("640x480", "fast", 0.1, when, 200.0), _row("640x480", "eager", 10.0, when, 200.0)]
    lines = _lrrnet_section({r["name"]: r for r in rows}, 300.0)
    assert _line(lines, "| 640x480 | fast")[6] == "100.0x"
    assert _line(lines, "| >= 20x eager at 640x480")[1:] == ["100.0x", "yes"]
