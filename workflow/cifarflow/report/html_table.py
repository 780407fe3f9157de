"""A CSV table as one self-contained HTML page, for Snakemake's report.

The report viewer shows an HTML result inline (in a frame) but offers a CSV only as a download, so
every table the workflow registers for the report is registered as this page instead; the CSV stays
the data file, beside it on disk and inside the page as a download link. The page is written by
pandas (`DataFrame.to_html`, cells and headers escaped) from the CSV read as text, so every cell
shows exactly what the CSV holds; a few lines of inline JavaScript sort the rows when a column
header is clicked (numbers as numbers, blanks last). Nothing is loaded from elsewhere.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from cifarflow.errors import DataError
from cifarflow.io import write_text

__all__ = ["table_html", "write_html_tables"]

_STYLE = """
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 12px; color: #1f2937; }
h1 { font-size: 15px; margin: 0 0 4px; }
p.note { color: #4b5563; margin: 0 0 8px; }
table.cf-table { border-collapse: collapse; }
table.cf-table th, table.cf-table td { border: 1px solid #d1d5db; padding: 2px 6px; white-space: nowrap; }
table.cf-table th { background: #f3f4f6; text-align: left; cursor: pointer; position: sticky; top: 0; }
table.cf-table td.num, table.cf-table th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.cf-table tbody tr:nth-child(even) { background: #f9fafb; }
table.cf-table th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.cf-table th[aria-sort="descending"]::after { content: " \\25BC"; }
"""

# Sorting by a click on a header: a column whose non-blank cells are all numbers (nan and inf
# included) sorts numerically, any other by text with digits compared as numbers; blanks last.
_SCRIPT = """
(function () {
  var table = document.getElementById("cf-table");
  if (!table || !table.tHead || !table.tBodies.length) return;
  var body = table.tBodies[0], heads = table.tHead.rows[table.tHead.rows.length - 1].cells;
  var numeric = /^[-+]?((\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?|inf|nan)$/i;
  function cell(row, i) { return row.cells[i] ? row.cells[i].textContent.trim() : ""; }
  function number(s) {
    var t = s.toLowerCase();
    if (t === "inf" || t === "+inf") return Infinity;
    if (t === "-inf") return -Infinity;
    return parseFloat(s);
  }
  function sorter(i, isNumber) {
    return function () {
      var th = heads[i], ascending = th.getAttribute("aria-sort") !== "ascending";
      for (var h = 0; h < heads.length; h++) heads[h].removeAttribute("aria-sort");
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = cell(a, i), y = cell(b, i), u, v, c;
        if (isNumber) { u = number(x); v = number(y); x = isNaN(u) ? "" : x; y = isNaN(v) ? "" : y; }
        if (x === "" || y === "") return (x === "") - (y === "");
        c = isNumber ? (u < v ? -1 : u > v ? 1 : 0) : x.localeCompare(y, undefined, { numeric: true });
        return ascending ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    };
  }
  for (var i = 0; i < heads.length; i++) {
    var values = [];
    for (var r = 0; r < body.rows.length; r++) { var s = cell(body.rows[r], i); if (s !== "") values.push(s); }
    var isNumber = values.length > 0 && values.every(function (s) { return numeric.test(s); });
    if (isNumber) {
      heads[i].className = "num";
      for (var k = 0; k < body.rows.length; k++) if (body.rows[k].cells[i]) body.rows[k].cells[i].className = "num";
    }
    heads[i].title = "sort by " + heads[i].textContent;
    heads[i].addEventListener("click", sorter(i, isNumber));
  }
})();
"""


def _read_csv_as_text(path: Path) -> pd.DataFrame:
    """Every cell as the text the CSV holds (no float re-formatting, blanks stay blank)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read the table ({exc})") from None


def table_html(csv_path, title: str | None = None) -> str:
    """The page for one CSV file: a heading, the size, a download link to the CSV and the table."""
    csv_path = Path(csv_path)
    df = _read_csv_as_text(csv_path)
    title = title or str(csv_path)
    data = base64.b64encode(csv_path.read_bytes()).decode("ascii")
    rows, cols = df.shape
    table = df.to_html(index=False, escape=True, border=0, table_id="cf-table", classes="cf-table", na_rep="")
    name = html.escape(csv_path.name, quote=True)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f'<p class="note">{rows} rows, {cols} columns; click a column header to sort. The data file: '
        f'<a download="{name}" href="data:text/csv;base64,{data}">{name}</a></p>\n'
        f"{table}\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def write_html_tables(csv_paths, html_paths) -> None:
    """Write one page per CSV file (`html_paths` in the same order)."""
    csv_paths, html_paths = list(csv_paths), list(html_paths)
    if len(csv_paths) != len(html_paths):
        raise DataError(f"table-html: {len(csv_paths)} CSV files but {len(html_paths)} HTML files")
    for csv_path, html_path in zip(csv_paths, html_paths):
        write_text(html_path, table_html(csv_path))
