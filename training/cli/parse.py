"""Flag text -> values: numbers, booleans, hyperparameters typed by the optimizer's spec, clippings,
schedules and comma-separated lists; a bad one raises UsageError (one line, exit status 2)."""
from __future__ import annotations

from typing import Any


class UsageError(Exception):
    """A bad argument: printed as one line, exit status 2."""


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _number(text: str, kind: str = "float") -> int | float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if kind == "int":
        if not v.is_integer():
            raise ValueError(f"expected an integer, got {text!r}")
        return int(v)
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
    try:
        if hp.kind == "bool":
            return _bool(text)
        if hp.kind == "pair":
            parts = text.split(",")
            if len(parts) != 2:
                raise ValueError(f"expected two numbers like 0.9,0.999, got {text!r}")
            return tuple(_number(p) for p in parts)
        return _number(text, "int" if hp.kind == "int" else "float")
    except ValueError as e:
        raise UsageError(f"{optimizer}: {name}: {e}") from None


def parse_clip(text: str) -> tuple[str, float] | None:
    """"none" -> None; "norm:0.25" -> ("norm", 0.25)."""
    from optimizers.clipping import check_clip, clip_kinds

    text = text.strip()
    kind, _, threshold = text.partition(":")
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
    kw = []
    for item in filter(None, (s.strip() for s in rest.split(","))):
        k, eq, v = item.partition("=")
        if not eq:
            raise UsageError(f"--schedule {text}: expected name=value, got {item!r}")
        k = k.strip()
        try:
            p = spec.param(k)
        except KeyError:
            kw.append((k, _guess(v)))  # optimizers.schedule names the valid ones
            continue
        try:
            if p.optional and v.strip().lower() == "none":
                val: Any = None
            elif p.kind == "int":
                val = _number(v, "int")
            elif p.kind == "float":
                val = _number(v)
            elif p.kind == "bool":
                val = _bool(v)
            else:
                val = v.strip()
        except ValueError as e:
            raise UsageError(f"--schedule {text}: {k}: {e}") from None
        kw.append((k, val))
    return (name, tuple(kw))


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
