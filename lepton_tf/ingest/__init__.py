"""Ingestion: a folder of files -> passages with titles and locations.

Layer: above `lepton_tf.data` / `lepton_tf.text`, below models; no
TensorFlow import (the chunker's WordPiece runs in Hugging Face
`tokenizers`).

Pure, per-file API (what `lepton-tf index --corpus DIR` and a Beam
pipeline both call):

    scan_folder(dir) -> [(relpath, sha256)]
    iter_passages(path, config, relpath=...) -> Iterator[Passage]
    Chunker(config).chunk(sections, relpath)  # reuse one tokenizer
    parse_file(path) -> [Section]             # .md .txt .rst .html .pdf .jsonl .csv

Records: Section, Passage, ChunkConfig. Errors: ParseError.
Incremental builds: IngestManifest, diff (`lepton_tf.ingest.manifest`).
"""

from lepton_tf.ingest.chunker import Chunker
from lepton_tf.ingest.discovery import scan_folder
from lepton_tf.ingest.errors import ParseError
from lepton_tf.ingest.manifest import FolderChanges, IngestManifest, diff
from lepton_tf.ingest.parsers import SUPPORTED, parse_bytes, parse_file
from lepton_tf.ingest.passage import ChunkConfig, Passage, Section
from lepton_tf.ingest.passages import iter_passages

__all__ = ["SUPPORTED", "ChunkConfig", "Chunker", "FolderChanges", "IngestManifest", "ParseError",
           "Passage", "Section", "diff", "iter_passages", "parse_bytes",
           "parse_file", "scan_folder"]
