"""The report model of a run, and the files rendered from it. Renderers read the model; nothing else."""

from zscheck.report.model import Failure, RunReport

__all__ = ["Failure", "RunReport"]
