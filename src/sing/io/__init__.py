"""Reading and writing sing's files: the parquet / safetensors formats and their metadata, provenance,
feature/CLIP pairing by image id, the workflow tables' readers, and the job-log setup. Imports core only."""
