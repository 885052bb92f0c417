"""Label selectors and label syntax, as Kubernetes defines them."""

from __future__ import annotations

import pytest

from mlkube.api.errors import BadRequest, Cause
from mlkube.api.labels import (
    Requirement,
    Selector,
    parse_selector,
    validate_label_key,
    validate_label_value,
    validate_labels,
)

LABELS = {"team": "vision", "tier": "gold", "example.com/owner": "ana"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("   ", True),
        ("team=vision", True),
        ("team==vision", True),
        ("team = vision", True),
        ("team=nlp", False),
        ("team!=nlp", True),
        ("team!=vision", False),
        ("missing!=x", True),  # != matches objects without the key
        ("team in (nlp, vision)", True),
        ("team in (nlp)", False),
        ("team notin (nlp)", True),
        ("team notin (vision,nlp)", False),
        ("missing notin (x)", True),  # so does notin
        ("missing in (x)", False),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("! tier", False),
        ("example.com/owner=ana", True),
        ("team=vision,tier=gold", True),
        ("team=vision,tier=silver", False),
        ("team in (vision,nlp),!missing,tier", True),
        ("empty=", False),
    ],
)
def test_matching(selector: str, expected: bool) -> None:
    assert parse_selector(selector).matches(LABELS) is expected


def test_empty_value_matches_an_empty_label() -> None:
    assert parse_selector("empty=").matches({"empty": ""})
    assert parse_selector("empty in (,x)").matches({"empty": ""})


def test_parse_gives_a_canonical_structure() -> None:
    selector = parse_selector("a==1, b in (y, x), !c")
    assert selector == Selector(
        (
            Requirement("a", "=", ("1",)),
            Requirement("b", "in", ("x", "y")),
            Requirement("c", "!"),
        )
    )
    assert str(selector) == "a=1,b in (x,y),!c"
    assert parse_selector(str(selector)) == selector
    assert parse_selector("").empty and not selector.empty


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("a in x", 'unable to parse requirement "a in x": values for "in" must be in parentheses'),
        ("a notin", 'unable to parse requirement "a notin"'),
        ("a in ()", 'unable to parse requirement "a in ()": values for "in" can\'t be empty'),
        ("a=b c", 'unable to parse requirement "a=b c"'),
        ("a>1", 'unable to parse requirement "a>1"'),
        ("=b", 'unable to parse requirement "=b"'),
        ("a=b,", 'unable to parse label selector "a=b,": empty requirement'),
        ("a=b,,c", "empty requirement"),
        ("a in (x", "unbalanced parentheses"),
        ("a in x)", "unbalanced parentheses"),
        ("a in ((x))", "unbalanced parentheses"),
        ("-a=b", 'unable to parse requirement "-a=b": invalid label key "-a": name part'),
        ("a=-b", 'unable to parse requirement "a=-b": invalid label value "-b"'),
        ("x/y/z", "at most one '/'"),
        ("Bad.Prefix/a", "prefix part must be a lowercase DNS subdomain"),
        (f"a={'v' * 64}", "no more than 63 characters"),
    ],
)
def test_parse_errors_name_the_bad_part(selector: str, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_selector(selector)
    assert message in err.value.message
    assert err.value.code == 400


@pytest.mark.parametrize(
    "key",
    ["a", "A1", "a.b-c_d", "example.com/a", "a" * 63, f"{'p' * 253}/a", "mlkube.io/queue"],
)
def test_valid_keys(key: str) -> None:
    assert validate_label_key(key) == []


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "name part must be non-empty"),
        ("a" * 64, "no more than 63"),
        ("-a", "start and end with an alphanumeric"),
        ("a_", "start and end with an alphanumeric"),
        ("a b", "must consist of"),
        ("/a", "prefix part must be non-empty"),
        ("example.com/", "name part must be non-empty"),
        ("Example.com/a", "lowercase DNS subdomain"),
        ("ex_ample.com/a", "lowercase DNS subdomain"),
        (f"{'p' * 254}/a", "no more than 253"),
        ("a/b/c", "at most one '/'"),
    ],
)
def test_invalid_keys(key: str, problem: str) -> None:
    problems = validate_label_key(key)
    assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", True),
        ("v1.2_x-y", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("-v", False),
        ("a b", False),
    ],
)
def test_values(value: str, ok: bool) -> None:
    assert (validate_label_value(value) == []) is ok


def test_validate_labels_names_each_bad_entry() -> None:
    causes = validate_labels({"good": "yes", "bad key": "v", "k": "-bad", "n": 3})
    assert [c.field for c in causes] == [
        "metadata.labels[bad key]",
        "metadata.labels[k]",
        "metadata.labels[n]",
    ]
    assert 'invalid key "bad key"' in causes[0].message
    assert 'invalid value "-bad"' in causes[1].message
    assert causes[2] == Cause("metadata.labels[n]", "label keys and values must be strings")
    assert validate_labels({"a": "b"}, field="spec.selector") == []
    assert validate_labels({"a b": "c"}, field="spec.selector")[0].field == "spec.selector[a b]"
