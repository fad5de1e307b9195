"""The per-user window operator: tumbling windows → online store (latest window) + offline table."""

from __future__ import annotations

from collections.abc import Sequence

from hexlake.gate.envelope import Event
from hexlake.stream.consumer import BatchOutput
from hexlake.stream.timeutil import Watermark
from hexlake.stream.windows import UserWindows, WindowAcc, decode_acc, encode_acc

GROUP = "stream-features"


def _wkey(user: str, start: float) -> str:
    return f"w|{user}|{start!r}"


class UserWindowOperator:
    """Emits ``online`` ([[user_key, features]]) and ``offline`` ([final feature rows]) outputs.

    The online value of a user is the features of their most recent window: partial (``final``
    false) while it is open, then final. Closed windows go to the offline table exactly once.
    """

    group = GROUP

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.wins = UserWindows(window_s)

    def load(self, state: dict[str, bytes]) -> None:
        self.wins = UserWindows(self.window_s)
        for key, value in state.items():
            if key.startswith("w|"):
                acc = decode_acc(value)
                self.wins.open[(acc.user_key, acc.start)] = acc
            elif key.startswith("l|"):
                self.wins.latest[key[2:]] = float(value)

    def process(self, events: Sequence[Event], out: BatchOutput, watermark: Watermark) -> None:
        dirty: set[tuple[str, float]] = set()
        for ev in events:
            wid = self.wins.add(ev)
            if wid is not None:
                dirty.add(wid)
        closed = self.wins.close(watermark.closed_before)
        online: dict[str, dict[str, object]] = {}
        for acc in closed:
            out.put(_wkey(acc.user_key, acc.start), None)
            if self._is_latest(acc):
                online[acc.user_key] = acc.features(final=True)
        if closed:
            out.emit("offline", [acc.features(final=True) for acc in closed])
        for wid in sorted(dirty):
            cur = self.wins.open.get(wid)
            if cur is None:
                continue  # opened and closed in this batch
            out.put(_wkey(*wid), encode_acc(cur))
            out.put(f"l|{wid[0]}", repr(self.wins.latest[wid[0]]).encode())
            if self._is_latest(cur):
                online[cur.user_key] = cur.features(final=False)
        if online:
            out.emit("online", [[user, feats] for user, feats in sorted(online.items())])

    def _is_latest(self, acc: WindowAcc) -> bool:
        return self.wins.latest.get(acc.user_key) == acc.start
