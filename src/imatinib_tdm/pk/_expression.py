"""A small, safe expression language for population PK model parameters.

Model files (built-in or written by a centre) give each individual PK parameter as an expression
such as ``"TVCL * (weight_kg/80)**0.301 * exp(ETA_CL)"``. This module turns such a string into an
immutable tree once (:func:`compile_expression`) and evaluates the tree on numpy arrays
(:func:`evaluate_expression`).

Safety: the text is parsed with :func:`ast.parse` and only a whitelist of node types is accepted;
anything else (attribute access, subscripts, calls to names outside the function whitelist, lambdas,
comprehensions, strings, names starting with an underscore, ...) raises
:class:`~imatinib_tdm.errors.ModelDefinitionError`. Nothing is ever passed to ``eval``/``exec``, and
every number is a float64, so ``9**9**9`` overflows to ``inf`` instead of exhausting memory.

Grammar (Python syntax, subset)::

    expr     := expr "if" expr "else" expr
              | expr ("or" | "and") expr | "not" expr
              | expr CMP expr [CMP expr ...]           CMP in  < <= > >= == !=
              | expr ("+" | "-" | "*" | "/" | "**") expr
              | ("-" | "+") expr | "(" expr ")"
              | NUMBER | NAME | FUNC "(" expr ["," expr ...] ")"
    FUNC     := exp | log | sqrt | abs   (1 argument)
              | min | max                (2 or more arguments, elementwise)
              | where                    (3 arguments: condition, value if true, value if false)

Semantics are elementwise (numpy broadcasting). Comparisons and logical operators give 1.0 (true) or
0.0 (false); a condition is true when it is non-zero. ``a if c else b`` and ``where(c, a, b)`` are
identical and evaluate both branches (values of the discarded branch, even ``nan`` or ``inf``, do
not matter). Floating-point warnings are silenced during evaluation: callers check that the result
is finite.

This module imports only numpy and :mod:`imatinib_tdm.errors`.
"""

from __future__ import annotations

import ast
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imatinib_tdm.errors import ModelDefinitionError

__all__ = [
    "FUNCTIONS",
    "Expression",
    "compile_expression",
    "evaluate_expression",
]

FloatArray = NDArray[np.float64]

MAX_EXPRESSION_LENGTH = 2000
"""Longest accepted expression, in characters (a guard against pathological input)."""

FUNCTIONS: Mapping[str, tuple[int, int | None]] = {
    "exp": (1, 1),
    "log": (1, 1),
    "sqrt": (1, 1),
    "abs": (1, 1),
    "min": (2, None),
    "max": (2, None),
    "where": (3, 3),
}
"""Allowed function names and their (minimum, maximum) number of arguments (None = unbounded)."""


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Const:
    value: float


@dataclass(frozen=True)
class _Name:
    name: str


@dataclass(frozen=True)
class _Unary:
    op: str  # "neg" | "pos" | "not"
    operand: _Node


@dataclass(frozen=True)
class _Binary:
    op: str  # "+" | "-" | "*" | "/" | "**"
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Compare:
    ops: tuple[str, ...]  # "<" "<=" ">" ">=" "==" "!="
    operands: tuple[_Node, ...]  # len(ops) + 1


@dataclass(frozen=True)
class _Logical:
    op: str  # "and" | "or"
    values: tuple[_Node, ...]


@dataclass(frozen=True)
class _IfElse:
    condition: _Node
    then: _Node
    otherwise: _Node


@dataclass(frozen=True)
class _Call:
    function: str
    args: tuple[_Node, ...]


_Node = _Const | _Name | _Unary | _Binary | _Compare | _Logical | _IfElse | _Call


@dataclass(frozen=True)
class Expression:
    """A compiled expression: an immutable, picklable tree plus the names it reads.

    Attributes
    ----------
    source : str
        The text the expression was compiled from (kept for messages and reports; not compared).
    names : frozenset of str
        Every variable name the expression reads (function names excluded).
    tree : object
        The private syntax tree; evaluate it with :func:`evaluate_expression`.

    See Also
    --------
    compile_expression : build one from text.
    evaluate_expression : evaluate it on arrays.
    """

    source: str = field(compare=False)
    names: frozenset[str]
    tree: _Node = field(repr=False)

    @property
    def is_constant(self) -> bool:
        """True when the expression reads no variable."""
        return not self.names


# --- compilation ------------------------------------------------------------------------------

_BINARY_OPS: Mapping[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_COMPARE_OPS: Mapping[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_UNARY_OPS: Mapping[type[ast.unaryop], str] = {ast.USub: "neg", ast.UAdd: "pos", ast.Not: "not"}


def compile_expression(source: str | float, *, context: str = "expression") -> Expression:
    """Parse and check an expression once.

    Parameters
    ----------
    source : str or float
        The expression text, or a bare number (YAML/TOML may give ``1`` rather than ``"1"``).
    context : str, default="expression"
        Where the expression comes from, for error messages, e.g.
        ``"model 'widmer2006_base', parameter 'cl_l_per_h'"``.

    Returns
    -------
    Expression

    Raises
    ------
    ModelDefinitionError
        The text is not valid syntax, is too long, or contains anything outside the whitelist
        (the message names ``context`` and the offending piece).

    Examples
    --------
    >>> expr = compile_expression("TVCL * (weight_kg/70)**0.75 * exp(ETA_CL)")
    >>> sorted(expr.names)
    ['ETA_CL', 'TVCL', 'weight_kg']
    >>> float(evaluate_expression(expr, {"TVCL": 10.0, "weight_kg": 70.0, "ETA_CL": 0.0})[()])
    10.0
    """
    if isinstance(source, bool) or not isinstance(source, str | int | float):
        raise ModelDefinitionError(
            f"{context}: an expression must be a string or a number, got {type(source).__name__}",
            context=context,
        )
    text = source if isinstance(source, str) else repr(float(source))
    if not text.strip():
        raise ModelDefinitionError(f"{context}: the expression is empty", context=context)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ModelDefinitionError(
            f"{context}: the expression has {len(text)} characters; at most "
            f"{MAX_EXPRESSION_LENGTH} are allowed",
            context=context,
        )
    try:
        parsed = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ModelDefinitionError(
            f"{context}: invalid expression {text!r}: {exc.msg}", context=context
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise ModelDefinitionError(
            f"{context}: expression {text!r} could not be parsed (too deeply nested?)",
            context=context,
        ) from None
    names: set[str] = set()
    try:
        tree = _convert(parsed.body, text, context, names)
    except RecursionError:
        raise ModelDefinitionError(
            f"{context}: expression {text!r} is too deeply nested", context=context
        ) from None
    return Expression(source=text, names=frozenset(names), tree=tree)


def _refuse(node: ast.AST, text: str, context: str, what: str) -> ModelDefinitionError:
    piece = ast.get_source_segment(text.strip(), node) or type(node).__name__
    return ModelDefinitionError(
        f"{context}: {what} is not allowed in expressions: {piece!r} (in {text!r}). Allowed: "
        "numbers, declared names, + - * / **, comparisons, and/or/not, 'a if c else b', and "
        f"the functions {', '.join(FUNCTIONS)}",
        context=context,
        offending=piece,
    )


def _convert(node: ast.AST, text: str, context: str, names: set[str]) -> _Node:
    """Convert one whitelisted ast node into a tree node (recursive)."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(node, text, context, "a non-numeric constant")
        return _Const(float(value))
    if isinstance(node, ast.Name):
        if not isinstance(node.ctx, ast.Load):
            raise _refuse(node, text, context, "assignment")
        if node.id.startswith("_"):
            raise _refuse(node, text, context, "a name starting with an underscore")
        if node.id in FUNCTIONS:
            raise _refuse(node, text, context, "a function name used without calling it")
        names.add(node.id)
        return _Name(node.id)
    if isinstance(node, ast.UnaryOp):
        unary = _UNARY_OPS.get(type(node.op))
        if unary is None:
            raise _refuse(node, text, context, f"the operator {type(node.op).__name__}")
        return _Unary(unary, _convert(node.operand, text, context, names))
    if isinstance(node, ast.BinOp):
        binary = _BINARY_OPS.get(type(node.op))
        if binary is None:
            raise _refuse(node, text, context, f"the operator {type(node.op).__name__}")
        return _Binary(
            binary,
            _convert(node.left, text, context, names),
            _convert(node.right, text, context, names),
        )
    if isinstance(node, ast.Compare):
        ops: list[str] = []
        for op in node.ops:
            compare = _COMPARE_OPS.get(type(op))
            if compare is None:
                raise _refuse(node, text, context, f"the comparison {type(op).__name__}")
            ops.append(compare)
        operands = (node.left, *node.comparators)
        return _Compare(tuple(ops), tuple(_convert(o, text, context, names) for o in operands))
    if isinstance(node, ast.BoolOp):
        logical = "and" if isinstance(node.op, ast.And) else "or"
        return _Logical(logical, tuple(_convert(v, text, context, names) for v in node.values))
    if isinstance(node, ast.IfExp):
        return _IfElse(
            _convert(node.test, text, context, names),
            _convert(node.body, text, context, names),
            _convert(node.orelse, text, context, names),
        )
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):
            raise _refuse(node, text, context, "attribute access")
        if not isinstance(node.func, ast.Name):
            raise _refuse(node, text, context, "calling anything but a whitelisted function")
        function = node.func.id
        if function not in FUNCTIONS:
            raise _refuse(node, text, context, f"calling {function!r}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise _refuse(node, text, context, "keyword or starred arguments")
        low, high = FUNCTIONS[function]
        if len(node.args) < low or (high is not None and len(node.args) > high):
            expected = str(low) if low == high else f"at least {low}"
            raise ModelDefinitionError(
                f"{context}: {function}() takes {expected} argument(s), got {len(node.args)} "
                f"(in {text!r})",
                context=context,
            )
        return _Call(function, tuple(_convert(a, text, context, names) for a in node.args))
    what = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.Lambda: "a lambda",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a comprehension",
        ast.JoinedStr: "a string",
        ast.NamedExpr: "assignment",
        ast.Starred: "unpacking",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield",
    }.get(type(node), f"the syntax {type(node).__name__}")
    raise _refuse(node, text, context, what)


# --- evaluation -------------------------------------------------------------------------------

_ARITHMETIC: Mapping[str, Callable[[FloatArray, FloatArray], FloatArray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "**": np.power,
}
_COMPARISONS: Mapping[str, Callable[[FloatArray, FloatArray], NDArray[np.bool_]]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_UNARY_FUNCTIONS: Mapping[str, Callable[[FloatArray], FloatArray]] = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
}


def evaluate_expression(expression: Expression, variables: Mapping[str, ArrayLike]) -> FloatArray:
    """Evaluate a compiled expression elementwise.

    Parameters
    ----------
    expression : Expression
        From :func:`compile_expression`.
    variables : mapping of str to float or ndarray
        A value for every name in ``expression.names``; arrays must broadcast together
        (e.g. shape ``(n_patients,)``, or ``(n_patients, 1)`` against ``(1, n_doses)``).

    Returns
    -------
    ndarray of float64
        The broadcast shape of the variables used (0-d for a constant expression). Values may be
        ``nan`` or ``inf`` (e.g. ``log`` of a negative number); the caller checks.

    Raises
    ------
    KeyError
        A name the expression reads is not in ``variables`` (callers check names at load time).
    """
    missing = expression.names.difference(variables)
    if missing:
        raise KeyError(f"no value for {', '.join(sorted(missing))} in {expression.source!r}")
    env = {name: np.asarray(variables[name], dtype=np.float64) for name in expression.names}
    with np.errstate(all="ignore"):
        return np.asarray(_compiled(expression)(env), dtype=np.float64)


# Expressions are evaluated many times (covariate models: every interpretation, every regimen),
# so each tree is turned once into nested closures: no per-node type dispatch at run time. Keyed
# by identity (hashing a tree walks it); an entry leaves with its expression. The tests check the
# closures against a plain tree walker (tests/pk/test_expression.py).
_Evaluator = Callable[[Mapping[str, FloatArray]], FloatArray]
_COMPILED: dict[int, _Evaluator] = {}


def _compiled(expression: Expression) -> _Evaluator:
    key = id(expression)
    function = _COMPILED.get(key)
    if function is None:
        function = _COMPILED[key] = _closure(expression.tree)
        weakref.finalize(expression, _COMPILED.pop, key, None)
    return function


def _closure(node: _Node) -> _Evaluator:
    if isinstance(node, _Const):
        constant = np.float64(node.value)
        return lambda env: constant  # type: ignore[return-value]
    if isinstance(node, _Name):
        name = node.name
        return lambda env: env[name]
    if isinstance(node, _Unary):
        operand = _closure(node.operand)
        if node.op == "neg":
            return lambda env: np.negative(operand(env))
        if node.op == "pos":
            return operand
        return lambda env: np.logical_not(_truth(operand(env))).astype(np.float64)
    if isinstance(node, _Binary):
        arithmetic = _ARITHMETIC[node.op]
        left, right = _closure(node.left), _closure(node.right)
        return lambda env: arithmetic(left(env), right(env))
    if isinstance(node, _Compare):
        comparisons = [_COMPARISONS[op] for op in node.ops]
        compared = [_closure(o) for o in node.operands]

        def compare(env: Mapping[str, FloatArray]) -> FloatArray:
            values = [f(env) for f in compared]
            result: NDArray[np.bool_] = np.asarray(True)
            for op, left, right in zip(comparisons, values[:-1], values[1:], strict=True):
                result = np.logical_and(result, op(left, right))
            return result.astype(np.float64)

        return compare
    if isinstance(node, _Logical):
        combine = np.logical_and if node.op == "and" else np.logical_or
        parts = [_closure(v) for v in node.values]

        def logical(env: Mapping[str, FloatArray]) -> FloatArray:
            combined = _truth(parts[0](env))
            for part in parts[1:]:
                combined = np.asarray(combine(combined, _truth(part(env))))
            return combined.astype(np.float64)

        return logical
    if isinstance(node, _IfElse):
        condition, then = _closure(node.condition), _closure(node.then)
        otherwise = _closure(node.otherwise)
        return lambda env: np.where(_truth(condition(env)), then(env), otherwise(env))
    args = [_closure(a) for a in node.args]
    if node.function in _UNARY_FUNCTIONS:
        unary, only = _UNARY_FUNCTIONS[node.function], args[0]
        return lambda env: unary(only(env))
    if node.function == "where":
        test, yes, no = args
        return lambda env: np.where(_truth(test(env)), yes(env), no(env))
    reduce = np.minimum if node.function == "min" else np.maximum

    def extreme(env: Mapping[str, FloatArray]) -> FloatArray:
        out: FloatArray = args[0](env)
        for arg in args[1:]:
            out = np.asarray(reduce(out, arg(env)), dtype=np.float64)
        return out

    return extreme


def _truth(value: FloatArray) -> NDArray[np.bool_]:
    return np.asarray(value != 0.0)
