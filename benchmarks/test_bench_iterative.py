"""Iterative vs feed-forward (issue 6): the records of :mod:`benchmarks.iterative` for benchmarks/RESULTS.md and
its figure. One pedantic round: the comparison times every checkpoint itself."""

from dataclasses import asdict

from . import iterative


def test_iterative_vs_feedforward(benchmark, tmp_path):
    benchmark.group = "iterative-vs-feedforward"
    records, info = benchmark.pedantic(iterative.compare, kwargs={"progress": False}, rounds=1, iterations=1)
    out = tmp_path / "figure.png" if iterative.smoke() else iterative.FIGURE
    iterative.plot(records, info, out)
    assert out.is_file()
    unrolled = [r for r in records if r.method.startswith("unrolled")][0]
    trained = [r for r in records if r.method.startswith("trained")][0]
    assert trained.objective < unrolled.objective  # training on Eq. 5 pays off on an image it never saw
    alg1 = {r.iterations: r for r in records if r.method == "algorithm1"}
    # before training, the network with T blocks is Algorithm 1 with T iterations
    if unrolled.iterations in alg1:
        assert abs(unrolled.objective - alg1[unrolled.iterations].objective) <= 1e-4 * abs(unrolled.objective)
    benchmark.extra_info.update(info)
    benchmark.extra_info["records"] = [asdict(r) for r in records]
