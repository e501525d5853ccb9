"""The one text grammar of a run's values: links and command-line flags are two spellings of it.

Values (the same in both spellings): numbers in plain decimal/exponent form, finite ("0.001",
"1e-8"; no nan, inf or underscores), whole numbers ("300", also "3e2"), booleans (1/0, true/false,
on/off, yes/no), pairs "a,b" (Adam's betas), a choice by name, and "auto" (or "none") for a
schedule argument left to its derived value. format_value writes the shortest form that reads
back as the same value.

Items: a head and name/value items. The two spellings differ only in their separators:
    link   r0=adam~lr:0.001~betas:0.9,0.999   c0=norm,1    sch0=cosine~T_max:auto~eta_min:0
    flags  --hp lr=0.001 --hp betas=0.9,0.999 --clip norm:1 --schedule cosine:T_max=auto,eta_min=0
A later phase of a chained schedule has the head NAME@STEP, the step where it takes over:
    link   sch0=warmup~start_factor:0.01~total_iters:100   sch0.1=cosine@100~T_max:auto~eta_min:0
    flags  --schedule warmup:start_factor=0.01,total_iters=100 --then cosine@100:eta_min=0
(ui/links.py reads and writes links, training/cli/parse.py reads flags; both parse values here.)
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
INTEGER = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
AUTO = "auto"  # a schedule argument (or the explorer's start) left to its derived default
AUTO_WORDS = (AUTO, "none")
PAIR = ","  # the two numbers of a pair (and of a point)
AT = "@"  # a later phase's schedule and the step it starts at: "cosine@100"
BOOLS = {"1": True, "0": False, "true": True, "false": False, "on": True, "off": False, "yes": True, "no": False}


@dataclass(frozen=True)
class Spelling:
    """Where the two spellings differ: what follows a head, what separates items, name from value."""

    head: str  # between the head (an optimizer, clip kind or schedule name) and its items
    item: str  # between two items
    kv: str  # between an item's name and its value
    clip: str  # between a clip kind and its threshold


LINK = Spelling(head="~", item="~", kv=":", clip=",")
FLAGS = Spelling(head=":", item=",", kv="=", clip=":")


def parse_float(text: str) -> float | None:
    """A finite float written in plain decimal/exponent form (no nan, inf, underscores), else None."""
    if len(text) > 64 or not NUMBER.fullmatch(text):
        return None
    v = float(text)
    return v if math.isfinite(v) else None


def parse_int(text: str) -> int | None:
    """A whole number ("300", also "3e2" or "300.0"), else None."""
    if INTEGER.fullmatch(text):
        return int(text)
    v = parse_float(text)
    return int(v) if v is not None and v.is_integer() and abs(v) < 2**53 else None


def parse_bool(text: str) -> bool | None:
    return BOOLS.get(text.strip().lower())


def parse_value(kind: str, text: str, options: tuple = ()) -> Any:
    """Text as a value of a registry kind (float, int, bool, pair, choice); None if it is not one."""
    if kind == "float":
        return parse_float(text)
    if kind == "int":
        return parse_int(text)
    if kind == "bool":
        return parse_bool(text)
    if kind == "pair":
        parts = text.split(PAIR)
        vals = [parse_float(p) for p in parts] if len(parts) == 2 else [None]
        return None if None in vals else tuple(vals)
    if kind == "choice":
        return text if text in options else None
    return None


def is_auto(text: str) -> bool:
    return text.strip().lower() in AUTO_WORDS


def format_value(v: Any) -> str:
    """A value as text: floats in their shortest round-trip form, bools 1/0, pairs a,b, None auto."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e16:
            return str(int(v))
        mantissa, e, exponent = repr(v).partition("e")
        return f"{mantissa}e{int(exponent)}" if e else mantissa
    if isinstance(v, (tuple, list)):
        return PAIR.join(format_value(e) for e in v)
    if v is None:
        return AUTO
    return str(v)


def format_items(pairs, head: str | None, spelling: Spelling) -> str:
    """"head~a:1~b:2" in links, "head:a=1,b=2" in flags (no head: the items alone)."""
    items = spelling.item.join(f"{k}{spelling.kv}{format_value(v)}" for k, v in pairs)
    if head is None:
        return items
    return f"{head}{spelling.head}{items}" if items else head


def split_items(text: str, spelling: Spelling) -> tuple[str, list[tuple[str, str]], list[str]]:
    """The reverse of format_items: (head, [(name, value text)], [items without a separator]).

    In flags a pair's comma is also the item separator: "betas=0.9,0.999" keeps 0.999 with betas
    (an item without "=" joins the one before it)."""
    head, sep, rest = text.partition(spelling.head)
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    for item in rest.split(spelling.item) if sep else []:
        k, kv, v = item.partition(spelling.kv)
        if kv:
            pairs.append((k.strip() if spelling is FLAGS else k, v))
        elif spelling is FLAGS and pairs and item:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + spelling.item + item)
        elif item:
            bad.append(item)
    return head.strip() if spelling is FLAGS else head, pairs, bad


def phase_head(schedule: str, milestone: int) -> str:
    """"cosine@100": a later phase's schedule and the step where it takes over."""
    return f"{schedule}{AT}{milestone}"


def split_phase_head(head: str) -> tuple[str, str | None]:
    """"cosine@100" -> ("cosine", "100"); "cosine" -> ("cosine", None) (no milestone written)."""
    name, at, step = head.partition(AT)
    return name, step if at else None
