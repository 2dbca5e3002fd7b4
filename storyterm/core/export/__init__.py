"""Export a story to a folder of files a writer can use (Markdown, text, JSON, EPUB) and import
an exported story.json back as a new session.

Layout: `<export dir>/<slug>-<first 8 characters of the id>/` holding `part-001.md`, ... (one per
part), `story.md`, `story.txt`, `story.json` and `story.epub` as asked. Every file is staged as
a hidden temporary file in that folder, flushed to disk, and only then renamed over the old one,
all files after all writes succeeded: a full disk or a read-only folder leaves the earlier export
exactly as it was and no temporary file behind. Nothing is ever written outside the export
directory, whatever the title and whatever links sit in the way.

Where each part lives:

- `exporter`: `export_session`, the one entry point: which files, in what order, what is swept.
- `naming`: folder and part file names, safe from any title.
- `folder`: the export folder, proven to lie inside the export directory; OS errors in words.
- `staging`: the atomic temp-file-then-rename stage, and putting files on disk.
- `formats`: part files, story.md, story.txt and story.json records (pure text, no files).
- `epub`: story.epub (EbookLib and markdown-it, both loaded only when an EPUB is asked for).
- `story_file`: story.json read back in, checked whole, and `import_story`.
"""

from __future__ import annotations

from storyterm.core.export.exporter import DEFAULT_FORMATS, FORMATS, ExportResult, export_session
from storyterm.core.export.naming import MAX_SLUG, folder_name, part_file_name, slugify
from storyterm.core.export.staging import TEMP_PREFIX
from storyterm.core.export.story_file import FORMAT_MARKER, FORMAT_VERSION, import_story

__all__ = [
    "DEFAULT_FORMATS",
    "FORMATS",
    "FORMAT_MARKER",
    "FORMAT_VERSION",
    "MAX_SLUG",
    "TEMP_PREFIX",
    "ExportResult",
    "export_session",
    "folder_name",
    "import_story",
    "part_file_name",
    "slugify",
]
