"""Visitor text shown as text: Streamlit renders Markdown in alerts, captions, labels and progress
texts, so anything a link, a formula, a label or an error message carries goes through md() first.

md() backslash-escapes every ASCII punctuation character (CommonMark shows each as itself: no
links, emphasis, strikethrough, code, math, HTML, :colour[...] or :emoji: directives) and puts an
invisible word joiner (U+2060) after "://", "www" and "@", which GFM would otherwise turn into a
link even when escaped ("https://evil.example" stays readable but is not clickable).
"""
from __future__ import annotations

import re

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # all ASCII punctuation: ! " # ... / : ... @ [ ... ` { ... ~
_AUTOLINK = re.compile(r"://|@|(?i:www)(?=\.)")
WORD_JOINER = "\u2060"


def md(text: object) -> str:
    """`text` (str() of anything) as Markdown that Streamlit shows exactly as written, never as markup."""
    s = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, str(text))
    return _PUNCT.sub(r"\\\1", s)


def plain(markdown: str) -> str:
    """md() undone: the text as a person reads it on the page (tests compare against this)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown)).replace(WORD_JOINER, "")
