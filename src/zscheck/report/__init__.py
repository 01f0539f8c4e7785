"""The report layer: the typed, versioned JSON documents every command writes (`documents`), their
published JSON Schemas (`schemas/`), and the files rendered from them (failures.md, index.html)."""

from zscheck.report._codec import DocumentError
from zscheck.report.documents import (
    DOCUMENTS,
    CapacityReport,
    ContractSummary,
    Document,
    DriftPoint,
    DriftReport,
    Failure,
    Finding,
    LoadResult,
    LoadSummary,
    Phase,
    RunSummary,
)
from zscheck.report.model import RunReport

__all__ = [
    "DOCUMENTS",
    "CapacityReport",
    "ContractSummary",
    "Document",
    "DocumentError",
    "DriftPoint",
    "DriftReport",
    "Failure",
    "Finding",
    "LoadResult",
    "LoadSummary",
    "Phase",
    "RunReport",
    "RunSummary",
]
