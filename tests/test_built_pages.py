"""The built-page checks of tests/built_pages.py find what a reader would see wrong, and only that."""

from pathlib import Path

from tests.built_pages import check_site, page_problems


def cell(source: str, output_class: str | None, output: str = "") -> str:
    out = (f'<div class="cell_output docutils container"><div class="output {output_class}">'
           f"<pre>{output}</pre></div></div>") if output_class else ""
    return (f'<div class="cell docutils container"><div class="cell_input docutils container">'
            f'<div class="highlight"><pre>{source}</pre></div></div>{out}</div>')


def page(*parts: str) -> str:
    return "<html><body><main>" + "".join(parts) + "</main></body></html>"


def test_a_clean_page_has_no_problem():
    html = page("<p>R@1 is 41.2 +- 0.8 points.</p>",
                cell('x = 1\nresults.glue("x", x)', None),
                cell('print(x)\nresults.glue("y", 2)', "stream highlight-myst-ansi", "1"),   # a print, not an echo
                cell("y = float('nan')", "text_plain", "nan"))                                 # nan in code output
    assert page_problems(html) == []


def test_a_glue_that_echoes_its_value_is_found():
    html = page(cell('results.glue("n", 384)', "text_plain", "384"))
    (problem,) = page_problems(html)
    assert "echoes its value" in problem and "results.glue" in problem


def test_nan_and_zero_spread_in_the_prose_are_found():
    problems = page_problems(page("<p>R@1 was nan %.</p><p>Closed form: 12.0 +- 0.0.</p>",
                                  "<p>A loss that becomes NaN stops the run; 3.1 +- 0.05 is fine.</p>"))
    assert len(problems) == 2
    assert "'nan'" in problems[0] and "was nan" in problems[0]
    assert "+- 0.0" in problems[1]


def test_an_unresolved_glue_role_and_a_missing_image_are_found(tmp_path: Path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "fig.png").write_bytes(b"png")
    (tmp_path / "book" / "01_x.html").write_text(page("<p>{glue:text}`r1`</p>", '<img src="fig.png">',
                                                      '<img src="gone.png">'))
    (tmp_path / "book" / "02_y.html").write_text(page("<p>fine</p>", '<img src="fig.png">'))
    report = check_site(tmp_path)
    assert report["02_y.html"] == []
    assert len(report["01_x.html"]) == 2
    assert any("{glue}" in p for p in report["01_x.html"])
    assert any("gone.png" in p for p in report["01_x.html"])


def test_a_figure_shown_twice_is_found():
    def figs(*names):
        out = "".join(f'<div class="output text_png"><img src="../_images/{n}.png"></div>' for n in names)
        return (f'<div class="cell docutils container"><div class="cell_input docutils container"><pre>show()</pre>'
                f'</div><div class="cell_output docutils container">{out}</div></div>')

    assert page_problems(page(figs("aa", "bb"))) == []          # two different figures
    (problem,) = page_problems(page(figs("aa", "bb", "aa")))
    assert "same figure twice" in problem
