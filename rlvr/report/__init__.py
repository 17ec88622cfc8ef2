"""One self-contained HTML page per run: training curves, held-out gains, controls, audit, rollouts.

    from rlvr.report import write_report
    write_report("runs/add")            # -> runs/add/report.html

The page draws its plots as inline SVG (rlvr.report.svg) and loads nothing: no script, no
stylesheet, no font, no URL; it opens offline. Every string from the run (model output included)
is HTML-escaped.

The commands' own renderings live here too (`format_yield`, `format_gate`, `pipeline_page`, and the
verifier audit's table and HTML fragment, `format_table` and `html_section`): the workflows compute,
this package draws.
"""

from rlvr.report._audit import format_table, html_section
from rlvr.report._commands import format_gate, format_yield, pipeline_page
from rlvr.report._page import build_report, write_report

__all__ = ["build_report", "format_gate", "format_table", "format_yield", "html_section", "pipeline_page",
           "write_report"]
