"""The node config both node kinds read: shared fields and validation, file loading, the chain client it names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from chain.keys import normalize_address
from protocol.node_config import ConfigError, NodeConfig
from protocol.render_spec import Region

OPERATOR = "0xa11ce"
BASE = {"worker_id": 12, "api_url": "https://api.example/", "operator_address": OPERATOR}


class DemoConfig(NodeConfig):
    """A node kind of its own, as the worker and checker configs are."""

    kind: ClassVar[str] = "demo"


def test_parse_normalises_and_resolves_relative_paths(tmp_path: Path) -> None:
    config = DemoConfig.parse({**BASE, "cache_dir": "c", "key_path": "/keys/node.key", "gpus": [1, 0]}, base=tmp_path)
    assert isinstance(config, DemoConfig)
    assert config.worker_id == "12" and config.api_url == "https://api.example"
    assert config.operator_address == normalize_address(OPERATOR)
    assert config.cache_dir == (tmp_path / "c").resolve() and config.key_path == Path("/keys/node.key")
    assert config.gpus == [0, 1] and config.location == Region.ANY and config.role == "worker"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1], "config: the demo config must be a JSON object"),
        ({"api_url": "http://x"}, "worker_id: missing (the config file from the API has it)"),
        ({**BASE, "node_url": "ws://n"}, "node_url: node_url must be an http:// or https:// URL"),
        ({**BASE, "package_address": "0xzz"}, "package_address:"),
        ({**BASE, "version": 2}, "unsupported config version 2"),
        ({**BASE, "typo": 1}, "typo: unknown setting (check the spelling)"),
        ({**BASE, "chain_id": 256}, "chain_id:"),
    ],
)
def test_parse_says_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        DemoConfig.parse(data)
    assert message in str(info.value)
    if isinstance(data, dict):
        assert str(info.value).startswith("config is not a valid demo config:\n")


def test_load_reads_the_file_relative_to_its_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="demo config file .* does not exist"):
        DemoConfig.load(tmp_path / "missing.json")
    path = tmp_path / "bad.json"
    path.write_text("{nope")
    with pytest.raises(ConfigError, match="is not JSON: .* at line 1, column 2"):
        DemoConfig.load(path)
    path.write_text(json.dumps({**BASE, "cache_dir": "cache"}))
    assert DemoConfig.load(path).cache_dir == (tmp_path / "cache").resolve()


async def test_the_chain_client_takes_the_configs_overrides_over_the_settings() -> None:
    bare = DemoConfig.parse(BASE)
    assert bare.chain_overrides() == {}
    config = DemoConfig.parse({**BASE, "node_url": "http://node.example:8080/v1/", "package_address": "0xbee",
                               "chain_id": 4})  # fmt: skip
    assert config.chain_overrides() == {"node_url": "http://node.example:8080/v1", "package_address":
                                        normalize_address("0xbee"), "chain_id": 4}  # fmt: skip
    chain = config.chain_client()
    try:
        assert chain.node_url == "http://node.example:8080/v1"
        assert chain.package_address == normalize_address("0xbee") and chain.expected_chain_id == 4
    finally:
        await chain.close()
