from hexlake.log.spans import Span, backoff_s, runs_of, split, to_runs


def test_offsets_collapse_into_sorted_runs() -> None:
    assert to_runs([5, 1, 2, 3, 3, 9, 10]) == [(1, 3), (5, 5), (9, 10)]
    assert to_runs([]) == []


def test_split_cuts_spans_into_outside_and_inside_pieces_keeping_their_state() -> None:
    a = Span(1, 10, "c", 1, 5.0)
    b = Span(20, 25, None, 2, 7.0, "boom")
    outside, inside = split([a, b], [(3, 4), (9, 21), (25, 30)])
    assert outside == [a._replace(lo=1, hi=2), a._replace(lo=5, hi=8), b._replace(lo=22, hi=24)]
    assert inside == [a._replace(lo=3, hi=4), a._replace(lo=9, hi=10), b._replace(lo=20, hi=21),
                      b._replace(lo=25, hi=25)]


def test_split_without_overlap_keeps_everything_outside() -> None:
    span = Span(5, 6, "c", 1, 0.0)
    assert split([span], [(1, 4), (7, 9)]) == ([span], [])


def test_runs_of_merges_neighbours_with_the_same_flag() -> None:
    assert runs_of([(1, True), (2, True), (3, False), (5, False)]) == [(1, 2, True), (3, 3, False), (5, 5, False)]


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    assert [backoff_s(a, 1.0, 10.0) for a in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
