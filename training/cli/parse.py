"""Flag text -> values: numbers, booleans, hyperparameters typed by the optimizer's spec, clippings,
schedules and comma-separated lists; a bad one raises UsageError (one line, exit status 2)."""
from __future__ import annotations

from typing import Any

# the grammar of run values; optimizers/run_text.py is plain Python, but importing it through the
# optimizers package would load torch, which `python -m training --help` does without
_RT = "optimizers.run_text"
NUMBER_TEXT = "a number (finite, like 0.001 or 1e-3)"


def _rt():
    import importlib

    return importlib.import_module(_RT)


def _derivable(p) -> bool:
    """A schedule argument that "auto" (or "none") leaves to its derived value, as links allow."""
    return p.default is None or p.optional


class UsageError(Exception):
    """A bad argument: printed as one line, exit status 2."""


def _bool(text: str) -> bool:
    v = _rt().parse_bool(text)
    if v is None:
        raise ValueError(f"expected true or false, got {text!r}")
    return v


def _number(text: str, kind: str = "float") -> int | float:
    """A number in the one grammar of run values (optimizers/run_text.py): finite, plain decimal or
    exponent form; kind "int": a whole one."""
    v = _rt().parse_float(text.strip())
    if v is None:
        raise ValueError(f"expected {NUMBER_TEXT}, got {text!r}")
    if kind == "int":
        if not v.is_integer():
            raise ValueError(f"expected an integer, got {text!r}")
        return _rt().parse_int(text.strip())
    return v


def _guess(text: str) -> Any:
    """A value whose type nobody declared: bool, number, pair of numbers, else the string."""
    for parse in (_bool, _number):
        try:
            return parse(text)
        except ValueError:
            pass
    if "," in text:
        try:
            return tuple(_number(t) for t in text.split(","))
        except ValueError:
            pass
    return text


def parse_hp(optimizer: str, name: str, text: str) -> Any:
    """A hyperparameter value typed by the optimizer's spec (float, int, bool, pair "0.9,0.999")."""
    import optimizers

    try:
        hp = optimizers.spec(optimizer).hparam(name)
    except KeyError:
        return _guess(text)  # unknown optimizer or name: optimizers.resolve says which, later
    if hp.kind == "bool":
        v = _rt().parse_bool(text)
    elif hp.kind == "pair":
        v = _rt().parse_value("pair", text.replace(" ", ""))
    else:
        v = _rt().parse_value(hp.kind, text.strip())
    if v is None:
        what = {"bool": "true or false", "pair": "two numbers like 0.9,0.999", "int": "an integer"}
        raise UsageError(f"{optimizer}: {name}: expected {what.get(hp.kind, NUMBER_TEXT)}, "
                         f"got {text!r}")
    return v


def parse_clip(text: str) -> tuple[str, float] | None:
    """"none" -> None; "norm:0.25" -> ("norm", 0.25)."""
    from optimizers.clipping import check_clip, clip_kinds

    text = text.strip()
    kind, _, threshold = text.partition(_rt().FLAGS.clip)
    if kind not in clip_kinds():
        raise UsageError(f"unknown clipping {kind!r} in --clip {text}; use none or KIND:THRESHOLD with KIND one of "
                         f"{', '.join(k for k in clip_kinds() if k != 'none')}")
    if kind == "none":
        if threshold:
            raise UsageError(f"--clip none takes no threshold, got {text!r}")
        return None
    if not threshold:
        raise UsageError(f"--clip {kind} needs a threshold, e.g. {kind}:1.0")
    try:
        t = _number(threshold)
        check_clip(kind, t)
    except ValueError as e:
        raise UsageError(f"--clip {text}: {e}") from None
    return (kind, float(t))


def parse_schedule(text: str) -> tuple[str, tuple[tuple[str, Any], ...]] | None:
    """"none" -> None; "one_cycle" or "one_cycle:pct_start=0.3,div_factor=25" -> (name, kw pairs)."""
    from optimizers.schedules import schedule_spec

    text = text.strip()
    name, _, rest = text.partition(":")
    if name in ("none", ""):
        if rest:
            raise UsageError(f"--schedule none takes no arguments, got {text!r}")
        return None
    try:
        spec = schedule_spec(name)
    except (KeyError, ValueError) as e:
        raise UsageError(e.args[0]) from None
    _, items, bad = _rt().split_items(text, _rt().FLAGS)
    if bad:
        raise UsageError(f"--schedule {text}: expected name=value, got {bad[0].strip()!r}")
    kw = []
    for k, v in items:
        try:
            p = spec.param(k)
        except KeyError:
            kw.append((k, _guess(v)))  # optimizers.schedule names the valid ones
            continue
        auto = _derivable(p) and _rt().is_auto(v)
        val = None if auto else _rt().parse_value(p.kind, v.strip(), p.options)
        if val is None and not auto:
            what = {"int": "an integer", "bool": "true or false", "choice": f"one of {', '.join(p.options)}"}
            raise UsageError(f"--schedule {text}: {k}: expected {what.get(p.kind, NUMBER_TEXT)}, got {v!r}")
        kw.append((k, val))
    return (name, tuple(kw))


def parse_then(texts: list[str] | None, first) -> tuple:
    """--then NAME[@STEP][:k=v,...] (repeatable) after the first phase `first` (parse_schedule's value,
    None: constant) -> ((milestone, name, kw pairs), ...). Without @STEP a phase starts where the one
    before it ends: after a warm-up's total_iters (optimizers.chain.natural_length); anywhere else the
    step must be given."""
    from optimizers.chain import MAX_PHASES, natural_length

    at = _rt().AT
    texts = list(texts or [])
    if len(texts) > MAX_PHASES - 1:
        raise UsageError(f"--then: a schedule has at most {MAX_PHASES} phases (the --schedule and "
                         f"{MAX_PHASES - 1} --then), got {len(texts) + 1}")
    prev_name, prev_kw = first if first is not None else ("constant", ())
    prev_start, out = 0, []
    for text in texts:
        head, colon, rest = text.strip().partition(":")
        name, step = _rt().split_phase_head(head)
        if name in ("none", ""):
            raise UsageError(f"--then {text}: name a schedule (--schedule none is the constant first phase)")
        parsed = parse_schedule(name + colon + rest)
        if step is None:
            length = natural_length(prev_name, dict(prev_kw))
            if length is None:
                raise UsageError(f"--then {text}: say the step it starts at, e.g. --then {name}{at}100{colon}{rest} "
                                 f"(it may be left out only after a warm-up, which ends after its total_iters)")
            start = prev_start + length
        else:
            start = _rt().parse_int(step.strip())
            if start is None or start <= prev_start:
                raise UsageError(f"--then {text}: {name}{at}STEP needs a whole-number STEP after {prev_start}, "
                                 f"where the phase before it starts; got {step!r}")
        out.append((start, parsed[0], parsed[1]))
        prev_name, prev_kw, prev_start = parsed[0], parsed[1], start
    return tuple(out)


def split_list(text: str) -> list[str]:
    """Comma-separated values, where "name:k=v,k=v" stays one value (a schedule with arguments)."""
    out: list[str] = []
    for tok in (t.strip() for t in text.split(",")):
        if not tok:
            continue
        if "=" in tok and ":" not in tok and out:
            out[-1] += "," + tok
        else:
            out.append(tok)
    return out


def _numbers(text: str | None, kind: str, flag: str) -> list:
    if text is None:
        return [None]
    try:
        vals = [_number(t, kind) for t in split_list(text)]
    except ValueError as e:
        raise UsageError(f"{flag}: {e}") from None
    if not vals:
        raise UsageError(f"{flag}: no value given")
    return vals
