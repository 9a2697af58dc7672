"""Renderers: self-contained interactive HTML, a PDF whose pages render to non-blank PNGs, an Excel workbook
read back as numbers, Markdown; template overrides, branding and malformed templates."""

from __future__ import annotations

import base64
import io
import math
import re

import numpy as np
import pytest

from quantray.reports import (
    Branding,
    RenderConfig,
    TemplateError,
    parse_formats,
    render_html,
    render_markdown,
    render_pdf,
    render_report,
    render_xlsx,
)

# a real 1x1 PNG (red pixel)
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def test_html_is_self_contained_with_five_interactive_charts(sample_report, tmp_path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(_PNG)
    cfg = RenderConfig(branding=Branding(name="Acme Capital", logo=str(logo), primary_color="#112233"))
    html = render_html(sample_report, cfg)
    assert not re.search(r"<script[^>]+src=", html) and not re.search(r"<link[^>]+href=\"http", html)
    assert "Plotly.newPlot" in html and len(html) > 3_000_000  # plotly.js inlined
    for chart in ("equity", "drawdown", "monthly", "rolling_sharpe", "distribution"):
        assert f'id="chart-{chart}"' in html
    assert "Acme Capital" in html and "--primary: #112233" in html
    assert "data:image/png;base64," + base64.b64encode(_PNG).decode() in html
    top = sample_report.get_top_performers(10)
    table = html[html.index('id="top"') : html.index("</table>", html.index('id="top"'))]
    assert [m for m in re.findall(r"<td>((?:NYSE|NASDAQ):[A-Z]+)</td>", table)] == [r.tv_symbol for r in top]


def test_pdf_pages_render_to_non_blank_png(sample_report) -> None:
    import pypdfium2 as pdfium

    data = render_pdf(sample_report, RenderConfig(branding=Branding(name="Acme Capital")))
    assert data[:5] == b"%PDF-"
    pdf = pdfium.PdfDocument(data)
    assert len(pdf) >= 3
    text = pdf[0].get_textpage().get_text_range()
    assert "Acme Capital" in text and "2017Q4" in text
    for i in range(len(pdf)):
        img = np.asarray(pdf[i].render(scale=0.6).to_pil().convert("L"), dtype=float)
        ink = (img < 200).mean()
        assert ink > 0.01, f"page {i + 1} is blank ({ink:.3%} ink)"
    charts = np.asarray(pdf[0].render(scale=0.6).to_pil().convert("RGB"), dtype=float)
    assert (np.abs(charts[..., 0] - charts[..., 2]) > 40).mean() > 0.001  # coloured lines, not only text


def test_xlsx_has_a_sheet_per_section_with_numbers_and_formats(sample_report) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(render_xlsx(sample_report)))
    assert {"Summary", "Performers", "Sectors", "Equity", "Settings"} <= set(wb.sheetnames)
    ws = wb["Performers"]
    header = [c.value for c in ws[1]]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == len(sample_report.rows)
    sharpe_col, ret_col = header.index("sharpe"), header.index("total_return")
    for rec in rows:
        row = sample_report.row(rec[1])
        assert isinstance(rec[ret_col], int | float) and not isinstance(rec[ret_col], bool)
        assert rec[ret_col] == pytest.approx(row.metrics["total_return"], rel=1e-12)
        s = row.metrics["sharpe"]
        assert (rec[sharpe_col] is None) if math.isnan(s) else rec[sharpe_col] == pytest.approx(s, rel=1e-12)
    assert ws.cell(2, ret_col + 1).number_format == "0.00%"
    assert [r[1] for r in rows[:10]] == [r.symbol for r in sample_report.get_top_performers(10)]
    eq = wb["Equity"]
    assert eq.max_row - 1 == len(sample_report.equity)
    last = [c.value for c in eq[eq.max_row]]
    col = [c.value for c in eq[1]].index("portfolio")
    assert last[col] == pytest.approx(sample_report.equity["portfolio"].iloc[-1], rel=1e-12)
    summary = {r[0]: r[1:] for r in wb["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert summary["Total return"][0] == pytest.approx(
        sample_report.portfolio_metrics["total_return"], rel=1e-12
    )


def test_markdown_lists_the_top_performers(sample_report) -> None:
    md = render_markdown(sample_report)
    assert md.startswith("# sample — 2017Q4 quarterly report")
    for i, r in enumerate(sample_report.get_top_performers(10), 1):
        assert f"| {i} | {r.tv_symbol} |" in md


def test_template_override_and_malformed_template(sample_report, tmp_path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "report.md.j2").write_text("# {{ brand.name }} {{ report.label }}: {{ top | length }} top\n")
    out = render_markdown(sample_report, RenderConfig(template_dir=str(good), branding=Branding(name="Acme")))
    assert out == "# Acme 2017Q4: 10 top\n"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "report.md.j2").write_text("ok\n{% for r in top %}\n{{ r.symbol }\n")
    with pytest.raises(TemplateError, match=r"report\.md\.j2.* line 3: syntax error"):
        render_markdown(sample_report, RenderConfig(template_dir=str(bad)))
    (bad / "report.md.j2").write_text("{{ no_such_variable }}")
    with pytest.raises(TemplateError, match="'no_such_variable' is undefined"):
        render_markdown(sample_report, RenderConfig(template_dir=str(bad)))
    # a template error writes nothing
    target = tmp_path / "out"
    with pytest.raises(TemplateError):
        render_report(sample_report, "html,md", str(target), config=RenderConfig(template_dir=str(bad)))
    assert not target.exists()


def test_branding_and_formats_validation(tmp_path) -> None:
    from quantray.errors import ConfigError

    with pytest.raises(ConfigError, match="primary_color"):
        Branding(primary_color="blue")
    with pytest.raises(ConfigError, match=r"branding\.logo"):
        Branding(logo=str(tmp_path / "missing.png"))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['colour'\]"):
        RenderConfig.from_dict({"branding": {"colour": "#000000"}})
    with pytest.raises(ConfigError, match=r"valid: \['html', 'pdf', 'xlsx', 'md'\]"):
        parse_formats("html,docx")
