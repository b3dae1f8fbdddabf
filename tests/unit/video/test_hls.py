from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hawker.video import hls

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def seg(number: int, at: float, duration: float = 1.0, discontinuity: bool = False) -> hls.Segment:
    return hls.Segment(number, duration, T0 + timedelta(seconds=at), discontinuity)


def test_render_and_parse_round_trip() -> None:
    segments = [seg(4, 0), seg(5, 1), seg(6, 10.5, 0.96, discontinuity=True)]
    text = hls.render(segments, target=1, discontinuity_sequence=2)
    assert "#EXT-X-MEDIA-SEQUENCE:4" in text
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:2" in text
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-05-01T12:00:10.500Z" in text
    assert "#EXT-X-ENDLIST" not in text
    back = hls.parse(text)
    assert back.segments == segments
    assert back.discontinuity_sequence == 2 and not back.ended
    assert hls.parse(hls.render(segments, target=1, ended=True)).ended


def test_parse_reads_ffmpeg_style_playlists() -> None:
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:2026-05-01T12:00:00.000+0000\n"
        "#EXTINF:2.000000,\nseg_000001.ts\n#EXTINF:1.5,\nseg_000002.ts\n#EXTINF:1,\nother.ts\n"
    )
    segments = hls.parse(text).segments
    assert [s.number for s in segments] == [1, 2]
    assert segments[1].pdt == T0 + timedelta(seconds=2)  # follows on from the previous one


def test_target_duration_rounds_to_the_nearest_second() -> None:
    assert hls.target_duration([seg(0, 0, 1.4)], 1.0) == 1
    assert hls.target_duration([seg(0, 0, 2.04)], 1.0) == 2
    assert hls.target_duration([], 0.5) == 1


def test_names_served_are_only_the_ones_written() -> None:
    assert hls.NAME.fullmatch("live.m3u8") and hls.NAME.fullmatch("seg_000123.ts")
    for bad in ("../hawker.db", "status.json", "seg_1.ts", "seg_000001.ts/..", ".live.m3u8.tmp"):
        assert not hls.NAME.fullmatch(bad)


def test_wall_clock_uses_the_least_delayed_frame() -> None:
    clock = hls.WallClock(window_s=10)
    base = T0.timestamp()
    clock.observe(0, base + 0.30)  # the first frame came late (encoder start-up)
    clock.observe(1000, base + 1.05)
    clock.observe(2000, base + 2.20)
    assert clock.at(0) == T0 + timedelta(seconds=0.05)
    assert clock.now() == T0 + timedelta(seconds=2.05)


def test_wall_clock_forgets_old_offsets() -> None:
    clock = hls.WallClock(window_s=5)
    base = T0.timestamp()
    clock.observe(0, base)
    for second in range(1, 20):  # the encoder clock runs 10 ms a second slow against ours
        clock.observe(second * 1000, base + second * 1.01)
    moment = clock.at(19_000)
    assert moment is not None and abs((moment - T0).total_seconds() - 19.19) < 0.06
