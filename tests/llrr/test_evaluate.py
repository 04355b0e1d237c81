"""`llrr evaluate` end to end on real files: the CSV equals llrr.metrics.compute on the same files, the Markdown table
marks the best mean of each metric, the chart is a valid PNG, and bad input fails before anything is written."""

import csv
import math
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from llrr.cli import main
from llrr.evaluate import EvaluationResult, evaluate
from llrr.io import demo_pair, load_grey
from llrr.metrics import PROFILES, compute, list_metrics

from ..conftest import shared_path

FAST = ["En", "SD", "SSIM", "Nabf"]
TNO_IMAGES = ["01", "08", "11"]  # three small pairs of different sizes


def _save(array: np.ndarray, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(array).astype(np.uint8)).save(path)


@pytest.fixture
def demo_tree(tmp_path):
    """ir/, vi/ with the bundled pair, and two simple fusions: average (png) and maximum (tif, paired by stem)."""
    ir_path, vi_path = demo_pair()
    for folder, source in (("ir", ir_path), ("vi", vi_path)):
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / "demo.png")
    ir, vi = load_grey(ir_path), load_grey(vi_path)
    _save((ir + vi) / 2, tmp_path / "average" / "demo.png")
    _save(np.maximum(ir, vi), tmp_path / "maximum" / "demo.tif")
    return tmp_path


@pytest.fixture
def tno_tree(tmp_path):
    """Three TNO pairs, the released LRRNet outputs as one method and the IR/VI average (bmp for one image)."""
    data = shared_path("data", "tno21")
    for stem in TNO_IMAGES:
        for folder, method in (("ir", "ir"), ("vi", "vi"), ("ref_lrrnet", "lrrnet")):
            (tmp_path / method).mkdir(exist_ok=True)
            shutil.copy(data / folder / f"{stem}.png", tmp_path / method / f"{stem}.png")
        average = (load_grey(data / "ir" / f"{stem}.png") + load_grey(data / "vi" / f"{stem}.png")) / 2
        _save(average, tmp_path / "average" / f"{stem}{'.bmp' if stem == '08' else '.png'}")
    return tmp_path


def _args(root, methods, out, *extra):
    return ["evaluate", "--ir", str(root / "ir"), "--vi", str(root / "vi"),
            "--fused", *[f"{m}={root / m}" for m in methods], "-o", str(out), *extra]


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _fused_file(root, method, stem):
    (found,) = [p for p in (root / method).iterdir() if p.stem == stem]
    return found


def _check_csv_equals_compute(root, out, methods, stems, profile, metrics):
    header, rows = _read_csv(out)
    assert header == ["method", "image", *metrics]
    assert [(r[0], r[1]) for r in rows] == [(m, s) for m in methods for s in stems]
    expected = {}
    for method, stem, *values in rows:
        ref = compute(_fused_file(root, method, stem), root / "ir" / f"{stem}.png", root / "vi" / f"{stem}.png",
                      profile=profile, metrics=metrics)
        assert [float(v) for v in values] == [ref[k] for k in metrics]  # repr round-trips: exact
        expected.setdefault(method, []).append(ref)
    return {m: {k: float(np.mean([r[k] for r in refs])) for k in metrics} for m, refs in expected.items()}


def _bold_cells(markdown: str, methods, metrics):
    """{metric: [methods whose cell is bold]} from the printed table; also checks the printed means."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert [h.split()[0] for h in header[1:]] == list(metrics)
    bold, printed = {k: [] for k in metrics}, {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        printed[cells[0]] = {k: float(c.strip("*")) for k, c in zip(metrics, cells[1:], strict=True)}
        for k, cell in zip(metrics, cells[1:], strict=True):
            if re.fullmatch(r"\*\*[-\d.]+\*\*", cell):
                bold[k].append(cells[0])
    assert list(printed) == list(methods)
    return bold, printed


def _expected_best(means, profile):
    best = {}
    for k in next(iter(means.values())):
        pick = max if PROFILES[profile][k].higher_is_better else min
        top = pick(m[k] for m in means.values())
        best[k] = [name for name, m in means.items() if m[k] == top]
    return best


def _check_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and min(im.size) > 200


@pytest.mark.shared
def test_cli_evaluate_tno_pairs_matches_compute(tno_tree, capsys):
    out = tno_tree / "results" / "scores.csv"
    methods = ["lrrnet", "average"]
    assert main(_args(tno_tree, methods, out, "--metrics", *FAST)) == 0
    printed = capsys.readouterr()
    means = _check_csv_equals_compute(tno_tree, out, methods, TNO_IMAGES, "paper", FAST)
    bold, shown = _bold_cells(printed.out, methods, FAST)
    assert bold == _expected_best(means, "paper")
    # clear-cut columns: LRRNet has far more contrast than the average, which adds almost no artefacts (Nabf)
    assert bold["SD"] == ["lrrnet"] and bold["Nabf"] == ["average"]
    for m in methods:
        assert shown[m] == pytest.approx(means[m], abs=6e-5)  # 4 decimals printed: half a unit, 5e-5, and rounding
    _check_png(tno_tree / "results" / "scores.png")  # default: next to the CSV
    assert sorted(p.name for p in out.parent.iterdir()) == ["scores.csv", "scores.png"]  # no temporary left
    assert "6/6" in printed.err  # the progress bar ran over (image, method) pairs


@pytest.mark.shared
def test_cli_evaluate_full_standard_profile_one_pair(tmp_path, capsys):
    data = shared_path("data", "tno21")
    for folder in ("ir", "vi", "ref_lrrnet"):
        (tmp_path / folder).mkdir()
        shutil.copy(data / folder / "08.png", tmp_path / folder / "08.png")
    out, chart = tmp_path / "r.csv", tmp_path / "charts" / "bars.png"
    assert main(_args(tmp_path, ["ref_lrrnet"], out, "--profile", "standard", "--plot", str(chart), "-q")) == 0
    metrics = list_metrics("standard")  # every registered metric, whatever the registry holds by then
    _check_csv_equals_compute(tmp_path, out, ["ref_lrrnet"], ["08"], "standard", metrics)
    bold, _ = _bold_cells(capsys.readouterr().out, ["ref_lrrnet"], metrics)
    assert all(v == ["ref_lrrnet"] for v in bold.values())  # a single method is the best of every column
    _check_png(chart)
    assert not out.with_suffix(".png").exists()


def test_cli_evaluate_demo_pair_without_shared(demo_tree, capsys):
    out = demo_tree / "results.csv"
    methods = ["average", "maximum"]
    assert main(_args(demo_tree, methods, out, "-q")) == 0  # the whole default (paper) profile
    metrics = list_metrics("paper")
    means = _check_csv_equals_compute(demo_tree, out, methods, ["demo"], "paper", metrics)
    bold, _ = _bold_cells(capsys.readouterr().out, methods, metrics)
    assert bold == _expected_best(means, "paper")
    _check_png(demo_tree / "results.png")


def test_library_result_matches_cli_and_compute(demo_tree):
    fused = {"maximum": demo_tree / "maximum", "average": demo_tree / "average"}
    result = evaluate(demo_tree / "ir", demo_tree / "vi", fused, profile="standard", metrics=["SD", "En", "SD"],
                      progress=False)
    assert result.metrics == ("SD", "En") and result.methods == ("maximum", "average")
    ref = compute(demo_tree / "maximum" / "demo.tif", demo_tree / "ir" / "demo.png", demo_tree / "vi" / "demo.png",
                  profile="standard", metrics=["SD", "En"])
    assert result.scores["maximum"]["demo"] == ref == result.means()["maximum"]
    assert result.rows[0] == {"method": "maximum", "image": "demo", **ref}
    sd = {m: result.means()[m]["SD"] for m in fused}
    assert result.best()["SD"] == [max(sd, key=sd.get)]  # SD: higher is better


def test_markdown_marks_best_by_direction_and_ties():
    scores = {"a": {"x": {"En": 7.0, "Nabf": 0.30, "SSIM": 0.5}, "y": {"En": 6.0, "Nabf": 0.10, "SSIM": 0.7}},
              "b": {"x": {"En": 5.0, "Nabf": 0.05, "SSIM": 0.7}, "y": {"En": 5.0, "Nabf": 0.05, "SSIM": 0.5}}}
    result = EvaluationResult("paper", ("En", "Nabf", "SSIM"), ("a", "b"), ("x", "y"), scores)
    # (0.30 + 0.10) / 2 is 0.2 up to one float64 rounding (default rel 1e-6); the other two means are exact
    assert result.means()["a"] == {"En": 6.5, "Nabf": pytest.approx(0.2), "SSIM": 0.6}
    bold, _ = _bold_cells(result.to_markdown(), ["a", "b"], ["En", "Nabf", "SSIM"])
    assert bold == {"En": ["a"], "Nabf": ["b"], "SSIM": ["a", "b"]}  # Nabf: lower is better; a tie marks both
    assert "Nabf ↓" in result.to_markdown() and "En ↑" in result.to_markdown()


def test_missing_partner_is_named_and_nothing_written(demo_tree, capsys):
    out = demo_tree / "out" / "results.csv"
    (demo_tree / "maximum" / "demo.tif").rename(demo_tree / "maximum" / "other.tif")
    assert main(_args(demo_tree, ["average", "maximum"], out, "--metrics", *FAST, "-q")) == 2
    err = capsys.readouterr().err
    assert err.startswith("llrr evaluate: error:")
    assert str(demo_tree / "ir" / "demo.png") in err and "'maximum'" in err and str(demo_tree / "maximum") in err
    assert not (demo_tree / "out").exists()


def test_unpaired_visible_image_is_an_error_and_old_csv_kept(demo_tree, capsys):
    out = demo_tree / "results.csv"
    out.write_text("old results\n")
    shutil.copy(demo_tree / "vi" / "demo.png", demo_tree / "vi" / "extra.bmp")
    assert main(_args(demo_tree, ["average"], out, "-q")) == 2
    assert "extra.bmp" in capsys.readouterr().err
    assert out.read_text() == "old results\n" and not out.with_suffix(".png").exists()


def test_mis_sized_file_is_named_with_sizes(demo_tree, capsys):
    out = demo_tree / "results.csv"
    _save(np.zeros((80, 100)), demo_tree / "average" / "demo.png")
    assert main(_args(demo_tree, ["average", "maximum"], out, "--metrics", *FAST, "-q")) == 2
    err = capsys.readouterr().err
    assert str(demo_tree / "average" / "demo.png") in err and "100x80" in err and "360x270" in err
    assert "maximum" not in err  # only the wrong file is named
    assert not out.exists()


def test_two_files_with_one_stem_are_an_error(demo_tree):
    _save(np.zeros((270, 360)), demo_tree / "average" / "demo.bmp")
    with pytest.raises(ValueError, match=r"two images named 'demo'.*demo\.bmp and demo\.png"):
        evaluate(demo_tree / "ir", demo_tree / "vi", {"average": demo_tree / "average"}, progress=False)


@pytest.mark.parametrize("extra, message", [
    (["--metrics", "En", "Bogus"], r"unknown metric\(s\) \['Bogus'\].*available: \['En', 'SD'"),
    (["--profile", "matlab"], r"profile must be one of \['paper', 'standard', 'vifb', 'cddfuse'\], got 'matlab'"),
])
def test_unknown_metric_or_profile_lists_the_available(demo_tree, capsys, extra, message):
    out = demo_tree / "results.csv"
    assert main(_args(demo_tree, ["average"], out, *extra)) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_bad_fused_argument_or_directory(demo_tree, capsys):
    out = demo_tree / "results.csv"
    base = ["evaluate", "--ir", str(demo_tree / "ir"), "--vi", str(demo_tree / "vi"), "-o", str(out), "-q"]
    cases = [(["--fused", "average"], "NAME=DIR"),
             (["--fused", f"={demo_tree / 'average'}"], "NAME=DIR"),
             (["--fused", f"a={demo_tree / 'average'}", f"a={demo_tree / 'maximum'}"], "given twice"),
             (["--fused", f"a={demo_tree / 'nowhere'}"], f"fused 'a' directory not found: {demo_tree / 'nowhere'}"),
             (["--fused", f"a={demo_tree / 'ir' / 'demo.png'}"], "must be a directory")]
    for args, message in cases:
        assert main(base + args) == 2
        assert message in capsys.readouterr().err
    assert main(["evaluate", "--ir", str(demo_tree / "IR"), "--vi", str(demo_tree / "vi"),
                 "--fused", f"a={demo_tree / 'average'}", "-o", str(out)]) == 2
    assert "ir directory not found" in capsys.readouterr().err
    assert not out.exists()


def test_nan_mean_is_not_marked_best():
    scores = {"a": {"x": {"En": math.nan}}, "b": {"x": {"En": 1.0}}}
    assert EvaluationResult("paper", ("En",), ("a", "b"), ("x",), scores).best() == {"En": ["b"]}


def test_vifb_means_skip_nan_as_vifb_does_and_the_others_do_not():
    scores = {"a": {"x": {"Qcb": math.nan}, "y": {"Qcb": 0.5}, "z": {"Qcb": 0.25}},
              "b": {"x": {"Qcb": math.nan}, "y": {"Qcb": math.nan}, "z": {"Qcb": math.nan}}}
    vifb = EvaluationResult("vifb", ("Qcb",), ("a", "b"), ("x", "y", "z"), scores)
    assert vifb.means()["a"]["Qcb"] == 0.375  # nanmean: the mean of the two numbers
    assert math.isnan(vifb.means()["b"]["Qcb"]) and vifb.best() == {"Qcb": ["a"]}
    paper = EvaluationResult("paper", ("En",), ("a",), ("x", "y"), {"a": {"x": {"En": math.nan}, "y": {"En": 7.0}}})
    assert math.isnan(paper.means()["a"]["En"])


@pytest.fixture
def three_pair_tree(tmp_path):
    """ir/, vi/ with three crops of the bundled pair (three sizes) and two fusions of each: average and maximum."""
    ir, vi = (load_grey(p) for p in demo_pair())
    for stem, (h, w) in {"a": (270, 360), "b": (200, 240), "c": (120, 160)}.items():
        a, b = ir[:h, :w], vi[:h, :w]
        _save(a, tmp_path / "ir" / f"{stem}.png")
        _save(b, tmp_path / "vi" / f"{stem}.png")
        _save((a + b) / 2, tmp_path / "average" / f"{stem}.png")
        _save(np.maximum(a, b), tmp_path / "maximum" / f"{stem}.png")
    return tmp_path


@pytest.mark.parametrize("profile", ["paper", "vifb", "cddfuse"])
def test_two_processes_give_exactly_the_one_process_scores(three_pair_tree, profile):
    root = three_pair_tree
    fused = {m: root / m for m in ("average", "maximum")}
    one = evaluate(root / "ir", root / "vi", fused, profile=profile, progress=False, workers=1)
    two = evaluate(root / "ir", root / "vi", fused, profile=profile, progress=False, workers=2)
    assert two.images == one.images == ("a", "b", "c") and two.methods == one.methods
    assert two.scores == one.scores  # bit for bit, in the same order
    fresh = compute(root / "maximum" / "b.png", root / "ir" / "b.png", root / "vi" / "b.png", profile=profile)
    assert two.scores["maximum"]["b"] == fresh


@pytest.mark.parametrize("workers", [-1, 1.5, "2", True, False, 0.0])
def test_bad_workers_value_is_named(three_pair_tree, workers):
    root = three_pair_tree
    with pytest.raises(ValueError, match="workers must be a non-negative integer"):
        evaluate(root / "ir", root / "vi", {"average": root / "average"}, progress=False, workers=workers)


def test_a_failure_in_a_worker_names_the_file(three_pair_tree, capsys):
    root = three_pair_tree
    broken = root / "maximum" / "b.png"
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # its header is intact: the pairing check passes, decoding fails
    with pytest.raises(ValueError, match=r"b\.png: not a readable image"):
        evaluate(root / "ir", root / "vi", {m: root / m for m in ("average", "maximum")}, metrics=FAST,
                 progress=False, workers=2)
    out = root / "scores.csv"
    assert main(_args(root, ["average", "maximum"], out, "--metrics", *FAST, "-q", "--workers", "2")) == 2
    assert "b.png: not a readable image" in capsys.readouterr().err
    assert not out.exists()


def test_the_progress_bar_moves_as_images_are_done_on_two_processes(three_pair_tree, capsys):
    root = three_pair_tree
    evaluate(root / "ir", root / "vi", {m: root / m for m in ("average", "maximum")}, metrics=FAST, workers=2)
    err = capsys.readouterr().err
    seen = {int(n) for n in re.findall(r"(\d)/6 ", err)}
    assert 6 in seen and seen & {2, 4}  # updated as images are done (two methods each), not only at the end


def test_a_script_without_a_main_guard_gets_a_clear_error(three_pair_tree, tmp_path):
    import subprocess
    import sys

    from ..conftest import REPO

    root = three_pair_tree
    script = tmp_path / "unguarded.py"
    script.write_text("from llrr.evaluate import evaluate\n"
                      f"evaluate({str(root / 'ir')!r}, {str(root / 'vi')!r}, {{'average': {str(root / 'average')!r}}}, "
                      "metrics=['En'], progress=False, workers=2)\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode != 0
    assert 'if __name__ == "__main__":' in proc.stderr and "workers=1" in proc.stderr
