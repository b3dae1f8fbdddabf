from __future__ import annotations

import asyncio

import pytest

from hawker.video.ingest import (
    AUDIO,
    COMMAND_AMF0,
    SET_CHUNK_SIZE,
    UNDEFINED,
    VIDEO,
    ChunkReader,
    ProtocolError,
    amf_decode,
    amf_encode,
    encode_message,
    flv_tag,
    is_config,
    is_keyframe,
    video_codec,
)


def reader_of(data: bytes) -> ChunkReader:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    return ChunkReader(stream)


def test_amf0_round_trip() -> None:
    values = ["publish", 5.0, None, {"app": "live", "n": 1.5, "ok": True}, UNDEFINED]
    assert amf_decode(amf_encode(*values)) == values


@pytest.mark.parametrize(
    "data",
    [b"\x02\x00\x10abc", b"\x00\x01", b"\x03\x00\x01a", b"\x42", b"\x0a\xff\xff\xff\xff"],
    ids=["short-string", "short-number", "unterminated-object", "unknown-marker", "huge-array"],
)
def test_malformed_amf0_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        amf_decode(data)


async def test_messages_split_into_chunks_come_back_whole() -> None:
    big = bytes(range(256)) * 40  # 10 kB: three 4 kB chunks after a chunk size change
    data = (
        encode_message(2, SET_CHUNK_SIZE, (4096).to_bytes(4, "big"), chunk_size=128)
        + encode_message(4, VIDEO, big, stream_id=1, timestamp=40)
        + encode_message(3, COMMAND_AMF0, amf_encode("createStream", 2.0, None))
    )
    reader = reader_of(data)
    assert (await reader.read()).type_id == SET_CHUNK_SIZE
    video = await reader.read()
    assert (video.type_id, video.stream_id, video.timestamp, video.payload) == (VIDEO, 1, 40, big)
    command = await reader.read()
    assert amf_decode(command.payload) == ["createStream", 2.0, None]


async def test_compressed_headers_add_timestamp_deltas() -> None:
    # fmt 0 at ts 1000, then a fmt 2 header with delta 40, then fmt 3 repeating the delta.
    first = encode_message(6, AUDIO, b"\xaf\x01aa", stream_id=1, timestamp=1000, chunk_size=128)
    second = bytes((0x80 | 6,)) + (40).to_bytes(3, "big") + b"\xaf\x01bb"
    third = bytes((0xC0 | 6,)) + b"\xaf\x01cc"
    reader = reader_of(first + second + third)
    stamps = [(await reader.read()).timestamp for _ in range(3)]
    assert stamps == [1000, 1040, 1080]


async def test_extended_timestamps() -> None:
    header = bytes((6,)) + b"\xff\xff\xff" + (4).to_bytes(3, "big") + bytes((AUDIO, 1, 0, 0, 0))
    reader = reader_of(header + (0x01000000).to_bytes(4, "big") + b"\xaf\x01xx")
    assert (await reader.read()).timestamp == 0x01000000


@pytest.mark.parametrize(
    "data",
    [
        bytes((0x46,)) + b"\0" * 7,  # a compressed header on a chunk stream never opened
        bytes((6,)) + b"\0\0\0" + b"\xff\xff\xff" + bytes((VIDEO,)) + b"\0" * 4,  # 16 MB message
        encode_message(2, SET_CHUNK_SIZE, (0).to_bytes(4, "big")),
    ],
    ids=["no-full-header", "oversized", "zero-chunk-size"],
)
async def test_malformed_chunk_streams_are_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        await reader_of(data + b"\0" * 64).read()


def test_flv_tags_and_frame_kinds() -> None:
    avc_config = b"\x17\x00\x00\x00\x00\x01"
    keyframe = b"\x17\x01\x00\x00\x00"
    inter = b"\x27\x01\x00\x00\x00"
    assert is_config(VIDEO, avc_config) and not is_config(VIDEO, keyframe)
    assert is_keyframe(keyframe) and not is_keyframe(inter)
    assert is_config(AUDIO, b"\xaf\x00\x12\x10") and not is_config(AUDIO, b"\xaf\x01")
    assert video_codec(keyframe) == "h264"
    assert video_codec(b"\x90hvc1") == "hvc1"  # enhanced RTMP names its codec
    tag = flv_tag(VIDEO, 0x01020304, keyframe)
    assert tag[0] == VIDEO
    assert int.from_bytes(tag[1:4], "big") == len(keyframe)
    assert tag[4:7] == b"\x02\x03\x04" and tag[7] == 0x01  # 24 bits + the extension byte
    assert int.from_bytes(tag[-4:], "big") == 11 + len(keyframe)
