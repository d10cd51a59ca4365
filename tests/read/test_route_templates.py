"""The collector's route templates (microx_route, schema/views/functions.sql) are the
snippet's: the same paths, the same templates, for rows stored before the snippet sent
them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import open_store

PATHS = json.loads((Path(__file__).parents[2] / "sdk_js" / "test" / "route-paths.json").read_text())


def test_paths_stored_as_they_came_group_by_the_snippets_templates(tmp_path: Path) -> None:
    cases = {**PATHS["templates"], **{word: word for word in PATHS["words"]}}
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        _, rows = store.query(
            "SELECT arrayMap(p -> microx_route(p), {paths:Array(String)})",
            {"paths": list(cases)},
        )
        assert dict(zip(cases, rows[0][0], strict=True)) == cases
        # A moment on a page is named by its template: one moment for every contact.
        _, moments = store.query(
            "SELECT microx_moment('click', '', 'button#new', '/contacts/16odw8b'),"
            " microx_moment('route', '', '', '/contacts/x7k2m9p/edit')"
        )
        assert moments == [("button#new @ /contacts/:id", "/contacts/:id/edit")]
