"""The docstring examples of every solvers module run and give what they show."""

import doctest
import importlib
import pkgutil

import pytest

import solvers

MODULES = sorted(m.name for m in pkgutil.iter_modules(solvers.__path__, "solvers."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
