"""The user documentation holds together: every relative link of README.md, CONTRIBUTING.md and docs/*.md
names a file or folder of the repository, every `#anchor` a heading of its target (GitHub's rule for
heading ids), and each `<!-- readme-test: ... -->` marker stands right before a shell block, which a test
can then run. Links to other sites and code inside fences or backticks are not looked at.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([REPO_ROOT / "README.md", REPO_ROOT / "CONTRIBUTING.md", *(REPO_ROOT / "docs").glob("*.md")])
_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_INLINE_CODE = re.compile(r"`[^`]*`")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_MARKER = re.compile(r"^<!-- readme-test: [a-z0-9-]+ -->$")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's heading id: lower case, markup and punctuation dropped (hyphens and underscores kept),
    spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose(path.read_text()):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = _slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The relative link targets, also of links that wrap onto the next line."""
    prose = _INLINE_CODE.sub("", "\n".join(_prose(path.read_text())))
    return [
        target
        for target in _LINK.findall(prose)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # https:, mailto:, ...
    ]


def test_the_anchor_rule() -> None:
    assert _slug("Offboarding: what a delete clears first") == "offboarding-what-a-delete-clears-first"
    assert _slug("Adoption (`adoptionPolicy`)") == "adoption-adoptionpolicy"
    assert _slug("The leader's logs") == "the-leaders-logs"
    assert _slug("High availability: two replicas and a Lease") == "high-availability-two-replicas-and-a-lease"


def test_the_documents_exist() -> None:
    names = {path.relative_to(REPO_ROOT).as_posix() for path in DOCS}
    assert {"README.md", "CONTRIBUTING.md", "docs/reference.md", "docs/configuration.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for target in links(path):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(REPO_ROOT)}")
    assert broken == []


def test_the_readme_stays_short() -> None:
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 350


def test_each_readme_test_marker_stands_before_a_shell_block() -> None:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    markers = [index for index, line in enumerate(lines) if line.startswith("<!-- readme-test")]
    assert markers, "the install path is marked for a test to run"
    for index in markers:
        assert _MARKER.match(lines[index]), lines[index]
        assert lines[index + 1] == "```sh", f"line {index + 2}: a marker must come right before a ```sh fence"


def test_every_reason_is_in_the_conditions_table() -> None:
    from userprofile_operator.conditions import Reason

    reference = (REPO_ROOT / "docs" / "reference.md").read_text()
    table = reference[reference.index("## Conditions and reasons") : reference.index("### Events")]
    assert [reason.value for reason in Reason if f"`{reason.value}`" not in table] == []
