"""Query text → AST, and query text → error column: the table is the specification of the parser.

Every example of inventory §6.1 is here, plus the reference defect we fix (words starting with
``or``/``and``) and the error cases a search box meets while someone types.
"""

from __future__ import annotations

import sys

import pytest

from azul_metastore.errors import InvalidQuery
from azul_metastore.query import And, DocAnd, Match, Node, Not, Or, Range, Term, keys, parse


def T(value: str, quoting: str = "none", prefix: bool = False) -> Term:
    return Term(value, quoting, prefix)  # type: ignore[arg-type]


def M(key: str, value: object, op: str = ":", quoting: str = "none", prefix: bool = False) -> Match:
    return Match(key, op, value, quoting, prefix)  # type: ignore[arg-type]


def E(key: str) -> Match:
    return Match(key, exists=True)


def R(key: str, low: int, high: int, low_inclusive: bool = True, high_inclusive: bool = True) -> Range:
    return Range(key, low, high, low_inclusive, high_inclusive)


def A(*children: Node) -> And:
    return And(children)


def D(*children: Node) -> DocAnd:
    return DocAnd(children)


def O(*children: Node) -> Or:  # noqa: E743 - a one-letter builder keeps the table readable
    return Or(children)


def N(child: Node) -> Not:
    return Not(child)


VALID: list[tuple[str, Node]] = [
    # bare terms
    ("foo", T("foo")),
    ("'foo'", T("foo", "single")),
    ('"foo"', T("foo", "double")),
    ('"executable/windows/pe32"', T("executable/windows/pe32", "double")),
    ("executable/windows/pe32", T("executable/windows/pe32")),
    ("d41d8cd98f00b204e9800998ecf8427e", T("d41d8cd98f00b204e9800998ecf8427e")),
    ("00123", T("00123")),
    ("@x #y $z", A(T("@x"), T("#y"), T("$z"))),
    ("abc*", T("abc", prefix=True)),
    ("'abc*'", T("abc", "single", True)),
    ("*", T("", prefix=True)),
    ("a*c", T("a*c")),
    ("a?c", T("a?c")),
    ("  a  ", T("a")),
    ("((a))", T("a")),
    ("toto", T("toto")),
    ("to", T("to")),
    # words that start with a keyword are words (reference defect fixed)
    ("orange", T("orange")),
    ("Android", T("Android")),
    ("ANDROID", T("ANDROID")),
    ("order", T("order")),
    ("notepad", T("notepad")),
    ("docandx", T("docandx")),
    ("order:1", M("order", 1)),
    ("android:x", M("android", "x")),
    ("or:1", M("or", 1)),
    ("not:x", M("not", "x")),
    ("and:", E("and")),
    ("orange OR android", O(T("orange"), T("android"))),
    ("orange and android", A(T("orange"), T("android"))),
    ("a.or.b", T("a.or.b")),
    # field matches and case rules
    ("author.name:test*", M("author.name", "test", prefix=True)),
    ('author.name:"Test*"', M("author.name", "Test", quoting="double", prefix=True)),
    ("source.name:samples", M("source.name", "samples")),
    ('a:"Exact"', M("a", "Exact", quoting="double")),
    ("a:'Loose'", M("a", "Loose", quoting="single")),
    ('a:="Exact"', M("a", "Exact", ":=", "double")),
    ("a:=ab*", M("a", "ab*", ":=")),
    ("a:ab?c", M("a", "ab?c")),
    ("a:a*b", M("a", "a*b")),
    ("a:*", M("a", "", prefix=True)),
    ("a:b:c", M("a", "b:c")),
    ("ssdeep:3:abc:def", M("ssdeep", "3:abc:def")),
    ("url:http://x.com/a?b=c", M("url", "http://x.com/a?b=c")),
    ("features.enriched.hostname:evil.com", M("features.enriched.hostname", "evil.com")),
    ('filename:"setup (1).exe"', M("filename", "setup (1).exe", quoting="double")),
    ("md5:D41D8CD98F00B204E9800998ECF8427E", M("md5", "D41D8CD98F00B204E9800998ECF8427E")),
    ("key:and", M("key", "and")),
    ("key:NOT", M("key", "NOT")),
    # numbers
    ("a:00123", M("a", 123)),
    ("a:12.5", M("a", 12.5)),
    ("a:1234abcd", M("a", "1234abcd")),
    ("a:1e5", M("a", "1e5")),
    ("a:007abc", M("a", "007abc")),
    ("a:100kb", M("a", "100kb")),
    ("a:'12'", M("a", "12", quoting="single")),
    ('a:"12"', M("a", "12", quoting="double")),
    ("a:=12", M("a", 12, ":=")),
    ("a:12*", M("a", "12", prefix=True)),
    ("depth:-1", M("depth", -1)),
    ("x:-1.5", M("x", -1.5)),
    # comparisons and size suffixes
    ("size:>100MB", M("size", 100_000_000, ":>")),
    ("size:<=2KiB", M("size", 2048, ":<=")),
    ("size:>=1.5kb", M("size", 1500, ":>=")),
    ("size:>1b", M("size", 1, ":>")),
    ("size:<3GB", M("size", 3_000_000_000, ":<")),
    ("size:<1tib", M("size", 2**40, ":<")),
    ("size:>5", M("size", 5, ":>")),
    ("size:>5.5", M("size", 5.5, ":>")),
    ("size:> 5", M("size", 5, ":>")),
    ("x:>-1", M("x", -1, ":>")),
    # ranges
    ("size:[1kb TO 2mb]", R("size", 1000, 2_000_000)),
    ("size:(10 TO 20)", R("size", 10, 20, False, False)),
    ("size:(10 TO 20]", R("size", 10, 20, False, True)),
    ("size:[10 to 20)", R("size", 10, 20, True, False)),
    ("size:[1.9 TO 2.9]", R("size", 1, 2)),
    ("size:[-5 TO 5]", R("size", -5, 5)),
    ("size:[1KiB TO 1GIB]", R("size", 1024, 2**30)),
    ("size:[1tb TO 1tib]", R("size", 10**12, 2**40)),
    ("size:[ 1 TO 2 ]", R("size", 1, 2)),
    ("x:(1 TO 2) y", A(R("x", 1, 2, False, False), T("y"))),
    # exists
    ("key:", E("key")),
    ("(key:)", E("key")),
    ("key:   ", E("key")),
    ("key: AND b", A(E("key"), T("b"))),
    ("key: or b", O(E("key"), T("b"))),
    ("key: DOCAND b:1", D(E("key"), M("b", 1))),
    # quoted keys and escapes
    ('"my key":value', M("my key", "value")),
    ("'my key':value", M("my key", "value")),
    ('"a\\"b":c', M('a"b', "c")),
    ('x:"a\\nb"', M("x", "a\nb", quoting="double")),
    ("x:'it\\'s'", M("x", "it's", quoting="single")),
    ('x:"tab\\there"', M("x", "tab\there", quoting="double")),
    ('x:"back\\\\slash"', M("x", "back\\slash", quoting="double")),
    ('x:"\\r"', M("x", "\r", quoting="double")),
    ('x:"it\'s"', M("x", "it's", quoting="double")),
    # magic keys
    ("binary.tag:apt-x", M("binary.tag", "apt-x")),
    ("binary.tag:=apt-x", M("binary.tag", "apt-x", ":=")),
    ("feature.tag:42", M("feature.tag", 42)),
    ('feature.tag:"Mal ware"', M("feature.tag", "Mal ware", quoting="double")),
    # booleans and precedence
    ("NOT source.name:samples", N(M("source.name", "samples"))),
    ("!x:y", N(M("x", "y"))),
    ("not x", N(T("x"))),
    ("Not x", N(T("x"))),
    ("NOT NOT a", N(N(T("a")))),
    ("!!a", N(N(T("a")))),
    ("NOT (a OR b)", N(O(T("a"), T("b")))),
    ("NOT a b", A(N(T("a")), T("b"))),
    ("NOT a DOCAND b", D(N(T("a")), T("b"))),
    ("a b c", A(T("a"), T("b"), T("c"))),
    ("a\tb\nc", A(T("a"), T("b"), T("c"))),
    ("a AND b AND c", A(T("a"), T("b"), T("c"))),
    ("a b AND c", A(T("a"), T("b"), T("c"))),
    ("a And b", A(T("a"), T("b"))),
    ("a OR b OR c", O(T("a"), T("b"), T("c"))),
    ("a Or b", O(T("a"), T("b"))),
    ("a OR b c", O(T("a"), A(T("b"), T("c")))),
    ("a b OR c", O(A(T("a"), T("b")), T("c"))),
    ("a DOCAND b c", A(D(T("a"), T("b")), T("c"))),
    ("a DOCAND b DOCAND c", D(T("a"), T("b"), T("c"))),
    ("a DocAnd b", D(T("a"), T("b"))),
    ("a Docand b", D(T("a"), T("b"))),
    ("a docand b OR c", O(D(T("a"), T("b")), T("c"))),
    ("(a OR b) c", A(O(T("a"), T("b")), T("c"))),
    ("a AND (b AND c)", A(T("a"), A(T("b"), T("c")))),
    ("((a OR b) DOCAND (c OR d))", D(O(T("a"), T("b")), O(T("c"), T("d")))),
    ("(a (b (c OR d)))", A(T("a"), A(T("b"), O(T("c"), T("d"))))),
    ("a:b OR NOT c:d", O(M("a", "b"), N(M("c", "d")))),
    ("(a:1 OR a:2) DOCAND b:", D(O(M("a", 1), M("a", 2)), E("b"))),
    ('"a"b', A(T("a", "double"), T("b"))),
    (
        'features_map.f1:"v1" AND features_map.f2:"v2"',
        A(M("features_map.f1", "v1", quoting="double"), M("features_map.f2", "v2", quoting="double")),
    ),
    (
        'features_map.f1:"v1" DOCAND features_map.f2:"v2"',
        D(M("features_map.f1", "v1", quoting="double"), M("features_map.f2", "v2", quoting="double")),
    ),
]

INVALID: list[tuple[str, int, str]] = [
    # keywords in the wrong place
    ("AND x", 1, "unexpected 'AND' at column 1; expected a search term or field name"),
    ("OR", 1, "unexpected 'OR'"),
    ("DOCAND a", 1, "unexpected 'DOCAND'"),
    ("a AND", 6, "unexpected end of query at column 6"),
    ("a OR", 5, "end of query"),
    ("a DOCAND", 9, "end of query"),
    ("a NOT", 6, "end of query"),
    ("NOT", 4, "end of query"),
    ("!", 2, "end of query"),
    ("a AND OR b", 7, "unexpected 'OR' at column 7"),
    # parentheses
    ("(a", 3, "expected"),
    ("((a)", 5, "')'"),
    ("a OR (b", 8, "')'"),
    ("a)", 2, "no '(' for it to close"),
    ("k:v )", 5, "no '('"),
    ("()", 2, "unexpected ')'"),
    # quotes and escapes
    ('key:"abc', 5, "unterminated string starting at column 5"),
    ("key:'abc", 5, "unterminated string"),
    ('"abc', 1, "unterminated string"),
    ("'abc\\'", 1, "unterminated string"),
    ('x:"a\\qb"', 5, "invalid escape '\\q' at column 5"),
    ('"\\x"', 2, "invalid escape"),
    ("\"ok\" '\\u0041'", 7, "invalid escape"),
    ('"a\\qb":c', 3, "invalid escape"),
    ('""', 1, "empty search term"),
    ("''", 1, "empty search term"),
    ('"":x', 1, "empty field name"),
    # operators and values
    ("key: foo", 4, "must be followed directly by a value"),
    ('key: "foo"', 4, "followed directly"),
    ("key: NOT x", 4, "followed directly"),
    (":x", 1, "unexpected ':'"),
    ("a::b", 3, "unexpected ':'"),
    ("a:=", 4, "end of query"),
    ("a:>=", 5, "end of query"),
    ("size:>", 7, "end of query"),
    ("size:>abc", 7, "':>' needs a number at column 7"),
    ('size:>"100 kb"', 7, "found a quoted string"),
    ("size:>10zb", 7, "needs a number"),
    ("size:<=1e5", 8, "needs a number"),
    ("size:>5*", 7, "needs a number"),
    ("a:=[1 TO 2]", 4, "unexpected '['"),
    ("a:>[1 TO 2]", 4, "unexpected '['"),
    ("-foo", 1, "use NOT or ! to negate"),
    ("a -b", 3, "use NOT or ! to negate"),
    ("a{b", 2, "unexpected character '{'"),
    ("a b=c", 4, "unexpected character '='"),
    # ranges
    ("key:[1 TO 2", 12, "unexpected end of query at column 12; expected ']' or ')'"),
    ("key:[1 TO", 10, "end of query"),
    ("key:[1 2]", 8, "expected TO"),
    ("key:[1TO 2]", 10, "expected TO"),
    ("a:(b OR c)", 6, "expected TO"),
    ("key:{1 TO 2}", 5, "ranges are written [a TO b]"),
    ("size:[a TO 2]", 7, "range bound 'a' at column 7 is not a number"),
    ("size:[1 TO 2x]", 12, "not a number"),
    ('size:["1" TO 2]', 7, "unexpected"),
    ("x:[1 TO 2]]", 11, "unexpected ']'"),
    # magic keys
    ("binary.tag:", 1, "binary.tag at column 1 is a tag look-up"),
    ("binary.tag:apt*", 1, "tag look-up"),
    ("binary.tag:>5", 1, "tag look-up"),
    ("x feature.tag:[1 TO 2]", 3, "feature.tag at column 3"),
    ("binary.tag: AND x", 1, "tag look-up"),
    ('"binary.tag":"a*"', 1, "tag look-up"),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[text for text, _ in VALID])
def test_valid_query_parses_to_ast(text: str, expected: Node) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "column", "message"), INVALID, ids=[text for text, _, _ in INVALID])
def test_invalid_query_reports_column_and_reason(text: str, column: int, message: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse(text)
    assert caught.value.column == column, caught.value.message
    assert message in caught.value.message
    assert caught.value.parameters == {"column": column}


@pytest.mark.parametrize("text", ["", " ", "\t\n  "])
def test_empty_query_is_none(text: str) -> None:
    assert parse(text) is None


def test_error_message_lists_what_was_expected() -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse("key:)")
    assert caught.value.message == "unexpected ')' at column 5; there is no '(' for it to close"
    with pytest.raises(InvalidQuery) as caught:
        parse("a OR )")
    assert caught.value.message == (
        "unexpected ')' at column 6; expected a search term or field name, a quoted string, '(' or NOT"
    )


def test_deep_nesting_is_an_invalid_query_not_a_crash() -> None:
    with pytest.raises(InvalidQuery, match="nests too deeply"):
        parse("NOT " * 5000 + "a")


@pytest.mark.parametrize("joiner", [" OR ", " ", " DOCAND "])
def test_a_query_of_more_than_500_terms_is_refused(joiner: str) -> None:
    assert parse(joiner.join(["a"] * 500)) is not None
    with pytest.raises(InvalidQuery, match="has 501 terms; at most 500"):
        parse(joiner.join(["a"] * 501))


def test_integers_past_64_bits_compare_as_the_number_written_and_match_as_text() -> None:
    """No index holds integers past 64 bits. A bound past them is the float nearest it, so it
    compares as the number written (clamped, ``:>99999999999999999999`` took 1e19 for larger); a
    value to match stays the text written, as feature values are text of any length. Range bounds
    are integers, clamped to 64 bits."""
    big, small = 2**63 - 1, -(2**63)
    assert parse("size:>99999999999999999999999") == M("size", 1e23, ":>")
    assert parse("size:>-99999999999999999999999") == M("size", -1e23, ":>")
    assert parse("size:>" + "9" * 4400) == M("size", sys.float_info.max, ":>")  # past what int() and floats read
    assert parse("features_map.n:>99999999999999999999") == M("features_map.n", 1e20, ":>")
    assert parse("size:>99999999999999999999tb") == M("size", 99999999999999999999 * 10**12 * 1.0, ":>")
    assert parse("size:>9223372036854775807") == M("size", big, ":>")
    assert parse("size:<" + "9" * 400 + "kb") == M("size", sys.float_info.max, ":<")  # no inf
    assert parse("size:>-" + "9" * 400 + "tib") == M("size", -sys.float_info.max, ":>")
    assert parse("size:>000000000000000000000000012") == M("size", 12, ":>")  # leading zeros: still 12
    assert parse("features_map.serial:123456789012345678901234567890") == M(
        "features_map.serial", "123456789012345678901234567890")
    assert parse("features_map.serial:=-99999999999999999999") == M("features_map.serial", "-99999999999999999999",
                                                                      ":=")
    assert parse("features_map.serial:9223372036854775807") == M("features_map.serial", big)
    assert parse("depth:[0 TO 99999999999999999999999]") == Range("depth", 0, big)
    assert parse("depth:[-99999999999999999999999 TO 5]") == Range("depth", small, 5)
    with pytest.raises(InvalidQuery, match="number"):
        parse("size:>" + "9" * 400 + ".5")  # past what a float holds


def test_a_fractional_size_compares_exactly() -> None:
    """1.3kib is 1331.2 bytes: ``size:<1.3kib`` holds for 1331 bytes (it was truncated to 1331)."""
    assert parse("size:<1.3kib") == M("size", 1331.2, ":<")
    assert parse("size:>=1.1kb") == M("size", 1100, ":>=")
    assert type(parse("size:>=1.1kb").value) is int  # type: ignore[union-attr]
    assert parse("size:[1.3kib TO 2kib]") == Range("size", 1331, 2048)  # range bounds are whole bytes


def test_values_keep_their_python_types() -> None:
    assert type(M("a", 1).value) is int
    node = parse("a:1 b:1.0 c:'1'")
    assert isinstance(node, And)
    assert [type(child.value) for child in node.children if isinstance(child, Match)] == [int, float, str]


def test_keys_lists_every_field_referenced() -> None:
    node = parse('a:1 OR (NOT b:[1 TO 2] DOCAND "c d":) free binary.tag:x')
    assert node is not None
    assert keys(node) == {"a", "b", "c d", "binary.tag"}
    assert keys(T("x")) == set()


def test_case_sensitivity_helper_follows_quoting_and_operator() -> None:
    assert M("a", "x", quoting="double").case_sensitive
    assert M("a", "x", ":=").case_sensitive
    assert not M("a", "x", quoting="single").case_sensitive
    assert not M("a", "x").case_sensitive


@pytest.mark.parametrize(
    "build",
    [
        lambda: Term("ab*"),
        lambda: Term("", "double"),
        lambda: Match("", ":", "x"),
        lambda: Match("a", ":>", "x"),
        lambda: Match("a", ":=", "x", is_prefix=True),
        lambda: Match("a", ":", 5, "double"),
        lambda: Match("a", ":", None),
        lambda: Match("a", ":", "x*"),
        lambda: Match("a", ":=", "x", exists=True),
        lambda: Match("binary.tag", exists=True),
        lambda: Range("a", 1.5, 2),  # type: ignore[arg-type]
        lambda: Range("feature.tag", 1, 2),
        lambda: And((Term("a"),)),
        lambda: Or([Term("a"), Term("b")]),  # type: ignore[arg-type]
    ],
)
def test_nodes_reject_shapes_the_parser_never_produces(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]
