"""The main job from a fresh home: ``policyqa serve`` builds the demo index, then serves it."""

from __future__ import annotations

from pathlib import Path

import httpx

from policyqa.indexer import Embedder


def test_first_serve_builds_the_demo_index_and_loads_the_model_once(
    launch, policyqa_home: Path, embedder: Embedder, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(policyqa_home / "models")  # materialised by the session's embedder
    url, log = launch(home, "-v", "serve")
    response = httpx.get(f"{url}/search", params={"q": "创业孵化机构能拿到哪些扶持", "k": 1}, timeout=60)
    assert response.status_code == 200
    assert response.json()["hits"][0]["path"][-1] == "（十二）发展创新型孵化器"
    assert (home / "index" / "CURRENT").is_file()
    output = log.read_text(encoding="utf-8")
    assert "building the demo index" in output
    assert output.count("model loaded") == 1, output
    # the user-facing status lines: the index is built here, the model was already materialised
    indexing = output.index(f"policyqa: first run: indexing the demo corpus into {home / 'index'}…")
    assert indexing < output.index("policyqa: serving")
    assert "embedding model (about a minute)" not in output
