"""SURFACE_WORKFLOW_MAP's extra dispatch inputs: read from the surfaces file, checked, never shadowing."""

from __future__ import annotations

import pytest

from raxx_console.status.surfaces import SurfacesFileError, load_surfaces

ENTRY = """
[[surface]]
id = "docs"
name = "Docs"
workflow = "deploy-customer-docs.yml"
target_env = "production"
app = "CF Pages"
"""


def test_extra_inputs_are_read_into_the_map(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(ENTRY + 'dispatch_inputs = { site = "docs" }\n')
    binding = load_surfaces(path).workflow_map()["docs"]
    assert binding.dispatch_inputs("v2") == {"environment": "production", "ref": "v2", "site": "docs"}


@pytest.mark.parametrize("extras", ['{ environment = "staging" }', '{ site = "" }', "{ site = 3 }", '"site"'])
def test_extra_inputs_may_not_shadow_or_be_blank(tmp_path, extras):
    path = tmp_path / "s.toml"
    path.write_text(ENTRY + f"dispatch_inputs = {extras}\n")
    with pytest.raises(SurfacesFileError, match="dispatch_inputs"):
        load_surfaces(path)
