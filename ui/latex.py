"""A formula's LaTeX broken into lines that fit a narrow column (the sidebar), pure and testable.

KaTeX never wraps a display formula: a long one (rastrigin, goldstein_price, sharp_flat) ran past the
sidebar's edge and was cut off. fit() estimates the rendered width (in em of KaTeX's display font)
and, where it is too wide, breaks the formula before a top-level + or - (or after ",\\ ") into an
`aligned` block, continuation lines indented; where a part is still too wide it breaks inside
parentheses, and \\left...\\right pairs (which cannot span lines) become fixed-size \\Bigl...\\Bigr.
"""
from __future__ import annotations

import re

SIDEBAR_EM = 11.0  # the sidebar's content column (240 px at its default width) in em of st.latex's font
INDENT_EM = 1.0  # a continuation line's \quad
SIZES = (("", 1.0), (r"\small", 0.9), (r"\footnotesize", 0.8), (r"\scriptsize", 0.7))  # where no break is left
LEVEL_EM = 6.0  # a break one bracket level deeper must save this much unused width to be chosen

# Widths in em of KaTeX's math fonts (close enough to choose where to break; tests measure the real thing).
_BINARY = 1.22  # + - = with the medium spaces around them
_COMMANDS = {",": 0.17, "!": -0.17, " ": 0.33, ";": 0.28, "quad": 1.0, "qquad": 2.0, "cdot": 0.78, "|": 0.5,
             "left": 0.08, "right": 0.08, "Bigl": 0.08, "Bigr": 0.08, "bigl": 0.0, "bigr": 0.0, "cdots": 1.6}
_SPACING = {",", "!", " ", ";", "quad", "qquad"}
_FUNCTIONS = {"sin", "cos", "tan", "exp", "log", "tanh", "sinh", "cosh", "ln", "max", "min"}
_TOKEN = re.compile(r"\\([A-Za-z]+|.)|(\s+)|(.)", re.S)


def fit(tex: str, width: float = SIDEBAR_EM) -> str:
    """`tex` as is where it fits `width` em; else an aligned block of lines that do, continuation lines
    indented. First choice: breaks between top-level terms only, at full size or slightly smaller
    (\\small, \\footnotesize); then breaks inside brackets too (\\left...\\right turned into \\Bigl...\\Bigr
    where a break falls inside); a line no break can shorten makes the whole formula smaller.
    The formula's symbols are unchanged."""
    if width_em(tex) <= width:
        return tex
    for size, scale in SIZES[:3]:
        lines = _wrap(tex, width / scale, max_level=0)
        if _widest(lines) <= width / scale:
            return _block(lines, size)
    lines = _wrap(tex, width)
    if _widest(lines) > width:
        sized = _fixed_delimiters(tex)
        if sized != tex:
            lines = _wrap(sized, width)
    widest = _widest(lines)
    size = next((cmd for cmd, scale in SIZES if widest * scale <= width), SIZES[-1][0])
    return _block(lines, size)


def _widest(lines: list[str]) -> float:
    return max(width_em(line) + (INDENT_EM if k else 0.0) for k, line in enumerate(lines))


def _block(lines: list[str], size: str) -> str:
    if len(lines) == 1:
        return f"{size}{{{lines[0]}}}" if size else lines[0]
    first = "{-}" + lines[0][1:] if lines[0].startswith("-") else lines[0]  # a sign, not a binary minus after &
    body = r" \\ ".join([f"&{first}", *(rf"&\quad {line}" for line in lines[1:])])
    return rf"{size}\begin{{aligned}}{body}\end{{aligned}}"


def lines_of(tex: str) -> list[str]:
    """The lines fit() made, without the aligned scaffolding (tests and width checks)."""
    tex = re.sub(r"^\\(small|footnotesize|scriptsize)(?![A-Za-z])", "", tex)
    m = re.fullmatch(r"\\begin\{aligned\}(.*)\\end\{aligned\}", tex, re.S)
    if not m:
        return [tex[1:-1] if tex.startswith("{") and tex.endswith("}") else tex]
    lines = [re.sub(r"^&(\\quad )?", "", line.strip()) for line in m.group(1).split(r" \\ ")]
    return [("-" + lines[0][3:]) if lines[0].startswith("{-}") else lines[0], *lines[1:]]


def width_em(tex: str, script: bool = False) -> float:
    """Estimated width of `tex` rendered by KaTeX in display mode, in em (script: inside a super- or
    subscript, where + and - get no spaces around them; the 0.7 scale is the caller's)."""
    total, i = 0.0, 0
    tokens = _tokens(tex)
    operand = False  # whether what came before ends an operand (so a + or - after it is binary)
    while i < len(tokens):
        kind, text = tokens[i]
        i += 1
        if kind == "space" or text in "{}" and kind == "char":
            continue
        if kind == "cmd" and text in ("frac", "tfrac", "dfrac"):
            num, i = _group(tokens, i)
            den, i = _group(tokens, i)
            total += max(width_em(num), width_em(den)) * (0.7 if text == "tfrac" else 1.0) + 0.36
        elif kind == "cmd" and text in ("text", "mathrm", "operatorname"):
            arg, i = _group(tokens, i)
            total += 0.45 * len(arg)
        elif kind == "cmd" and text == "sqrt":
            arg, i = _group(tokens, i)
            total += width_em(arg) + 0.85
        elif kind == "char" and text in "^_":
            arg, i = _group(tokens, i)
            total += 0.7 * width_em(arg, script=True) + 0.12
        elif kind == "cmd":
            total += _command_width(text)
            if text in _SPACING:
                continue
            operand = text not in ("cdot", "left", "Bigl", "bigl")
            continue
        elif text in "+-=<>":
            total += 0.78 if not operand or script else _BINARY
            operand = False
            continue
        else:
            total += _char_width(text)
            operand = text not in "([,;"
            continue
        operand = True
    return total


def _command_width(name: str) -> float:
    if name in _COMMANDS:
        return _COMMANDS[name]
    if name in _FUNCTIONS:
        return 0.45 * len(name)
    return 0.62  # a Greek letter or a symbol


def _char_width(ch: str) -> float:
    if ch.isdigit():
        return 0.5
    if ch.isalpha():
        return 0.5
    if ch in "()[]":
        return 0.39
    if ch in ".,;|":
        return 0.28 + (0.17 if ch == "," else 0.0)
    return 0.5


def _tokens(tex: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(tex):
        if m.group(1) is not None:
            out.append(("cmd", m.group(1)))
        elif m.group(2) is not None:
            out.append(("space", m.group(2)))
        else:
            out.append(("char", m.group(3)))
    return out


def _group(tokens: list[tuple[str, str]], i: int) -> tuple[str, int]:
    """The LaTeX of the argument starting at tokens[i] (a {...} group or one token) and the index after it."""
    while i < len(tokens) and tokens[i][0] == "space":
        i += 1
    if i >= len(tokens):
        return "", i
    if tokens[i] != ("char", "{"):
        return _text(tokens[i]), i + 1
    depth, j = 0, i
    while j < len(tokens):
        if tokens[j] == ("char", "{"):
            depth += 1
        elif tokens[j] == ("char", "}"):
            depth -= 1
            if depth == 0:
                return "".join(_text(t) for t in tokens[i + 1:j]), j + 1
        j += 1
    return "".join(_text(t) for t in tokens[i + 1:]), len(tokens)


def _text(token: tuple[str, str]) -> str:
    kind, text = token
    if kind != "cmd":
        return text
    return "\\" + text + (" " if text[-1].isalpha() else "")


def _breaks(tex: str) -> list[tuple[int, int]]:
    """(index, level): places where a line may end before tex[index]; level = depth of plain brackets.

    Never inside {...} (arguments, exponents) or between \\left and its \\right."""
    out = []
    brace = lr = paren = 0
    i = 0
    n = len(tex)
    while i < n:
        ch = tex[i]
        if tex.startswith(r"\left", i) and not tex[i + 5:i + 6].isalpha():
            lr += 1
            i += 5 + (2 if tex[i + 5:i + 6] == "\\" else 1)
            continue
        if tex.startswith(r"\right", i) and not tex[i + 6:i + 7].isalpha():
            lr -= 1
            i += 6 + (2 if tex[i + 6:i + 7] == "\\" else 1)
            if brace == 0 and lr == 0 and tex.startswith(r"\left", i):  # between two big brackets: a product
                out.append((i, paren))
            continue
        if ch == "\\":  # any other command (\cos, \Bigl, \,): its letters are no break points
            i += 2
            continue
        if ch == "{":
            brace += 1
        elif ch == "}":
            brace -= 1
        elif ch in "([":
            paren += brace == 0 and lr == 0
        elif ch in ")]":
            paren -= brace == 0 and lr == 0
            if brace == 0 and lr == 0 and tex.startswith(("(", "[", r"\Bigl", r"\bigl", r"\left"), i + 1):
                out.append((i + 1, paren))  # between two bracketed factors: a product
        elif brace == 0 and lr == 0:
            if ch in "+-" and tex[i - 1:i] == " " and tex[i + 1:i + 2] == " " and _operand_before(tex, i - 1):
                out.append((i, paren))
            elif ch == "," and tex.startswith(",\\ ", i):
                out.append((i + 1, paren))  # after the comma; the "\\ " after it is dropped at a line break
        i += 1
    return out


def _operand_before(tex: str, space: int) -> bool:
    """Whether the text before tex[space] (a space) ends an operand, so the + or - after it is binary."""
    before = tex[:space].rstrip()
    return bool(before) and before[-1] not in "([{,=+-" and not before.endswith(("\\left(", "\\left["))


def _wrap(tex: str, width: float, max_level: int | None = None) -> list[str]:
    """Greedy lines: from each line's start, the break that best balances filling the line against
    breaking deep inside brackets (LEVEL_EM of unused width per bracket level)."""
    points = [(i, lv) for i, lv in _breaks(tex) if max_level is None or lv <= max_level]
    lines, start = [], 0
    while True:
        budget = width - (INDENT_EM if lines else 0.0)
        rest = _piece(tex, start, len(tex))
        if width_em(rest) <= budget:
            break
        candidates = [(i, lv) for i, lv in points if i > start and _piece(tex, start, i)]
        if not candidates:
            break
        fitting = [(budget - width_em(_piece(tex, start, i)) + LEVEL_EM * lv, -i, i) for i, lv in candidates
                   if width_em(_piece(tex, start, i)) <= budget]
        cut = min(fitting)[2] if fitting else candidates[0][0]  # nothing fits: the shortest overflow
        lines.append(_piece(tex, start, cut))
        start = cut
    lines.append(_piece(tex, start, len(tex)))
    return [line for line in lines if line]


def _piece(tex: str, start: int, end: int) -> str:
    """tex[start:end] as a line: without the spaces (and a "\\ " spacing command) at either end."""
    piece = tex[start:end].strip()
    piece = piece[2:].lstrip() if piece.startswith("\\ ") else piece
    return piece


def _fixed_delimiters(tex: str) -> str:
    r"""\left( ... \right) as \Bigl( ... \Bigr): the same brackets, a fixed size, free to span lines."""
    return re.sub(r"\\right(?![A-Za-z])", r"\\Bigr", re.sub(r"\\left(?![A-Za-z])", r"\\Bigl", tex))
