"""The extractor: record a model's own init code, write it as a policy, prove the policy
plans the same (docs/extract.md). A stage after the planner: it reads the catalog, the
language, the tracer and the planner, and never the applier, the linter or the CLI.

>>> result = extract(record(build_model))       # doctest: +SKIP
>>> print(result.text)                          # doctest: +SKIP
"""

from .provenance import dumps, to_json
from .recorder import Recorder
from .run import ExtractResult, Recording, check, extract, record

__all__ = [
    "ExtractResult",
    "Recorder",
    "Recording",
    "check",
    "dumps",
    "extract",
    "record",
    "to_json",
]
