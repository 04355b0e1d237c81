"""Sections of benchmarks/RESULTS.md for the later issues (metric profiles, inference engines), rendered by
:func:`benchmarks.render.render`."""

from __future__ import annotations


def _helpers():
    from . import render

    return render._measured, render._ok, render._sgemm


def _profiles_section(b: dict) -> list[str]:
    _measured, _ok, _sgemm = _helpers()
    lines = []
    runs = [r for r in (b.get("test_three_profiles_on_vifb"), b.get("test_three_profiles_on_vifb_one_process")) if r]
    if runs:
        info = runs[0]["extra_info"]
        lines += ["", "## Three metric profiles on VIFB, and LatLRR against LRRNet (issue 16)", "",
                  f"All metrics of the {', '.join(info['profiles'])} profiles on {info['pairs']} pairs x "
                  f"{info['methods']} methods of {info['source']} ({info['images']} fused images, each profile "
                  f"reading the files as its toolkit does), scored as `llrr benchmark` scores them (one pass per "
                  f"profile; the images of a pair go to one process, so its sources' work is done once), one round "
                  f"(m{_measured(runs)[1:]}). Goal: under 2 minutes.", "",
                  "| processes | time (s) | per image (ms) | " + " | ".join(f"{p} (s)" for p in info["profiles"])
                  + " | goal met |", "|---|---|---|" + "---|" * len(info["profiles"]) + "---|"]
        for r in runs:
            sec, inf = r["stats"]["median"], r["extra_info"]
            per = inf.get("profile_seconds", {})
            lines.append(f"| {inf.get('workers', 1)} | {sec:.1f} | {1e3 * sec / inf['images']:.0f} | "
                         + " | ".join(f"{per.get(p, float('nan')):.1f}" for p in inf["profiles"])
                         + f" | {_ok(sec < 120)} |")
    fus = {m: b.get(f"test_fusion_{m}") for m in ("latlrr", "lrrnet")}
    if all(fus.values()):
        info = fus["lrrnet"]["extra_info"]
        base = fus["lrrnet"]["stats"]["median"]
        lines += ["", f"Fusion of one pair, {info['image']}, {info['shape'][1]}x{info['shape'][0]}, through "
                      f"`llrr.fuse` (median of the rounds; m{_measured(list(fus.values()))[1:]}):", "",
                  "| method | time (s) | ratio to lrrnet |", "|---|---|---|"]
        for m, rec in fus.items():
            lines.append(f"| {m} | {rec['stats']['median']:.2f} | {rec['stats']['median'] / base:.1f}x |")
    return lines


def _engines_section(b: dict) -> list[str]:
    _measured, _ok, _sgemm = _helpers()
    rows = [b[k] for k in ("test_engines[640x480]", "test_engines[1920x1080]") if k in b]
    if not rows:
        return []
    lines = ["", "## Inference engines side by side (issue 18)", "",
             "The exported graph's function (inputs min-max scaled, LRRNet with the shipped default weights, output "
             "min-max scaled) on one random pair, each engine in a fresh process of the same run: median of the "
             "repeats after a first call (reported apart: it includes torch.compile's and OpenVINO's compilation), "
             "outputs within one grey level of the fast path's (`benchmarks/test_bench_engines.py`; "
             f"m{_measured(rows)[1:]}). "
             "GFLOP/s counts 2 x 46,116 multiply-adds per pixel; \"of sgemm\" divides it by the run's sgemm. Goal: "
             "the fast path at least 3x faster than the best other engine at both sizes.", ""]
    for r in rows:
        info, sgemm = r["extra_info"], _sgemm(r)
        timed = [e for e in info["engines"] if "median" in e]
        fast = timed[0]["median"]
        best_other = min(e["median"] for e in timed[1:]) if len(timed) > 1 else float("nan")
        head = "| engine | time (s) | first call (s) | x fast path | GFLOP/s | of sgemm | max grey diff |"
        lines += [f"**{info['size']}**", "", head, "|---|---|---|---|---|---|---|"]
        for e in info["engines"]:
            if "median" not in e:
                lines.append(f"| {e['engine']} | - | - | - | - | - | - |")
                continue
            lines.append(f"| {e['engine']} | {e['median']:.3f} | {e['first']:.2f} | {e['median'] / fast:.1f}x | "
                         f"{e['gflops']:.1f} | {100 * e['gflops'] / sgemm:.0f} % | {e['max_grey_diff']} |")
        met = _ok(best_other >= 3 * fast)
        lines += ["", f"Best other engine / fast path: {best_other / fast:.1f}x; goal (>= 3x) {met}.", ""]
    return lines
