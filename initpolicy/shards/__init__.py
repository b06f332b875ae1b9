"""Sharded tensors (DTensors: FSDP2, tensor parallel), below every stage that reads a
model: where a rank's shard sits in the global tensor and how its placement reads
(:mod:`.dtensor`), whole-tensor statistics from per-shard moments (:mod:`.moments`).

The tracer, the applier and the linter read these; nothing here reads a stage.
"""
