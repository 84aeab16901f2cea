"""A vecbench plugin that fails on import, on purpose.

vecbench loads entry points one at a time: this plugin's error is recorded and shown by
``vecbench plugins``, and every other plugin still loads.
"""

raise RuntimeError(
    "vecbench-broken-plugin fails on import on purpose (it stands for a plugin whose "
    "dependency is missing or broken)")
