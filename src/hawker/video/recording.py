"""A show's recording: every segment it ever streamed, in one playlist, kept for the replay.

The live playlist is a short window over the same segment files, so recording costs no
second encode and no second write: the files ffmpeg cut for the live stream are the
recording. Segment numbers never repeat within a show, whatever restarts or reconnects
happened, and each restart starts with a discontinuity, so the replay plays straight through
a dropped encoder or a crashed packager.

The recording survives a server restart: it is read back from `replay.m3u8`.
"""

from __future__ import annotations

from pathlib import Path

from hawker.video import hls


class Recording:
    def __init__(self, directory: Path, *, segment_seconds: float, live_window: int) -> None:
        self.dir = directory
        self.segment_seconds = segment_seconds
        self.live_window = live_window
        self.dir.mkdir(parents=True, exist_ok=True)
        existing = hls.read(self.dir / hls.REPLAY)
        self.segments: list[hls.Segment] = existing.segments if existing else []
        self.ended = bool(existing and existing.ended)
        self._target = hls.target_duration(self.segments, segment_seconds)

    @property
    def next_number(self) -> int:
        return self.segments[-1].number + 1 if self.segments else 0

    @property
    def newest(self) -> hls.Segment | None:
        return self.segments[-1] if self.segments else None

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    def add(self, segment: hls.Segment) -> None:
        if self.ended:
            return  # a late segment after the show ended is not part of it
        if not self.segments and segment.discontinuity:
            segment = hls.Segment(segment.number, segment.duration, segment.pdt)
        self.segments.append(segment)
        replay = self.dir / hls.REPLAY
        if len(self.segments) == 1 or hls.target_duration([segment], 0) > self._target:
            # The header has to change (first segment, or a longer one than the target).
            self._target = hls.target_duration(self.segments, self.segment_seconds)
            hls.write_atomic(replay, self._render_replay())
        else:
            # Appending keeps a three-hour show from rewriting a megabyte every second.
            with replay.open("a") as f:
                f.write(hls.entry(segment))
        self._write_live()

    def finish(self) -> None:
        """The show ended: both playlists say so, and the replay becomes a VOD playlist."""
        if self.ended:
            return
        self.ended = True
        hls.write_atomic(self.dir / hls.REPLAY, self._render_replay())
        self._write_live()

    def _render_replay(self) -> str:
        return hls.render(
            self.segments,
            target=self._target,
            ended=self.ended,
            playlist_type="VOD" if self.ended else "EVENT",
        )

    def _write_live(self) -> None:
        window = self.segments[-self.live_window :]
        dropped = len(self.segments) - len(window)
        # Discontinuities that slid out of the window still count, so players keep their
        # timelines aligned (EXT-X-DISCONTINUITY-SEQUENCE).
        discontinuities = sum(1 for s in self.segments[:dropped] if s.discontinuity)
        hls.write_atomic(
            self.dir / hls.LIVE,
            hls.render(
                window,
                target=self._target,  # constant for the show, as players expect
                discontinuity_sequence=discontinuities,
                ended=self.ended,
            ),
        )
