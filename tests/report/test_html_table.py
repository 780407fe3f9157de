"""html_table: a CSV table as the self-contained, sortable HTML page the report shows inline."""

import base64
import json
import re

import pytest

from cifarflow.cli import main
from cifarflow.report.html_table import table_html, write_html_tables

from workflow_utils import chromium_dom

CSV = (
    "variant,test acc (%),eta,note\n"
    "b10,41.5,0.01,\n"
    "b9,9.25,1e-3,<script>alert(1)</script>\n"
    "a,,nan,x & y\n"
    "b100,100.0,inf,\n"
)


def cells(page: str) -> list[list[str]]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_every_cell_shows_the_csv_text_escaped(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text(CSV.replace("variant", "<b>variant</b>"))
    page = table_html(csv, title="results/tables/t.csv")
    # numbers exactly as the CSV writes them, blanks blank, markup as text
    assert cells(page) == [
        ["b10", "41.5", "0.01", ""],
        ["b9", "9.25", "1e-3", "&lt;script&gt;alert(1)&lt;/script&gt;"],
        ["a", "", "nan", "x &amp; y"],
        ["b100", "100.0", "inf", ""],
    ]
    assert "&lt;b&gt;variant&lt;/b&gt;" in page and "<b>" not in page
    assert page.count("<script>") == 1  # the page's own sorting script only
    assert "<h1>results/tables/t.csv</h1>" in page and "4 rows, 4 columns" in page
    # the CSV itself rides along as the download link's data
    data = re.search(r'<a download="t.csv" href="data:text/csv;base64,([A-Za-z0-9+/=]+)">', page).group(1)
    assert base64.b64decode(data) == csv.read_bytes()
    # nothing is fetched from elsewhere
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_an_empty_csv_is_an_empty_table_and_a_header_only_csv_has_no_rows(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    write_html_tables([tmp_path / "empty.csv", tmp_path / "header.csv"], [tmp_path / "e.html", tmp_path / "h.html"])
    assert "0 rows, 0 columns" in (tmp_path / "e.html").read_text()
    page = (tmp_path / "h.html").read_text()
    assert "0 rows, 2 columns" in page and "<th>a</th>" in page


def test_the_cli_writes_one_page_per_csv_and_refuses_unequal_lists(tmp_path, capsys):
    (tmp_path / "a.csv").write_text("x\n1\n")
    assert main(["table-html", "--csv", str(tmp_path / "a.csv"), "--html", str(tmp_path / "a.html")]) == 0
    assert cells((tmp_path / "a.html").read_text()) == [["1"]]
    status = main(["table-html", "--csv", str(tmp_path / "a.csv"), "--html", str(tmp_path / "1"), str(tmp_path / "2")])
    err = capsys.readouterr().err
    assert status == 1 and err == "cifarflow: error: table-html: 1 CSV files but 2 HTML files\n"


@pytest.mark.slow
def test_a_click_on_a_header_sorts_numbers_as_numbers_with_blanks_last_in_chromium(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text(CSV)
    page = table_html(csv)
    clicks = """<script>
    var th = document.querySelectorAll("th");
    th[1].click(); var up = [].map.call(document.querySelectorAll("tbody tr"), r => r.cells[0].textContent);
    th[1].click(); var down = [].map.call(document.querySelectorAll("tbody tr"), r => r.cells[0].textContent);
    th[0].click(); var names = [].map.call(document.querySelectorAll("tbody tr"), r => r.cells[0].textContent);
    th[2].click(); var etas = [].map.call(document.querySelectorAll("tbody tr"), r => r.cells[0].textContent);
    var out = document.createElement("pre"); out.id = "order";
    out.textContent = JSON.stringify({up: up, down: down, names: names, etas: etas,
      numeric: [].map.call(th, h => h.className)});
    document.body.appendChild(out);
    </script></body>"""
    (tmp_path / "page.html").write_text(page.replace("</body>", clicks))
    dom = chromium_dom(tmp_path / "page.html", tmp_path / "profile")
    order = json.loads(re.search(r'<pre id="order">(.*?)</pre>', dom).group(1).replace("&quot;", '"'))
    assert order["up"] == ["b9", "b10", "b100", "a"]  # 9.25 < 41.5 < 100.0, the blank last
    assert order["down"] == ["b100", "b10", "b9", "a"]  # the blank last either way
    assert order["names"] == ["a", "b9", "b10", "b100"]  # text, digits compared as numbers
    assert order["etas"] == ["b9", "b10", "b100", "a"]  # 1e-3 < 0.01 < inf; nan with the blanks
    assert order["numeric"] == ["", "num", "num", ""]  # number columns are right-aligned
    assert re.search(r"<td[^>]*>x &amp; y</td>", dom)  # the cell text is in the rendered DOM, as text
