"""The formula language: what a person may write, checked on Python's AST before anything runs.

formula  := number | x | y | t | pi | e | formula (+ - * / **) formula | (+ -) formula
          | func(formula) | (formula)          with func in FUNCTIONS; ^ means **
t is the step (1 on the first update, at most MAX_T): a formula in t is a time-varying objective.
Everything else (names, attributes, calls of anything else, strings, comparisons, ...) is
rejected with a FormulaError that says what was wrong.
"""
from __future__ import annotations

import ast
import re
import warnings

MAX_LENGTH = 500  # characters
MAX_DEPTH = 100  # levels of the syntax tree (parentheses, operators, function calls)
MAX_PARENS = 40  # levels of nested parentheses, checked on the text before Python's parser sees it

VARIABLES = ("x", "y", "t")
MAX_T = 1_000_000  # the largest step t a formula is evaluated at (above the engine's step bound, tested)
CONSTANTS = ("pi", "e")
FUNCTIONS = ("sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh", "sinh", "cosh")
OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
UNARY = {ast.USub: "-", ast.UAdd: "+"}

# What a person most likely meant by a construct outside the language, by AST node type.
FORBIDDEN = {
    ast.Attribute: "attribute access (a dot after a name, like x.real) is not allowed",
    ast.Subscript: "indexing or slicing with [...] is not allowed",
    ast.Compare: "comparisons (<, >, ==, ...) are not allowed",
    ast.BoolOp: "'and' / 'or' are not allowed",
    ast.IfExp: "conditional expressions (... if ... else ...) are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.List: "lists [...] are not allowed",
    ast.Tuple: "tuples (a, b) are not allowed: one formula, one value",
    ast.Set: "sets {...} are not allowed",
    ast.Dict: "dictionaries {...} are not allowed",
    ast.JoinedStr: "text (strings) is not allowed",
    ast.FormattedValue: "text (strings) is not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.Starred: "starred expressions (*x) are not allowed",
    ast.Slice: "slices are not allowed",
}


class FormulaError(ValueError):
    """A formula that cannot be accepted; the message says why, in words meant for a person."""


def to_ast(text: str) -> ast.expr:
    """Check `text` and parse it into the body of an ast.Expression; only the syntax is checked here."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula is text, got {type(text).__name__}")
    # Length first: everything after it (the parser included) then works on a small input.
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula is too long (max {MAX_LENGTH} characters, got {len(text)})")
    lead = len(text) - len(text.lstrip())  # columns count in the person's text, leading spaces included
    text = text.strip()
    if not text:
        raise FormulaError("the formula is empty: write an expression in x and y, e.g. x**2 + y**2")
    depth = max_paren_depth(text)
    if depth > MAX_PARENS:
        raise FormulaError(f"nesting is too deep ({depth} levels of brackets, max {MAX_PARENS})")
    source = text.replace("^", "**")  # ^ is a synonym of **; Python's ^ (xor) is not in the language
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal" for "2x": the error says it better
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise FormulaError(syntax_message(text, source, err, lead)) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise FormulaError("nesting is too deep or the formula is too complex to read") from None
    return tree.body


def max_paren_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


def syntax_message(text: str, source: str, err: SyntaxError, lead: int = 0) -> str:
    """'syntax error at column N: ...' with N the 1-based column of the problem in the person's text.

    `text` is the stripped text, `source` the same with each ^ as **, `lead` the number of leading
    spaces the person typed before `text`. Where the text stops before the formula is complete
    ("x**4 + y*", "(x + y"... at the end), N is one past the last character: where something is missing.
    """
    msg = err.msg or "invalid syntax"
    pos = source_position(source, err)  # 0-based index in source, len(source) for its end
    if pos is None:
        return f"syntax error: {msg}"
    if msg.startswith("invalid decimal literal"):  # "2x", "3e": Python points at the number, the problem follows it
        number = re.match(r"\d[\d_]*(\.\d*)?", source[pos:])
        pos += number.end() if number else 0
    col = text_column(text, min(pos, len(source))) + lead
    if pos >= len(source):
        if msg == "invalid syntax":
            msg = "the formula is incomplete: a value is missing at the end"
        where = f"column {col} (the end)"
    else:
        where = f"column {col}"
        if msg == "invalid syntax":
            msg = unexpected(text, col - lead - 1)
    hint = ""
    if re.search(r"\d(?![eE][+-]?\d)[a-zA-Z_(]", text):
        hint = " (write multiplication explicitly, e.g. 2*x, not 2x)"
    elif msg.startswith("unterminated string") or "'" in text or '"' in text:
        hint = " (text in quotes is not allowed)"
    return f"syntax error at {where}: {msg}{hint}"


def source_position(source: str, err: SyntaxError) -> int | None:
    """0-based index in `source` of the error, len(source) where it is the end of the text.

    Python counts err.offset from 1 within line err.lineno and reports the end of the input as offset 0
    (3.11) or past the last character (later versions); both mean the end here.
    """
    if err.offset is None or err.lineno is None:
        return None
    lines = source.split("\n")
    if err.lineno > len(lines):
        return len(source)
    start = sum(len(line) + 1 for line in lines[: err.lineno - 1])
    if err.offset <= 0 or err.offset > len(lines[err.lineno - 1]):
        # the end of the input (an unclosed "(" reports the bracket itself, offset > 0, so it is not here)
        return len(source) if err.lineno == len(lines) else start + len(lines[err.lineno - 1])
    return start + err.offset - 1


def unexpected(text: str, i: int) -> str:
    """'unexpected ...' naming the token that starts at index `i` of the person's text."""
    if i >= len(text):
        return "the formula is incomplete: a value is missing at the end"
    if text[i] in "\r\n":
        return "unexpected line break (write the formula on one line)"
    match = re.match(r"\*\*|//|[A-Za-z_]\w*|\d[\w.]*|\S", text[i:])
    return f"unexpected {short(match.group(0), 12)!r}" if match else "invalid syntax"


def text_column(text: str, pos: int) -> int:
    """1-based column in `text` of 0-based index `pos` in the source where each ^ became **."""
    src = 0  # index in source of text[i]
    for i, ch in enumerate(text):
        width = 2 if ch == "^" else 1  # a ^ spans two source characters: a position inside it is the ^
        if pos < src + width:
            return i + 1
        src += width
    return len(text) + 1


def check(node: ast.AST) -> None:
    """Raise FormulaError unless `node` is in the language; iterative, so deep trees cannot overflow the stack."""
    stack = [(node, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FormulaError(f"nesting is too deep (more than {MAX_DEPTH} levels)")
        check_node(node)
        if isinstance(node, ast.BinOp):
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, ast.UnaryOp):
            stack.append((node.operand, depth + 1))
        elif isinstance(node, ast.Call):
            stack.append((node.args[0], depth + 1))


def check_node(node: ast.AST) -> None:
    """Raise FormulaError unless this one node (not its children) is allowed."""
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or v is None:
            raise FormulaError(f"'{v}' is not allowed: use numbers, x, y, pi, e")
        if isinstance(v, (str, bytes)):
            raise FormulaError("text (strings) is not allowed in a formula")
        if isinstance(v, complex):
            raise FormulaError("complex numbers (like 1j) are not allowed")
        if v is Ellipsis:
            raise FormulaError("'...' is not allowed: use numbers, x, y, pi, e")
        if not isinstance(v, (int, float)):
            raise FormulaError(f"{type(v).__name__} constants are not allowed")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise FormulaError(f"'{node.id}' is a function: call it on a value, e.g. {node.id}(x)")
        if node.id not in VARIABLES + CONSTANTS:
            raise FormulaError(f"unknown name {short(node.id)!r}: use x, y, pi, e (and t, the step)")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in OPERATORS:
            raise FormulaError(f"the operator {op_symbol(node.op)} is not allowed; use + - * / ** (or ^)")
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in UNARY:
            word = {ast.Not: "'not'", ast.Invert: "'~'"}.get(type(node.op), "this unary operator")
            raise FormulaError(f"{word} is not allowed; only unary - and + are")
    elif isinstance(node, ast.Call):
        check_call(node)
    else:
        raise FormulaError(FORBIDDEN.get(type(node), f"{type(node).__name__} is not allowed in a formula"))


def check_call(node: ast.Call) -> None:
    allowed = ", ".join(FUNCTIONS)
    if not isinstance(node.func, ast.Name):
        raise FormulaError(f"only these functions can be called: {allowed}")
    name = node.func.id
    if name not in FUNCTIONS:
        raise FormulaError(f"function {short(name)!r} is not allowed; allowed: {allowed}")
    if node.keywords:
        raise FormulaError(f"{name}() takes one value, not keywords like {name}(x=1)")
    if len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
        raise FormulaError(f"{name}() takes exactly one value, e.g. {name}(x), got {len(node.args)}")


def op_symbol(op: ast.operator) -> str:
    symbols = {ast.Mod: "'%'", ast.FloorDiv: "'//'", ast.MatMult: "'@'", ast.LShift: "'<<'", ast.RShift: "'>>'",
               ast.BitOr: "'|'", ast.BitAnd: "'&'", ast.BitXor: "'^'"}
    return symbols.get(type(op), type(op).__name__)


def short(name: str, n: int = 30) -> str:
    return name if len(name) <= n else name[:n] + "..."
