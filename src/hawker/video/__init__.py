"""Live video: RTMP ingest, HLS packaging with ffmpeg, recording for the replay.

`service` is the API for the rest of Hawker (stream status and health, stream time, replay
offsets); `ingest`, `packager`, `hls` and `recording` are its parts.
"""
