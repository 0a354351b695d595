"""Reports of a run: report.json (machine) and report.html (a person)."""

from sanitize.report.writer import write_reports

__all__ = ["write_reports"]
