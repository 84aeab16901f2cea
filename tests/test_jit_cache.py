"""numba cache files of a module go when a module it calls into changes, and only then."""

from __future__ import annotations

from plugins._jit_cache import invalidate_stale


def test_cache_of_a_dependent_module_is_dropped_when_a_dependency_changes(tmp_path):
    module, dep = tmp_path / "user.py", tmp_path / "kernels.py"
    module.write_text("x = 1\n")
    dep.write_text("def kernel(): return 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    files = [cache / "user.f-10.py311.nbi", cache / "user.f-10.py311.1.nbc"]
    other = cache / "kernels.g-3.py311.nbi"  # another module's cache is not touched

    def fill():
        for path in [*files, other]:
            path.write_bytes(b"cached")

    fill()
    assert invalidate_stale(str(module), str(dep))  # first import: no stamp yet
    assert not any(p.exists() for p in files) and other.exists()
    fill()
    assert not invalidate_stale(str(module), str(dep))  # unchanged: the cache stays
    assert all(p.exists() for p in files)
    dep.write_text("def kernel(): return 2\n")
    assert invalidate_stale(str(module), str(dep))
    assert not any(p.exists() for p in files) and other.exists()
