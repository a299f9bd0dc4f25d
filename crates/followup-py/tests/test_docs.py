"""The docstring examples of the package run."""

import doctest

import pytest

import followup
import followup._errors
import followup._followups
import followup.pool


@pytest.mark.parametrize(
    "module", [followup, followup.pool, followup._errors, followup._followups])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
