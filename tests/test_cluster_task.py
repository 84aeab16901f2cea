"""The ``cluster`` task, its clusterer plugins and datasets, end to end and piece by piece."""

from __future__ import annotations

import textwrap


def test_hook_register_clusterers(tmp_path, vecbench_plugin_host):
    path = tmp_path / "vb_hook_clusterers.py"
    path.write_text(textwrap.dedent("""
        import numpy as np
        from harness import ClustererInfo, Param, hookimpl

        class Halves:
            def __init__(self, n_clusters=2):
                self.n_clusters = n_clusters

            def fit_predict(self, x):
                return (np.arange(len(x)) * self.n_clusters // len(x)).astype(np.int64)

        @hookimpl
        def register_clusterers(register):
            register(ClustererInfo("hook-test-clusterer", factory=Halves,
                                   build_params=(Param("n_clusters", 2, int),),
                                   build_grid={"n_clusters": [2, 3]}))
    """))
    host = vecbench_plugin_host(str(path))
    status = host.status["vb_hook_clusterers"]
    assert status.error is None, status.error
    assert status.hooks == ["register_clusterers"]
    entry = host.registry.clusterers.get_entry("hook-test-clusterer")
    assert entry.provider == "vb_hook_clusterers"
    assert status.provides == {"clusterer": ["hook-test-clusterer"]}
    labels = entry.info.factory(n_clusters=3).fit_predict([[0.0]] * 6)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]
