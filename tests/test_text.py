"""ui.text.md: visitor text survives Streamlit's Markdown exactly as written (checked in a real browser in
test_browser.py); here, what the escaping does and that plain() undoes it."""
import pytest

from ui.text import WORD_JOINER, md, plain

CASES = ["[Log in again](https://evil.example/login)", "x**2 + y*", "a~b ~~c~~", ":red[alert] :smile:",
         "$x^2$", "<script>alert(1)</script>", "adamw_schedulefree lr=1e-8", "# title", "`code`", "back\\slash",
         "mail me@evil.example or www.evil.example", "plain words 123", "", "é ü ² 漢字"]


@pytest.mark.parametrize("text", CASES)
def test_md_round_trips_and_leaves_no_markup_character_unescaped(text):
    out = md(text)
    assert plain(out) == text
    # every ASCII punctuation character is preceded by a backslash (which CommonMark shows as the character)
    i = 0
    while i < len(out):
        if out[i] == "\\":
            assert out[i + 1] in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
            i += 2
            continue
        assert not ("!" <= out[i] <= "/" or ":" <= out[i] <= "@" or "[" <= out[i] <= "`" or "{" <= out[i] <= "~")
        i += 1


def test_urls_and_addresses_cannot_autolink():
    out = md("see https://evil.example, www.evil.example and me@evil.example")
    assert "://" + WORD_JOINER not in out  # escaped too
    assert ":\\/\\/" + WORD_JOINER in out and "www" + WORD_JOINER in out and "@" + WORD_JOINER in out


def test_non_strings_are_shown_by_str():
    assert plain(md(ValueError("bad *x*"))) == "bad *x*" and md(12) == "12"
