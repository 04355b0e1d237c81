"""The docstring examples of every unrolled module run and give what they show."""

import doctest
import importlib
import pkgutil

import pytest

import unrolled

MODULES = sorted(m.name for m in pkgutil.walk_packages(unrolled.__path__, "unrolled."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
