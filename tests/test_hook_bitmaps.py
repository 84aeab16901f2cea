"""The register_bitmaps hook: a bitmap implementation registered by a local plugin module."""

from __future__ import annotations

from harness.plugins import get_host


def test_hook_register_bitmaps(tmp_path):
    plugin = tmp_path / "vb_hook_bitmaps.py"
    plugin.write_text(
        "from harness import BitmapInfo, hookimpl\n"
        "class SetBitmap(set):\n"
        "    def __init__(self, n_bits, ids=None):\n"
        "        super().__init__(ids or ())\n"
        "        self.n_bits = n_bits\n"
        "@hookimpl\n"
        "def register_bitmaps(register):\n"
        "    register(BitmapInfo('hook-test-bitmap', factory=SetBitmap,\n"
        "                        description='a Python set, for the hook test'))\n")
    try:
        host = get_host([str(plugin)], reload=True)
        status = host.status["vb_hook_bitmaps"]
        assert status.error is None and status.hooks == ["register_bitmaps"]
        entry = host.registry.bitmaps.get_entry("hook-test-bitmap")
        assert entry.provider == "vb_hook_bitmaps"
        bm = entry.info.factory(100, ids=[3, 5])
        assert sorted(bm) == [3, 5] and bm.n_bits == 100
    finally:
        get_host(reload=True)
