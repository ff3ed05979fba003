"""The official TypeScript SDK (``@aptos-labs/ts-sdk``, pinned in tests/support/js) against a localnet process.

Each test runs one script of tests/support/js (faucet and transfers, ABI-built pictor calls, key rotation,
multi-agent, fee payer, SingleKey accounts) and checks what it printed against the chain itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from chain.constants import LOCALNET_PACKAGE_ADDRESS
from chain.localnet.vm import core
from tests.support.js import NodeScripts

pytestmark = pytest.mark.timeout(600)

APT = 100_000_000
PICTOR = core.norm_addr(LOCALNET_PACKAGE_ADDRESS)


def run(js_sdk: NodeScripts, localnet: Any, script: str) -> Any:
    return js_sdk.run(script, localnet.node_url, localnet.faucet_url, PICTOR)


def test_faucet_transfer_simulation_views_and_pictor_calls(js_sdk: NodeScripts, localnet: Any, http: Any) -> None:
    out = run(js_sdk, localnet, "basics.mjs")
    assert out["funded"] == {"alice": 5 * APT, "bob": APT}
    assert http.wait(out["fundHash"])["success"] and all(http.wait(h)["success"] for h in out["mintHashes"])
    assert out["defaultMaxGas"] == "2000000"  # the SDK's default, within the localnet's bound

    transfer = out["transfer"]
    assert transfer["success"] and transfer["signatureType"] == "ed25519_signature"
    assert out["simulated"]["success"] and out["simulated"]["gasUsed"] == transfer["gasUsed"]
    fee = int(transfer["gasUsed"]) * int(transfer["gasUnitPrice"])
    committed = http.wait(transfer["hash"])
    assert committed["payload"]["function"] == "0x1::aptos_account::transfer"

    assert out["faucetCall"] == {"success": True, "vmStatus": "Executed successfully"}
    assert out["depositCall"] == {"success": True, "vmStatus": "Executed successfully"}
    assert out["vaultAccount"] == ["0", "1000"]
    assert out["tokenBalance"] == ["1500"]
    assert http.view(f"{PICTOR}::vault::account", [out["alice"]]) == ["0", "1000"]
    assert out["badArgument"]  # the SDK checked the argument against the ABI before sending anything
    aborting = out["abortingView"]
    assert aborting["status"] == 400 and aborting["data"]["vm_error_code"] == 4016
    assert "E_NODE_NOT_FOUND" in aborting["data"]["message"]
    assert out["sequenceNumber"] == "3"
    fees = sum(
        int(t["gas_used"]) * int(t["gas_unit_price"])
        for t in http.get(f"accounts/{out['alice']}/transactions").json()
    )
    assert fees > fee
    assert out["after"]["alice"] == http.apt_balance(out["alice"]) == 5 * APT - 12345 - fees
    assert out["after"]["bob"] == APT + 12345


def test_rotate_auth_key_and_lookup_original_address(js_sdk: NodeScripts, localnet: Any, http: Any) -> None:
    out = run(js_sdk, localnet, "rotate.mjs")
    assert out["rotation"]["success"], out["rotation"]["vmStatus"]
    assert "0x1::account::KeyRotation" in out["rotation"]["events"]
    assert out["authenticationKey"] == out["newAuthKey"] != out["address"]
    assert http.get(f"accounts/{out['address']}").json()["authentication_key"] == out["newAuthKey"]
    assert out["original"] == out["address"]  # lookupOriginalAccountAddress found it through OriginatingAddress
    assert out["unrotated"] != out["address"]
    old = out["oldKey"]
    assert old["status"] == 400 and old["data"]["error_code"] == "vm_error" and old["data"]["vm_error_code"] == 2
    assert old["data"]["message"] == "Invalid transaction: Type: Validation Code: INVALID_AUTH_KEY"
    assert out["withNewKey"] == {"success": True, "sender": out["address"]}


def test_multi_agent_registration(js_sdk: NodeScripts, localnet: Any, http: Any) -> None:
    out = run(js_sdk, localnet, "multi_agent.mjs")
    assert out["simulated"]["success"], out["simulated"]["vmStatus"]
    done = out["done"]
    assert done["success"], done["vmStatus"]
    assert done["signatureType"] == "multi_agent_signature" and done["secondary"] == [out["node"]]
    (registered,) = done["events"]
    assert registered["account"] == out["node"] and registered["operator"] == out["operator"]
    assert registered["role"] == 2
    assert out["nodeId"] == registered["node_id"]
    assert http.view(f"{PICTOR}::registry::node", [out["nodeId"]])[3] == out["node"]
    assert http.seq(out["node"]) == 0  # a secondary signer's sequence number does not move


def test_fee_payer_sponsors_a_new_account(js_sdk: NodeScripts, localnet: Any, http: Any) -> None:
    out = run(js_sdk, localnet, "fee_payer.mjs")
    assert out["feePayerAtBuild"] == "0x0"
    assert out["simulated"]["success"], out["simulated"]["vmStatus"]
    done = out["done"]
    assert done["success"], done["vmStatus"]
    assert done["signatureType"] == "fee_payer_signature" and done["feePayer"] == out["sponsor"]
    assert out["newcomerInfo"]["sequence_number"] == "1"
    assert out["newcomerInfo"]["authentication_key"] == out["newcomer"]
    assert out["sponsorInfo"]["sequence_number"] == "0"
    assert out["sponsorSpent"] == int(done["gasUsed"]) * int(done["gasUnitPrice"]) > 0
    assert out["newcomerApt"] == 0
    assert out["tokens"] == ["7"]
    assert http.view(f"{PICTOR}::token::balance", [out["newcomer"]]) == ["7"]


def test_single_key_accounts(js_sdk: NodeScripts, localnet: Any, http: Any) -> None:
    out = run(js_sdk, localnet, "single_key.mjs")
    for scheme in ("ed25519", "secp256k1"):
        account = out[scheme]
        assert account["simulated"]["success"], account["simulated"]["vmStatus"]
        assert account["success"], account["vmStatus"]
        assert account["address"] == account["authKey"] == account["info"]["authentication_key"]
        assert account["info"]["sequence_number"] == "1"
        signature = account["signature"]
        assert signature["type"] == "single_sender"
        key_type = "ed25519" if scheme == "ed25519" else "secp256k1_ecdsa"
        assert signature["public_key"]["type"] == signature["signature"]["type"] == key_type
    assert out["recipientApt"] == 2000 == http.apt_balance(out["recipient"])
