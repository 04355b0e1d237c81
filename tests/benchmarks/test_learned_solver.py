"""``python -m benchmarks.learned_solver compare --fast``: the comparison of the learned solver with Algorithm 1,
ISTA and FISTA runs end to end, and its numbers hold the relations they must (the untrained network is Algorithm 1
with k = 4; the trained one goes lower)."""

from __future__ import annotations

import re

from benchmarks.learned_solver import main


def test_compare_command_fast_mode(tmp_path):
    md, png = tmp_path / "cmp.md", tmp_path / "cmp.png"
    main(["compare", "--fast", "--out", str(md), "--figure", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {}
    for line in md.read_text().splitlines():
        m = re.match(r"\| (.+?) \| (\d+) \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|", line)
        if m:
            rows[(m.group(1), int(m.group(2)))] = float(m.group(3))
    trained, untrained = rows[("trained T=4", 4)], rows[("untrained T=4 (= Algorithm 1, k=4)", 4)]
    assert untrained == rows[("algorithm1", 4)]  # the untrained network is Algorithm 1 with k = 4
    assert trained < 0.5 * untrained
    assert {k for (name, k) in rows if name == "fista"} == {1, 2, 4}
