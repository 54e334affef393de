"""The two header readings the served client relies on, over any header a browser may send."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tidings.engine.static import accepts_gzip, etag_matches

TAGS = st.text(alphabet="abcdef0123456789.-", min_size=1, max_size=12).map(lambda t: f'"{t}"')
SPACE = st.sampled_from(["", " ", "  ", "\t"])


@given(TAGS, st.lists(TAGS, max_size=4), st.integers(0, 4), st.booleans(), SPACE)
def test_if_none_match_names_the_tag_anywhere_weak_or_strong(
    etag: str, others: list[str], at: int, weak: bool, space: str
) -> None:
    listed = [t for t in others if t != etag]
    if listed:
        assert not etag_matches(",".join(listed), etag)
    listed.insert(min(at, len(listed)), ("W/" if weak else "") + etag)
    assert etag_matches((space + "," + space).join(listed), etag)
    assert etag_matches(space + "*" + space, etag)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["gzip", "GZIP", "br", "deflate", "identity", "*", "zstd"]),
            st.sampled_from([None, "0", "0.0", "0.5", "1", "1.0", "x"]),
        ),
        max_size=5,
    )
)
def test_gzip_is_accepted_as_the_header_says(items: list[tuple[str, str | None]]) -> None:
    header = ", ".join(c if q is None else f"{c};q={q}" for c, q in items)
    qualities: dict[str, float] = {}
    for coding, q in items:  # the last mention of a coding counts
        qualities[coding.lower()] = 1.0 if q is None else (0.0 if q == "x" else float(q))
    expected = qualities.get("gzip", qualities.get("*", 0.0)) > 0
    assert accepts_gzip(header) is expected


def test_gzip_named_wins_over_the_wildcard() -> None:
    assert accepts_gzip("*;q=0, gzip")
    assert not accepts_gzip("gzip;q=0, *")
    assert not accepts_gzip(None) and not accepts_gzip("")
