"""The docstring examples of every llrr module run and give what they show."""

import doctest
import importlib
import pkgutil

import pytest

import llrr

MODULES = sorted(m.name for m in pkgutil.walk_packages(llrr.__path__, "llrr.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"


def test_the_examples_are_found():
    assert {"llrr.evaluate", "llrr.metrics", "llrr.metrics.vif"} <= set(MODULES)
