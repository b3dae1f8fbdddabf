from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hawker.video import hls
from hawker.video.recording import Recording

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def record(rec: Recording, count: int, at: float, *, restart: bool) -> None:
    for i in range(count):
        number = rec.next_number
        rec.add(hls.Segment(number, 1.0, T0 + timedelta(seconds=at + i), restart and i == 0))


def test_live_window_and_replay(tmp_path: Path) -> None:
    rec = Recording(tmp_path, segment_seconds=1.0, live_window=3)
    record(rec, 5, 0, restart=True)
    live = hls.read(tmp_path / hls.LIVE)
    replay = hls.read(tmp_path / hls.REPLAY)
    assert live is not None and replay is not None
    assert [s.number for s in live.segments] == [2, 3, 4]
    assert [s.number for s in replay.segments] == [0, 1, 2, 3, 4]
    assert not replay.segments[0].discontinuity  # nothing to be discontinuous with
    assert "#EXT-X-MEDIA-SEQUENCE:2" in (tmp_path / hls.LIVE).read_text()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in (tmp_path / hls.REPLAY).read_text()


def test_a_restart_continues_numbering_after_a_discontinuity(tmp_path: Path) -> None:
    rec = Recording(tmp_path, segment_seconds=1.0, live_window=3)
    record(rec, 3, 0, restart=True)
    # The server restarts: the recording is read back from disk.
    rec = Recording(tmp_path, segment_seconds=1.0, live_window=3)
    assert rec.next_number == 3
    record(rec, 4, 60, restart=True)
    replay = hls.read(tmp_path / hls.REPLAY)
    assert replay is not None
    assert [s.number for s in replay.segments] == list(range(7))
    assert [s.discontinuity for s in replay.segments] == [False] * 3 + [True] + [False] * 3
    live_text = (tmp_path / hls.LIVE).read_text()
    # The discontinuity slid out of the 3-segment window: it is counted in the header.
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in live_text
    assert "#EXT-X-DISCONTINUITY\n" not in live_text


def test_finish_makes_a_vod_replay(tmp_path: Path) -> None:
    rec = Recording(tmp_path, segment_seconds=1.0, live_window=3)
    record(rec, 2, 0, restart=True)
    rec.add(hls.Segment(rec.next_number, 2.4, T0 + timedelta(seconds=2)))  # a long GOP
    rec.finish()
    text = (tmp_path / hls.REPLAY).read_text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.endswith("#EXT-X-ENDLIST\n")
    assert "#EXT-X-TARGETDURATION:2" in text
    assert (tmp_path / hls.LIVE).read_text().endswith("#EXT-X-ENDLIST\n")
    rec.add(hls.Segment(rec.next_number, 1.0, T0 + timedelta(seconds=5)))
    assert len(hls.read(tmp_path / hls.REPLAY).segments) == 3  # type: ignore[union-attr]
    assert Recording(tmp_path, segment_seconds=1.0, live_window=3).ended
