"""MkDocs hook: the benchmark figures kept under benchmarks/results/ join the site as
``repo/benchmarks/results/...``, so the benchmark pages show the committed figures themselves
(one copy in the repository, none under docs/)."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

FIGURE_FOLDERS = ("benchmarks/results",)
SITE_PREFIX = "repo"


def on_files(files, config):
    root = Path(config.config_file_path).parent
    for folder in FIGURE_FOLDERS:
        for figure in sorted((root / folder).rglob("*.png")):
            uri = f"{SITE_PREFIX}/{figure.relative_to(root).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(figure)))
    return files
