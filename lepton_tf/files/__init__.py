"""Files on disk, the bottom layer: content hashes (`digest`) and version
folders published atomically (`versions`), shared by exports, indexes, the
ingest manifest and the server."""
