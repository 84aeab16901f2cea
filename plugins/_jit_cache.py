"""Keep numba's on-disk cache honest across modules.

numba invalidates a cached function when *its own* source file changes, not when a jitted
function or intrinsic it calls from another module does: after editing
``plugins/_sorted16.py``, ``plugins/_roaring.py`` would go on running machine code built
from the old kernels. A module whose cached functions call into other modules calls
:func:`invalidate_stale` at import with the modules it depends on; when their contents
changed since the last import, its cache files are deleted and numba compiles afresh.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType


def invalidate_stale(module_file: str, *dependencies: ModuleType | str) -> bool:
    """Delete ``module_file``'s numba cache files if ``dependencies`` (modules or source
    paths) changed; True if so.

    The dependencies' hash is kept beside the cache (``__pycache__/<module>.deps``).
    Best effort: an unwritable cache directory is left to numba, which then keeps its
    cache elsewhere (a per-user directory) and rebuilds when files are reinstalled.
    """
    source = Path(module_file)
    cache_dir = source.parent / "__pycache__"
    digest = hashlib.sha256()
    for dep in dependencies:
        path = dep if isinstance(dep, str) else dep.__file__
        digest.update(Path(path).read_bytes())
    want = digest.hexdigest()
    stamp = cache_dir / f"{source.stem}.deps"
    try:
        if stamp.read_text() == want:
            return False
    except OSError:
        pass
    try:
        cache_dir.mkdir(exist_ok=True)
        for pattern in (f"{source.stem}.*.nbi", f"{source.stem}.*.nbc"):
            for path in cache_dir.glob(pattern):
                path.unlink(missing_ok=True)
        stamp.write_text(want)
    except OSError:
        return False
    return True
