"""Live and replay video: `/hls/{show_id}/live.m3u8`, `replay.m3u8` and their segments.

Only names the packager writes are served (a fixed pattern, so no path can leave the show's
directory), and a segment only once a playlist lists it, so nobody, a CDN included, caches
one that ffmpeg is still writing. Playlists change every segment: never cached. Segments
never change once listed: cached for good.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from hawker.domain.errors import NotFound
from hawker.video import hls
from hawker.video.service import show_dir
from hawker.web.auth import CtxDep

router = APIRouter(include_in_schema=False)

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
# Players and CDNs may keep the last playlist no longer than this; "no-cache" alone lets a
# proxy serve a stale copy after revalidating, which is what we want.
PLAYLIST_CACHE = "no-cache, no-store, max-age=0"
SEGMENT_CACHE = "public, max-age=31536000, immutable"

_newest: dict[Path, tuple[int, int]] = {}  # playlist -> (mtime_ns, newest segment number)


def _newest_listed(directory: Path) -> int:
    """The highest segment number any playlist of the show lists (cached per file change)."""
    best = -1
    for name in (hls.LIVE, hls.REPLAY):
        path = directory / name
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            continue
        cached = _newest.get(path)
        if cached is None or cached[0] != mtime:
            playlist = hls.read(path)
            newest = playlist.segments[-1].number if playlist and playlist.segments else -1
            cached = _newest[path] = (mtime, newest)
        best = max(best, cached[1])
    return best


@router.get("/hls/{show_id}/{name}")
async def hls_file(
    ctx: CtxDep, show_id: int = PathParam(ge=1, le=2**53), name: str = PathParam(max_length=40)
) -> Response:
    if not hls.NAME.fullmatch(name):
        raise NotFound(f"no video file {name!r}", code="no_video")
    directory = show_dir(ctx.settings, show_id)
    path = directory / name
    number = hls.segment_number(name)
    if number is None:
        try:
            body = path.read_bytes()
        except OSError:
            raise NotFound(f"show {show_id} has no video yet", code="no_video") from None
        return Response(body, media_type=PLAYLIST_TYPE, headers={"Cache-Control": PLAYLIST_CACHE})
    if number > _newest_listed(directory) or not path.is_file():
        raise NotFound(f"no segment {name}", code="no_video")
    return FileResponse(path, media_type=SEGMENT_TYPE, headers={"Cache-Control": SEGMENT_CACHE})
