from mlkube.controllers.workqueue import WorkQueue


class Ticker:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_keys_are_deduplicated_and_ordered() -> None:
    q = WorkQueue()
    for key in ("a", "b", "a"):
        q.add(key)
    assert [q.get(0), q.get(0), q.get(0)] == ["a", "b", None]


def test_a_key_added_while_processing_comes_back_once_done() -> None:
    q = WorkQueue()
    q.add("a")
    key = q.get(0)
    q.add("a")
    assert q.get(0) is None  # never handed out twice at once
    q.done(key or "")
    assert q.get(0) == "a"


def test_delayed_keys_fall_due() -> None:
    clock = Ticker()
    q = WorkQueue(monotonic=clock)
    q.add_after("later", 5)
    assert q.get(0) is None
    clock.t = 5.0
    assert q.get(0) == "later"
