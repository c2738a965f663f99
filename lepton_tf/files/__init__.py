"""Files on disk, the bottom layer: content hashes (`digest`), version folders
published atomically (`versions`), shared by exports, indexes, the ingest
manifest and the server, and YAML configuration files read with errors that
name the file (`yaml_file`)."""
