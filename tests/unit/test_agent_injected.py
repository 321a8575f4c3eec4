"""The tar an agent puts into a new container for Zun's injected files."""

from __future__ import annotations

import base64
import io
import tarfile

from higgins.agents.agent import injected_tar


def test_each_injected_file_lands_at_its_path_with_its_content() -> None:
    tar = injected_tar({"/data/testfile": base64.b64encode(b"Random text").decode(),
                        "/etc/motd": base64.b64encode(b"hi").decode()})
    with tarfile.open(fileobj=io.BytesIO(tar)) as opened:
        assert sorted(opened.getnames()) == ["data/testfile", "etc/motd"]
        member = opened.extractfile("data/testfile")
        assert member is not None and member.read() == b"Random text"
