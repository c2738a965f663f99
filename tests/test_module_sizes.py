"""Every module of the package stays small enough to read in one sitting: at most
`MAX_LINES` lines. A module that grows past it is split along a seam (one
concept per file), not allowed to grow."""

import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "lepton_tf"
MAX_LINES = 400


def test_no_module_of_the_package_is_over_400_lines():
    sizes = {path.relative_to(PACKAGE.parent).as_posix():
             len(path.read_text(encoding="utf-8").splitlines())
             for path in PACKAGE.rglob("*.py")}
    assert len(sizes) > 100  # the package was found
    over = {path: n for path, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines (split them along a seam): {over}"
