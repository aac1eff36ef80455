"""Tests of the safe expression language (imatinib_tdm.pk._expression)."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imatinib_tdm.errors import ModelDefinitionError
from imatinib_tdm.pk._expression import Expression, compile_expression, evaluate_expression


def _eval(source: str, **variables: object) -> np.ndarray:
    return evaluate_expression(compile_expression(source), variables)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "offending"),
    [
        ("__import__('os')", "calling '__import__'"),
        ("__import__('os').system('true')", "attribute access"),
        ("().__class__.__bases__[0].__subclasses__()", "attribute access"),
        ("np.exp(1)", "attribute access"),
        ("x.real", "attribute access"),
        ("x[0]", "subscripting"),
        ("lambda: 1", "a lambda"),
        ("(lambda x: x)(1)", "calling anything but a whitelisted function"),
        ("[i for i in range(3)]", "a comprehension"),
        ("sum(i for i in x)", "calling 'sum'"),
        ("eval('1')", "calling 'eval'"),
        ("exec('1')", "calling 'exec'"),
        ("open('/etc/passwd')", "calling 'open'"),
        ("getattr(x, 'y')", "calling 'getattr'"),
        ("'text'", "a non-numeric constant"),
        ("b'bytes'", "a non-numeric constant"),
        ("f'{x}'", "a string"),
        ("None", "a non-numeric constant"),
        ("True", "a non-numeric constant"),
        ("1j", "a non-numeric constant"),
        ("__builtins__", "underscore"),
        ("_private + 1", "underscore"),
        ("(y := 2)", "assignment"),
        ("[1, 2]", "the syntax List"),
        ("{'a': 1}", "the syntax Dict"),
        ("x // 2", "the operator FloorDiv"),
        ("x % 2", "the operator Mod"),
        ("x @ y", "the operator MatMult"),
        ("~x", "the operator Invert"),
        ("x in y", "the comparison In"),
        ("x is y", "the comparison Is"),
        ("exp(x=1)", "keyword or starred arguments"),
        ("max(*x)", "keyword or starred arguments"),
        ("exp", "a function name used without calling it"),
    ],
)
def test_unsafe_or_unsupported_syntax_is_refused(source: str, offending: str) -> None:
    with pytest.raises(ModelDefinitionError) as info:
        compile_expression(source, context="model 'm', parameter 'cl_l_per_h'")
    message = str(info.value)
    assert "model 'm', parameter 'cl_l_per_h'" in message
    assert offending in message


@pytest.mark.parametrize("source", ["import os", "x = 1", "1 +", "", "   ", "def f(): pass"])
def test_syntax_errors_and_statements_are_refused(source: str) -> None:
    with pytest.raises(ModelDefinitionError, match="parameter 'v_l'"):
        compile_expression(source, context="parameter 'v_l'")


def test_arity_of_functions_is_checked() -> None:
    with pytest.raises(ModelDefinitionError, match=r"exp\(\) takes 1"):
        compile_expression("exp(1, 2)")
    with pytest.raises(ModelDefinitionError, match=r"where\(\) takes 3"):
        compile_expression("where(1, 2)")
    with pytest.raises(ModelDefinitionError, match=r"min\(\) takes at least 2"):
        compile_expression("min(1)")


def test_deep_nesting_and_long_input_do_not_crash() -> None:
    with pytest.raises(ModelDefinitionError):
        compile_expression("(" * 500 + "1" + ")" * 500)
    with pytest.raises(ModelDefinitionError, match="characters"):
        compile_expression("1+" * 2000 + "1")


def test_huge_powers_overflow_to_inf_instead_of_hanging() -> None:
    assert np.isinf(_eval("9**9**9"))


def test_names_are_collected_without_function_names() -> None:
    expr = compile_expression("TVCL * (weight_kg/70)**0.75 * exp(ETA_CL) + max(a, b, 1)")
    assert expr.names == frozenset({"TVCL", "weight_kg", "ETA_CL", "a", "b"})
    assert not expr.is_constant
    assert compile_expression("2 * 3").is_constant


def test_numbers_are_accepted_as_expressions() -> None:
    assert float(_eval("1")) == 1.0
    assert float(evaluate_expression(compile_expression(1), {})) == 1.0
    assert float(evaluate_expression(compile_expression(0.5), {})) == 0.5
    assert compile_expression(1) == compile_expression("1.0")  # the tree is compared, not the text


def test_evaluation_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(40, 120, 50)
    age = rng.uniform(20, 90, 50)
    eta = rng.normal(0, 0.3, 50)
    male = rng.integers(0, 2, 50).astype(float)
    got = _eval(
        "(14.3 + 5.42*(w-70)/70 + 1.49*male - 1.49*(1-male) - 5.81*(age-50)/50) * exp(eta)",
        w=w,
        male=male,
        age=age,
        eta=eta,
    )
    expected = (
        14.3 + 5.42 * (w - 70) / 70 + 1.49 * male - 1.49 * (1 - male) - 5.81 * (age - 50) / 50
    ) * np.exp(eta)
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    np.testing.assert_allclose(_eval("(w/80)**0.301", w=w), (w / 80) ** 0.301, rtol=1e-15)
    np.testing.assert_allclose(_eval("-w + +age", w=w, age=age), -w + age)
    np.testing.assert_allclose(_eval("sqrt(abs(-w)) / log(w)", w=w), np.sqrt(w) / np.log(w))


def test_conditionals_comparisons_and_logic() -> None:
    age = np.array([30.0, 40.0, 50.0])
    np.testing.assert_array_equal(_eval("age > 40", age=age), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(_eval("30 < age <= 40", age=age), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(_eval("age == 40 or age < 35", age=age), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(_eval("not age > 35 and 1", age=age), [1.0, 0.0, 0.0])
    hinge = "1 + (age - 40) * (0.00475 if age < 40 else -0.00566)"
    np.testing.assert_allclose(
        _eval(hinge, age=age), 1 + (age - 40) * np.where(age < 40, 0.00475, -0.00566)
    )
    np.testing.assert_allclose(
        _eval("where(age != 40, age, -1)", age=age), np.where(age != 40, age, -1)
    )
    np.testing.assert_array_equal(_eval("min(age, 45, 100)", age=age), [30.0, 40.0, 45.0])
    np.testing.assert_array_equal(_eval("max(age, 45)", age=age), [45.0, 45.0, 50.0])


def test_discarded_branch_may_be_invalid() -> None:
    x = np.array([-1.0, 4.0])
    np.testing.assert_array_equal(_eval("log(x) if x > 0 else 0", x=x), [0.0, np.log(4.0)])


def test_broadcasting_per_patient_against_per_dose() -> None:
    ka = np.array([[0.5], [1.0]])  # (n_patients, 1)
    t = np.array([[0.0, 24.0, 48.0]])  # (1, n_doses)
    got = _eval("ka * (1 + 1.18*exp(-0.0256*t/24))", ka=ka, t=t)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, ka * (1 + 1.18 * np.exp(-0.0256 * t / 24)))


def test_missing_variable_at_evaluation_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="b"):
        _eval("a + b", a=1.0)


def test_expressions_pickle_and_compare() -> None:
    expr = compile_expression("TVCL * exp(ETA_CL) if x > 1 else min(1, 2)")
    clone = pickle.loads(pickle.dumps(expr))
    assert isinstance(clone, Expression)
    assert clone == expr
    assert hash(clone) == hash(expr)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0.01, 1e3), min_size=1, max_size=20),
    st.floats(-3, 3),
    st.floats(-2, 2),
)
def test_power_model_matches_numpy_for_any_input(
    w: list[float], exponent: float, eta: float
) -> None:
    weights = np.array(w)
    got = _eval("10.8 * (w/70)**k * exp(e)", w=weights, k=exponent, e=eta)
    np.testing.assert_allclose(got, 10.8 * (weights / 70) ** exponent * np.exp(eta), rtol=1e-12)


def _tree_walk(node: Any, env: dict[str, np.ndarray]) -> Any:
    """The reference: the expression tree evaluated node by node (the evaluator before the
    closures of ``_compiled``, kept here as the oracle they are checked against)."""
    from imatinib_tdm.pk import _expression as x

    if isinstance(node, x._Const):
        return np.float64(node.value)
    if isinstance(node, x._Name):
        return env[node.name]
    if isinstance(node, x._Unary):
        operand = _tree_walk(node.operand, env)
        if node.op == "neg":
            return np.negative(operand)
        if node.op == "pos":
            return operand
        return np.logical_not(x._truth(operand)).astype(np.float64)
    if isinstance(node, x._Binary):
        return x._ARITHMETIC[node.op](_tree_walk(node.left, env), _tree_walk(node.right, env))
    if isinstance(node, x._Compare):
        values = [_tree_walk(o, env) for o in node.operands]
        result = np.asarray(True)
        for op, left, right in zip(node.ops, values[:-1], values[1:], strict=True):
            result = np.logical_and(result, x._COMPARISONS[op](left, right))
        return result.astype(np.float64)
    if isinstance(node, x._Logical):
        truths = [x._truth(_tree_walk(v, env)) for v in node.values]
        combine = np.logical_and if node.op == "and" else np.logical_or
        combined = truths[0]
        for other in truths[1:]:
            combined = np.asarray(combine(combined, other))
        return combined.astype(np.float64)
    if isinstance(node, x._IfElse):
        return np.where(
            x._truth(_tree_walk(node.condition, env)),
            _tree_walk(node.then, env),
            _tree_walk(node.otherwise, env),
        )
    args = [_tree_walk(a, env) for a in node.args]  # a call
    if node.function in x._UNARY_FUNCTIONS:
        return x._UNARY_FUNCTIONS[node.function](args[0])
    if node.function == "where":
        return np.where(x._truth(args[0]), args[1], args[2])
    reduce = np.minimum if node.function == "min" else np.maximum
    out = args[0]
    for arg in args[1:]:
        out = np.asarray(reduce(out, arg), dtype=np.float64)
    return out


_REFERENCE_SOURCES = (
    "-x + +y",
    "not (x > 1)",
    "x ** 2 / (y - 3) * 2 + 1",
    "1 < x <= y != 3",
    "x > 1 and y < 2 or not x",
    "x if x > y else y",
    "where(x > 0.5, exp(x), log(y))",
    "min(x, y, 0.7) + max(x, 2) + sqrt(abs(y - x))",
)


@pytest.mark.parametrize("source", _REFERENCE_SOURCES)
def test_compiled_closures_equal_the_tree_walker(source: str) -> None:
    """The closures evaluate_expression runs give what a plain tree walk gives."""
    from imatinib_tdm.pk._expression import _compiled

    rng = np.random.default_rng(7)
    env = {"x": rng.uniform(-2, 3, 200), "y": rng.uniform(-2, 3, 200)}
    expr = compile_expression(source)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(_compiled(expr)(env), _tree_walk(expr.tree, env))


def test_every_library_expression_compiles_to_the_same_values() -> None:
    """Every parameter expression of the model library, closures against the tree walker."""
    from imatinib_tdm.pk._expression import _compiled
    from imatinib_tdm.pk.library import list_models

    rng = np.random.default_rng(11)
    checked = 0
    for model in list_models():
        for _, expr in model.parameters:
            env = {name: rng.uniform(0.5, 2.0, 50) for name in expr.names}
            with np.errstate(all="ignore"):
                np.testing.assert_array_equal(_compiled(expr)(env), _tree_walk(expr.tree, env))
            checked += 1
    assert checked > 50
