import threading

from hexlake.gate import DedupeWindow


def test_reserve_flags_duplicates_also_within_one_call() -> None:
    window = DedupeWindow(10)
    assert window.reserve(["a", "b", "a"]) == [True, True, False]
    assert window.reserve(["b", "c"]) == [False, True]


def test_oldest_ids_are_forgotten_beyond_capacity() -> None:
    window = DedupeWindow(2)
    window.reserve(["a", "b", "c"])
    assert len(window) == 2
    assert window.reserve(["a"]) == [True]
    assert window.reserve(["c"]) == [False]


def test_release_lets_a_retry_through() -> None:
    window = DedupeWindow(10)
    window.reserve(["a"])
    window.release(["a", "never-seen"])
    assert window.reserve(["a"]) == [True]


def test_seed_from_log_tail() -> None:
    window = DedupeWindow(3)
    window.seed(["x1", "x2", "x3", "x4"])
    assert window.reserve(["x1", "x4"]) == [True, False]


def test_concurrent_reserves_accept_each_id_once() -> None:
    window = DedupeWindow(100_000)
    results = []

    def worker() -> None:
        results.append(window.reserve([f"id-{i}" for i in range(2000)]))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(sum(r) for r in results) == 2000
