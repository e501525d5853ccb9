"""ui.latex.fit: long catalog formulas broken into lines that fit the explorer's sidebar (KaTeX never wraps)."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import surfaces
from ui.latex import SIDEBAR_EM, SIZES, fit, lines_of, width_em

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "explorer.py")
SIDEBAR_PX = 240  # the sidebar's content column at its default width (measured in chromium)

# Widths in px of each catalog formula as Streamlit's KaTeX draws it with st.latex (chromium, measured
# on the .base boxes): what the width estimate must track.
MEASURED_PX = {
    "rosenbrock": 199, "beale": 473, "booth": 245, "himmelblau": 251, "rastrigin": 342, "ackley": 567,
    "goldstein_price": 929, "three_hump_camel": 234, "six_hump_camel": 345, "styblinski_tang": 303,
    "levi13": 513, "matyas": 196, "mccormick": 327, "quartic": 60, "saddle": 60, "monkey_saddle": 81,
    "ravine": 341, "cliff": 259, "sharp_flat": 647, "reddi": 391,
}


def test_the_width_estimate_tracks_katex_and_errs_towards_fitting():
    assert set(MEASURED_PX) == set(surfaces.names())
    for name, px in MEASURED_PX.items():
        per_em = px / width_em(surfaces.get(name).formula)
        # never more px per estimated em than the sidebar's budget allows: "fits" in em means fits in px
        assert 17.0 <= per_em <= SIDEBAR_PX / SIDEBAR_EM, (name, per_em)


def test_short_formulas_stay_as_they_are():
    for name in ("rosenbrock", "quartic", "saddle", "monkey_saddle", "matyas"):
        tex = surfaces.get(name).formula
        assert fit(tex) == tex


def test_rastrigin_breaks_before_a_top_level_plus():
    tex = surfaces.get("rastrigin").formula
    assert fit(tex) == (r"\begin{aligned}&20 + x^2 - 10\cos(2\pi x) \\ "
                        r"&\quad + y^2 - 10\cos(2\pi y)\end{aligned}")


def test_sharp_flat_breaks_between_terms_and_after_the_commas():
    out = fit(surfaces.get("sharp_flat").formula)
    assert out.startswith(r"\begin{aligned}&{-}a\,e^")  # a leading sign, not a binary minus after &
    assert lines_of(out) == [r"-a\,e^{-\|p - c_1\|^2 / (2 \cdot 0.15^2)}", r"- e^{-\|p - c_2\|^2 / 2}",
                             r"+ 0.05\,\|p\|^2,", "c_1 = (-1.2, 0.8),", "c_2 = (1.2, -0.6)"]


def test_goldstein_price_breaks_inside_its_brackets_with_fixed_size_delimiters():
    lines = lines_of(fit(surfaces.get("goldstein_price").formula))
    assert len(lines) >= 4 and lines[0].startswith(r"\Bigl[1 + ")
    assert not any(r"\left" in line or r"\right" in line for line in lines)  # those cannot span lines
    assert sum(line.startswith(r"\Bigl[") for line in lines) == 2  # each factor starts a line


def scale_of(out: str) -> float:
    return next((s for cmd, s in SIZES[1:] if out.startswith(cmd)), 1.0)


@pytest.mark.parametrize("name", surfaces.names())
def test_every_catalog_formula_fits_and_keeps_its_symbols(name):
    tex = surfaces.get(name).formula
    out = fit(tex)
    lines = lines_of(out)
    scale = scale_of(out)
    for k, line in enumerate(lines):
        assert (width_em(line) + (1.0 if k else 0.0)) * scale <= SIDEBAR_EM + 1e-9, (name, line)
        assert line.count("{") == line.count("}"), line  # never inside an argument or exponent
        assert len(re.findall(r"\\left(?![a-z])", line)) == len(re.findall(r"\\right(?![a-z])", line)), line

    def symbols(s):  # the formula's own text: no spaces, no line-break spacing, delimiters by their sign
        s = re.sub(r"\\(Bigl|Bigr|left|right)(?![A-Za-z])", "", s)
        return re.sub(r"\s|\\ ", "", s)

    assert symbols("".join(lines)) == symbols(tex)
    if out != tex:
        assert len(lines) > 1 or scale < 1.0


@pytest.mark.slow  # ~1.2 s: Streamlit page runs
def test_the_explorer_sidebar_shows_the_fitted_formula():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["v"] = "1"
    at.query_params["s"] = "rastrigin"
    at.run()
    assert not at.exception
    (latex,) = at.latex
    assert latex.value.strip("$\n") == fit(surfaces.get("rastrigin").formula)
    assert r"\begin{aligned}" in latex.value
