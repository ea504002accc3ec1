"""The HTML audit card and run index, rendered from ``results.json`` alone.

:mod:`~auditkit.report.render` owns the Jinja environment and the writes,
:mod:`~auditkit.report.views` the geometry and formatting the templates draw,
:mod:`~auditkit.report.overview` the chart that opens the card and the index,
and :mod:`~auditkit.report.families` which card partial shows an audit.
"""

from auditkit.report.render import (
    make_environment,
    render_card,
    render_index,
    stock_templates,
    write_card,
    write_index,
)

__all__ = [
    "make_environment",
    "render_card",
    "render_index",
    "stock_templates",
    "write_card",
    "write_index",
]
