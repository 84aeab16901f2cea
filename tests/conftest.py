"""Test-suite settings shared by every test module."""

from __future__ import annotations

from hypothesis import settings

# Property tests are deterministic: hypothesis draws its examples from a seed fixed per
# test (derandomize) and keeps no example database between runs, so CI and a fresh clone
# run exactly the examples a developer ran. A new example is explored by changing a test,
# not by luck of a run. Per-test settings(...) override only the fields they name.
settings.register_profile("vecbench", derandomize=True, database=None)
settings.load_profile("vecbench")
