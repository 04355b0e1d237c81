"""The docstring examples of the llrr modules run and give what they show."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["llrr.metrics", "llrr.metrics.paper", "llrr.metrics.standard", "llrr.io"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
