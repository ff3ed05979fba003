"""The checker agent's pieces without a chain: its config file, the manifest check, the verdict rule, and the
evidence bytes it hashes agreeing with what the API hashes."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest

from chain.keys import account_address, generate_account
from checker_node.agent import check_manifest
from checker_node.config import CheckerConfig, load_checker_config, parse_checker_config
from checker_node.verify.verifier import Evidence
from protocol.canonical import canonical_json
from protocol.evidence import task_verdict
from protocol.manifest import sign_manifest
from protocol.node_config import ConfigError, NodeConfig
from worker_node.config import WorkerConfig

OPERATOR = "0x" + "ab" * 32


def test_config_accepts_a_checker_config_and_resolves_paths(tmp_path: Path) -> None:
    path = tmp_path / "checker-config.json"
    path.write_text(json.dumps({"worker_id": 7, "role": "checker", "api_url": "http://api.example/",
                                "operator_address": OPERATOR, "crop_count": 5, "cache_dir": "c"}))  # fmt: skip
    cfg = load_checker_config(path)
    assert cfg.worker_id == "7" and cfg.api_url == "http://api.example" and cfg.crop_count == 5
    assert cfg.cache_dir == tmp_path / "c" and cfg.key_path == tmp_path / "node.key"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"role": "worker"}, "role checker"),
        ({"crop_count": 0}, "crop_count"),
        ({"crop_fraction": 2}, "crop_fraction"),
        ({"typo_setting": 1}, "unknown setting"),
        ({"api_url": "ftp://x"}, "api_url"),
    ],
)
def test_config_refuses_bad_settings_with_a_message(change: dict, message: str) -> None:
    data = {"worker_id": "c", "api_url": "http://api", "operator_address": OPERATOR, **change}
    with pytest.raises(ConfigError) as err:
        parse_checker_config(data)
    assert message in str(err.value)


def test_config_file_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_checker_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        load_checker_config(tmp_path / "bad.json")


def _item(node, manifest: dict) -> dict:
    return {"manifest": manifest, "manifest_signature": sign_manifest(node, manifest),
            "worker_public_key": node.public_key().key.encode().hex(),
            "result_hash": hashlib.sha256(canonical_json(manifest)).hexdigest(),
            "frames": [{"frame": f["frame"], "sha256": f["sha256"]} for f in manifest["frames"]]}  # fmt: skip


def test_manifest_check_catches_every_disagreement() -> None:
    node = generate_account()
    manifest = {"job_id": 1, "task_id": 2, "attempt": 1, "node": account_address(node), "device": "CPU",
                "frames": [{"frame": 3, "sha256": "a" * 64, "render_seconds": 1.0, "width": 64, "height": 48,
                            "format": "PNG"}]}  # fmt: skip
    item = _item(node, manifest)
    assert check_manifest(item)["ok"]
    assert check_manifest({**item, "result_hash": "0" * 64})["ok"] is False
    forged = _item(generate_account(), manifest)
    assert "signature" in check_manifest({**item, "manifest_signature": forged["manifest_signature"]})["detail"]
    other_frames = {**item, "frames": [{"frame": 3, "sha256": "b" * 64}]}
    assert "frames" in check_manifest(other_frames)["detail"]
    assert check_manifest({**item, "manifest": None})["ok"]  # a later attempt replaced it: frames from the item


def test_the_verdict_rule_fail_beats_unsure_beats_pass() -> None:
    for n in range(0, 4):
        for verdicts in itertools.product(("pass", "fail", "unsure"), repeat=n):
            expected = "fail" if "fail" in verdicts else "pass" if verdicts and set(verdicts) == {"pass"} else "unsure"
            assert task_verdict(list(verdicts)) == expected
    assert task_verdict(["pass", "pass"]) == "pass"
    assert task_verdict(["pass", "unsure"]) == "unsure"
    assert task_verdict(["unsure", "fail"]) == "fail"
    assert task_verdict([]) == "unsure"


def test_the_api_hashes_the_very_bytes_the_checker_signs() -> None:
    data = {"b": [0.1, 1e-07, 2.5, "inf"], "a": "é ✓", "n": 2**63, "nested": {"z": None, "y": True}}
    assert Evidence(data).canonical_json() == '{"a":"é ✓","b":[0.1,1e-07,2.5,"inf"],"n":9223372036854775808,"nested":{"y":true,"z":null}}'.encode()
    # What the API stores and serves (the JSON it received, parsed and re-encoded) hashes the same.
    received = json.loads(json.dumps(data))
    assert hashlib.sha256(canonical_json(received)).hexdigest() == Evidence(data).evidence_hash


def test_the_apis_operator_created_config_of_role_checker_is_accepted(tmp_path: Path) -> None:
    # The shape GET /workers/{id}/config answers (api/enrollment.py) for a worker of role checker.
    served = {"version": 1, "worker_id": "12", "role": "checker", "api_url": "https://api.pictor.example",
              "node_url": "http://127.0.0.1:8080/v1", "package_address": OPERATOR, "chain_id": 4,
              "operator_address": OPERATOR, "enrollment_token": "pwe_token",
              "enrollment_expires_at": "2026-11-23T00:00:00Z"}  # fmt: skip
    cfg = parse_checker_config(served, base=tmp_path)
    assert cfg.role == "checker" and cfg.enrollment_token == "pwe_token" and cfg.chain_id == 4


def test_worker_and_checker_configs_share_one_format() -> None:
    shared = {"worker_id": 12, "api_url": "https://api.example/", "operator_address": OPERATOR, "cache_dir": "c",
              "threads": 2, "heartbeat_s": 1, "poll_s": 1, "max_backoff_s": 1, "gpus": [0], "location": "europe",
              "submit_on_chain": False}  # fmt: skip
    worker = WorkerConfig.parse(shared)
    checker = CheckerConfig.parse({**shared, "role": "checker", "crop_count": 3})
    assert isinstance(worker, NodeConfig) and isinstance(checker, NodeConfig)
    assert not isinstance(checker, WorkerConfig)
    for name in NodeConfig.model_fields:
        if name != "role":
            assert getattr(worker, name) == getattr(checker, name), name
    with pytest.raises(ConfigError, match="crop_count: unknown setting"):
        WorkerConfig.parse({**shared, "crop_count": 3})
    with pytest.raises(ConfigError, match="needs role checker"):
        CheckerConfig.parse({**shared, "role": "worker"})
