"""The memo of source-side work (llrr.metrics._common.source_memo): scoring many fused images against one pair
gives exactly the values of a fresh computation, whatever was scored before, and a source is recognised by its
content, not by the array object."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from llrr.io import demo_pair, load_grey
from llrr.metrics import PROFILES, clear_caches, compute
from llrr.metrics._common import source_memo
from llrr.metrics.vif import _block_sums


@pytest.fixture(scope="module")
def pair():
    ir, vi = (np.round(load_grey(p)).astype(np.uint8) for p in demo_pair())
    return ir[:120, :150], vi[:120, :150]


def _fused(ir, vi, seed):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 0.8)
    noise = rng.normal(0, 3, ir.shape)
    return np.clip(w * ir + (1 - w) * vi.astype(float) + noise, 0, 255).round().astype(np.uint8)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])) for k in a)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_scores_after_other_images_equal_fresh_scores(pair, profile):
    ir, vi = pair
    f1, f2 = _fused(ir, vi, 1), _fused(ir, vi, 2)
    clear_caches()
    fresh = compute(f2, ir, vi, profile=profile)
    clear_caches()
    compute(f1, ir, vi, profile=profile)  # fills the memo with the sources' work
    again = compute(f2, ir, vi, profile=profile)
    assert _same(again, fresh)
    swapped = compute(f2, vi, ir, profile=profile)  # the sources' roles exchanged: no stale value reused
    clear_caches()
    assert _same(swapped, compute(f2, vi, ir, profile=profile))


@pytest.mark.parametrize("profile", ["paper", "cddfuse"])
def test_a_source_changed_in_place_is_scored_anew(pair, profile):
    ir, vi = (a.copy() for a in pair)
    f = _fused(ir, vi, 3)
    before = compute(f, ir, vi, profile=profile)
    ir[:40] = 255 - ir[:40]  # the same array object, other content
    after = compute(f, ir, vi, profile=profile)
    clear_caches()
    assert _same(after, compute(f, ir, vi, profile=profile))
    assert not _same(after, before)


def test_source_memo_keys_values_and_size():
    calls = []

    @source_memo(size=2)
    def work(image, k):
        calls.append(k)
        return image.astype(float) * k, [image.sum()]

    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    first = work(a, 2)
    assert work(a.copy(), 2) is first and calls == [2]  # equal content: one computation
    assert work(a, 3) is not first and calls == [2, 3]  # other arguments: another entry
    assert work(a.astype(np.int16), 2) is not first  # other dtype: another entry
    with pytest.raises(ValueError, match="read-only"):
        first[0][0, 0] = 7.0  # what the memo returns cannot be changed behind its back
    assert work.cache_len() == 2  # at most `size` entries, the oldest dropped
    work(a, 2)
    assert calls == [2, 3, 2, 2]  # (a, 2) was the oldest of three entries: dropped, so computed again
    work.cache_clear()
    assert work.cache_len() == 0


@pytest.mark.parametrize("win", [3, 5, 9, 17])
def test_vif_block_sums_equal_the_full_filter_subsampled(win):
    rng = np.random.default_rng(win)
    a = rng.normal(0, 40, (61, 47))
    expected = uniform_filter(a, size=win, mode="mirror")[1::3, 1::3] * (win * win)
    assert np.array_equal(_block_sums(a, win), expected)
