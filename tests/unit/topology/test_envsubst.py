"""Environment substitution as containerlab documents it (its envsubst in "no replace" mode)."""

from __future__ import annotations

import pytest

from lab.topology.envsubst import MAX_NESTING, SubstitutionError, substitute

ENV = {"BAR": "bar", "FOO": "foo", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$BAR", "bar"),
        ("${BAR}baz", "barbaz"),
        ("$BAR$FOO", "barfoo"),
        # not set: left as written (containerlab keeps e.g. "$6$salt$hash" passwords intact)
        ("${NOTSET}", "${NOTSET}"),
        ("pw $6$rounds$Abc", "pw $6$rounds$Abc"),
        # "-" and "=": the default when not set; an empty value is a value
        ("${NOTSET-$BAR}", "bar"),
        ("${NOTSET=x}", "x"),
        ("${EMPTY-x}", ""),
        ("${EMPTY=x}", ""),
        # ":-" and ":=": the default when not set or empty
        ("${EMPTY:-x}", "x"),
        ("${EMPTY:=x}", "x"),
        ("${BAR:=x}", "bar"),
        ("${NOTSET:-${ALSO:-deep}}", "deep"),
        # "+" and ":+": the alternative when set, else nothing
        ("${BAR+alt}", "alt"),
        ("${BAR:+alt}", "alt"),
        ("${NOTSET+alt}", ""),
        ("${NOTSET:+alt}", ""),
        # "$$" escapes; names start with a letter or "_"
        ("$$BAR", "$BAR"),
        ("$${BAR}", "${BAR}"),
        ("$$$BAR", "$bar"),
        ("$1 ${1} $_ ${_}", "$1 ${1} $_ ${_}"),
        ("cost: 5$", "cost: 5$"),
        ("url=${HOME_URL-http://localhost:8080}", "url=http://localhost:8080"),
    ],
)
def test_expressions_expand_as_containerlab_documents(text: str, expected: str) -> None:
    assert substitute(text, ENV)[0] == expected


def test_each_use_says_where_its_value_came_from() -> None:
    text = "a: ${BAR}\nb: ${NOTSET:-d}\nc: $NOPE\nd: ${BAR:-unused${NEVER}}\n"
    result, uses = substitute(text, ENV)
    assert result == "a: bar\nb: d\nc: $NOPE\nd: bar\n"
    assert [(u.name, u.source, u.value) for u in uses] == [
        ("BAR", "env", "bar"),
        ("NOTSET", "default", "d"),
        ("NOPE", "unset", "$NOPE"),
        ("BAR", "env", "bar"),  # NEVER sat in a default that was not used
    ]
    assert [result[u.offset : u.offset + len(u.value)] for u in uses] == [
        "bar",
        "d",
        "$NOPE",
        "bar",
    ]


def test_no_environment_means_defaults_only() -> None:
    assert substitute("${HOME:-/root} $HOME") == (
        "/root $HOME",
        substitute("${HOME:-/root} $HOME")[1],
    )
    assert substitute("no dollars") == ("no dollars", [])


@pytest.mark.parametrize("text", ["hello ${", "${A:-x", "${A#pattern}", "${A:0:2}"])
def test_expressions_containerlab_refuses_are_errors(text: str) -> None:
    with pytest.raises(SubstitutionError):
        substitute(text, ENV)


def test_nesting_and_growth_are_bounded() -> None:
    deep = "${A:-" * (MAX_NESTING + 1) + "x" + "}" * (MAX_NESTING + 1)
    with pytest.raises(SubstitutionError) as caught:
        substitute(deep)
    assert "nested" in caught.value.message
    fine = "${A:-" * MAX_NESTING + "x" + "}" * MAX_NESTING
    assert substitute(fine)[0] == "x"
    with pytest.raises(SubstitutionError):  # a large value used many times cannot blow up
        substitute("$BIG " * 100, {"BIG": "x" * 100_000})
