"""Pictures people would rather look at than numbers.

- `grids`: PNG result grids (search, pairs, duplicate groups, matches, two images side by side).
- `report`: one self-contained HTML report (thumbnails inlined, sortable tables, command and date).
- `maps`: the embedding space of a library as an interactive HTML scatter or a PNG with thumbnails.
- `charts`: precision@k curves for `eval --plot`.

Only Pillow is imported here; plotly, matplotlib, faiss and umap load inside the functions that use them.
"""

from __future__ import annotations

from .grids import (
    Member,
    duplicates_grid,
    match_grid,
    pairs_grid,
    result_grid,
    search_grid,
    side_by_side,
)
from .layout import GridStyle

__all__ = ["GridStyle", "Member", "duplicates_grid", "match_grid", "pairs_grid", "result_grid", "search_grid",
           "side_by_side"]
