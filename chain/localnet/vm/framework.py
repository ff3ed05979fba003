"""The slice of the Aptos framework (``0x1``) the localnet implements: accounts, APT, fungible assets, time.

State layouts, abort codes, messages and events follow the Move sources of ``aptos-framework``
(``account.move``, ``coin.move``, ``aptos_account.move``, ``object.move``, ``fungible_asset.move``,
``primary_fungible_store.move``), so that what a client reads back from the localnet looks like what
it would read from an Aptos node:

* an account is ``0x1::account::Account`` at its address; APT is ``0x1::coin::CoinStore<AptosCoin>``
  with the legacy ``deposit_events`` / ``withdraw_events`` handles (v1 events with a GUID);
* a fungible asset is a named object holding ``ObjectCore``, ``Metadata`` and ``ConcurrentSupply``;
  a store is an object holding ``ObjectCore`` and ``FungibleStore``; withdrawals and deposits emit the
  ``0x1::fungible_asset::Withdraw`` / ``Deposit`` module events.

The Python API at the bottom (``create_fungible_asset`` … ``ensure_account``) is what the ``pictor``
module re-implementations call, as the Move package calls the framework.
"""

from __future__ import annotations

from typing import Any

from chain.localnet.vm import core
from chain.localnet.vm.core import FRAMEWORK, ErrorSet, EventType, MoveAbort, Overlay, TxContext

APT = "0x1::aptos_coin::AptosCoin"
ACCOUNT_T = "0x1::account::Account"
COIN_STORE_APT_T = f"0x1::coin::CoinStore<{APT}>"
COIN_INFO_APT_T = f"0x1::coin::CoinInfo<{APT}>"
OBJECT_CORE_T = "0x1::object::ObjectCore"
METADATA_T = "0x1::fungible_asset::Metadata"
SUPPLY_T = "0x1::fungible_asset::ConcurrentSupply"
STORE_T = "0x1::fungible_asset::FungibleStore"
DERIVE_REF_POD_T = "0x1::primary_fungible_store::DeriveRefPod"
TIMESTAMP_T = "0x1::timestamp::CurrentTimeMicroseconds"
CHAIN_ID_T = "0x1::chain_id::ChainId"
BLOCK_RESOURCE_T = "0x1::block::BlockResource"

MAX_U128 = core.U128_MAX
#: ``object::INIT_GUID_CREATION_NUM``: objects number their GUIDs from 2^50 so they never clash with accounts'.
OBJECT_INIT_GUID_CREATION_NUM = 0x4000000000000

#: Fields the JSON API renders as numbers (u8/u16/u32) although ``encode_state_value`` renders ints as strings.
SMALL_INT_FIELDS: dict[str, tuple[str, ...]] = {
    METADATA_T: ("decimals",),
    CHAIN_ID_T: ("id",),
    COIN_INFO_APT_T: ("decimals",),
}

# Abort codes are ``error::<category>(reason)`` exactly as the framework's: category << 16 | reason.
# They are not registered in ``core.ERROR_SETS`` (that registry is for the ``pictor`` parity test).
COIN_ERRORS = ErrorSet(
    core.norm_addr(FRAMEWORK),
    "coin",
    {
        "ECOIN_STORE_NOT_PUBLISHED": (0x60005, "Account hasn't registered `CoinStore` for `CoinType`"),
        "EINSUFFICIENT_BALANCE": (0x10006, "Not enough coins to complete transaction"),
        "EFROZEN": (0x5000A, "CoinStore is frozen. Coins cannot be deposited or withdrawn"),
    },
)
ACCOUNT_ERRORS = ErrorSet(
    core.norm_addr(FRAMEWORK),
    "account",
    {
        "EACCOUNT_ALREADY_EXISTS": (0x80001, "Account already exists"),
        "EACCOUNT_DOES_NOT_EXIST": (0x60002, "Account does not exist"),
    },
)
OBJECT_ERRORS = ErrorSet(
    core.norm_addr(FRAMEWORK),
    "object",
    {
        "EOBJECT_EXISTS": (0x80001, "An object already exists at this address"),
        "EOBJECT_DOES_NOT_EXIST": (0x60002, "An object does not exist at this address"),
        "ERESOURCE_DOES_NOT_EXIST": (0x60007, "The resource is not stored at the specified address."),
    },
)
FA_ERRORS = ErrorSet(
    core.norm_addr(FRAMEWORK),
    "fungible_asset",
    {
        "ESTORE_IS_FROZEN": (0x10003, "Store is disabled from sending and receiving this fungible asset."),
        "EINSUFFICIENT_BALANCE": (0x10004, "Insufficient balance to withdraw or transfer."),
        "EMAX_SUPPLY_EXCEEDED": (0x10005, "The fungible asset's supply has exceeded maximum."),
        "ENAME_TOO_LONG": (0x2000F, "Name of the fungible asset metadata is too long"),
        "ESYMBOL_TOO_LONG": (0x20010, "Symbol of the fungible asset metadata is too long"),
        "EDECIMALS_TOO_LARGE": (0x20011, "Decimals is over the maximum of 32"),
        "EURI_TOO_LONG": (0x20013, "URI for the icon of the fungible asset metadata is too long"),
        "EFUNGIBLE_STORE_EXISTENCE": (0x60017, "Flag for the existence of fungible store."),
    },
)


def _event(module: str, name: str, fields: list[tuple[str, str]]) -> EventType:
    """A framework event type (kept out of ``core.EVENT_TYPES``, which lists the ``pictor`` events)."""
    return EventType(core.norm_addr(FRAMEWORK), module, name, tuple(fields))


COIN_WITHDRAW = _event("coin", "WithdrawEvent", [("amount", "u64")])
COIN_DEPOSIT = _event("coin", "DepositEvent", [("amount", "u64")])
COIN_REGISTER = _event("account", "CoinRegisterEvent", [("type_info", "0x1::type_info::TypeInfo")])
FA_WITHDRAW = _event("fungible_asset", "Withdraw", [("store", "address"), ("amount", "u64")])
FA_DEPOSIT = _event("fungible_asset", "Deposit", [("store", "address"), ("amount", "u64")])
FEE_STATEMENT = _event(
    "transaction_fee",
    "FeeStatement",
    [
        ("total_charge_gas_units", "u64"),
        ("execution_gas_units", "u64"),
        ("io_gas_units", "u64"),
        ("storage_fee_octas", "u64"),
        ("storage_fee_refund_octas", "u64"),
    ],
)
NEW_BLOCK = _event(
    "block",
    "NewBlockEvent",
    [
        ("hash", "address"),
        ("epoch", "u64"),
        ("round", "u64"),
        ("height", "u64"),
        ("previous_block_votes_bitvec", "vector<u8>"),
        ("proposer", "address"),
        ("failed_proposer_indices", "vector<u64>"),
        ("time_microseconds", "u64"),
    ],
)

_APT_TYPE_INFO = {"account_address": "0x1", "module_name": b"aptos_coin", "struct_name": b"AptosCoin"}


# --------------------------------------------------------------------------- accounts


def account_key(address: str) -> str:
    """State key of ``0x1::account::Account`` at ``address``."""
    return core.resource_key(address, ACCOUNT_T)


def coin_store_key(address: str) -> str:
    """State key of the APT ``CoinStore`` at ``address``."""
    return core.resource_key(address, COIN_STORE_APT_T)


def _handle(address: str, creation_num: int) -> dict[str, Any]:
    """A fresh legacy ``EventHandle``."""
    return {"counter": 0, "guid": {"id": {"addr": core.standard_addr(address), "creation_num": creation_num}}}


def new_account(address: str, auth_key: bytes) -> dict[str, Any]:
    """A fresh ``Account`` resource, fields in Move declaration order (the JSON keeps that order)."""
    return {
        "authentication_key": bytes(auth_key),
        "sequence_number": 0,
        "guid_creation_num": 2,
        "coin_register_events": _handle(address, 0),
        "key_rotation_events": _handle(address, 1),
        "rotation_capability_offer": {"for": {"vec": []}},
        "signer_capability_offer": {"for": {"vec": []}},
    }


def account_exists(state: Overlay | dict, address: str) -> bool:
    """``account::exists_at``."""
    key = account_key(address)
    return state.exists(key) if isinstance(state, Overlay) else key in state


def create_account(ctx: TxContext, address: str, auth_key: bytes | None = None) -> None:
    """``account::create_account``: aborts ``EACCOUNT_ALREADY_EXISTS`` if there is one."""
    address = core.norm_addr(address)
    key = account_key(address)
    ACCOUNT_ERRORS.check(not ctx.state.exists(key), "EACCOUNT_ALREADY_EXISTS")
    ctx.state.put(key, new_account(address, auth_key if auth_key is not None else core.addr_bytes(address)))


def ensure_account(ctx: TxContext, address: str) -> None:
    """Create ``0x1::account::Account`` at ``address`` if it is missing (authentication key = address)."""
    if not ctx.state.exists(account_key(address)):
        create_account(ctx, address)


def sequence_number(state: Overlay | dict, address: str) -> int | None:
    """The account's sequence number, ``None`` when there is no account."""
    account = core.peek(state, account_key(address))
    return None if account is None else int(account["sequence_number"])


# --------------------------------------------------------------------------- APT (coin)


def apt_balance(state: Overlay | dict, address: str) -> int:
    """``coin::balance<AptosCoin>``: 0 when the account has no ``CoinStore``."""
    store = core.peek(state, coin_store_key(address))
    return 0 if store is None else int(store["coin"]["value"])


def register_apt(ctx: TxContext, address: str) -> None:
    """``coin::register<AptosCoin>``: publish the ``CoinStore`` and emit ``CoinRegisterEvent``."""
    address = core.norm_addr(address)
    if ctx.state.exists(coin_store_key(address)):
        return
    account = ctx.state.get(account_key(address))
    if account is None:
        raise ACCOUNT_ERRORS.abort("EACCOUNT_DOES_NOT_EXIST")
    first = int(account["guid_creation_num"])
    account["guid_creation_num"] = first + 2
    register_events = account["coin_register_events"]
    seq = int(register_events["counter"])
    register_events["counter"] = seq + 1
    ctx.state.put(account_key(address), account)
    ctx.state.put(
        coin_store_key(address),
        {
            "coin": {"value": 0},
            "frozen": False,
            "deposit_events": _handle(address, first),
            "withdraw_events": _handle(address, first + 1),
        },
    )
    ctx.emit_handle(COIN_REGISTER, address, 0, seq, type_info=dict(_APT_TYPE_INFO))


def apt_withdraw(ctx: TxContext, address: str, amount: int) -> None:
    """``coin::withdraw<AptosCoin>``: aborts ``EINSUFFICIENT_BALANCE`` (0x10006) when short."""
    key = coin_store_key(address)
    store = ctx.state.get(key)
    if store is None:
        raise COIN_ERRORS.abort("ECOIN_STORE_NOT_PUBLISHED")
    COIN_ERRORS.check(not store["frozen"], "EFROZEN")
    balance = int(store["coin"]["value"])
    COIN_ERRORS.check(balance >= amount, "EINSUFFICIENT_BALANCE")
    store["coin"]["value"] = balance - amount
    handle = store["withdraw_events"]
    seq = int(handle["counter"])
    handle["counter"] = seq + 1
    ctx.state.put(key, store)
    ctx.emit_handle(COIN_WITHDRAW, address, int(handle["guid"]["id"]["creation_num"]), seq, amount=amount)


def apt_deposit(ctx: TxContext, address: str, amount: int) -> None:
    """``aptos_account::deposit_coins``: register the ``CoinStore`` if needed, then deposit."""
    register_apt(ctx, address)
    key = coin_store_key(address)
    store = ctx.state.get(key)
    COIN_ERRORS.check(not store["frozen"], "EFROZEN")
    value = int(store["coin"]["value"]) + amount
    if value > core.U64_MAX:
        raise core.VmError("ARITHMETIC_ERROR", "coin value overflow")
    store["coin"]["value"] = value
    handle = store["deposit_events"]
    seq = int(handle["counter"])
    handle["counter"] = seq + 1
    ctx.state.put(key, store)
    ctx.emit_handle(COIN_DEPOSIT, address, int(handle["guid"]["id"]["creation_num"]), seq, amount=amount)


def charge_apt(state: Overlay, address: str, octas: int) -> None:
    """Burn ``octas`` of gas fee from the payer's ``CoinStore`` (the epilogue: no event, never aborts)."""
    key = coin_store_key(address)
    store = state.peek(key)
    if store is None or octas <= 0:
        return
    # New top-level and coin dicts instead of a deep copy: the epilogue runs for every transaction.
    store = dict(store)
    store["coin"] = {"value": max(0, int(store["coin"]["value"]) - octas)}
    state.put(key, store)


def _require_apt(ctx: TxContext) -> None:
    """Abort for any coin type other than APT (the only coin on the localnet)."""
    if ctx.type_args and ctx.type_args[0] != APT:
        # Only APT exists as a `coin` on the localnet; any other CoinType has no CoinInfo.
        raise MoveAbort(
            FRAMEWORK, "coin", "ECOIN_INFO_NOT_PUBLISHED", 0x60003, "`CoinType` is not registered as a coin"
        )


@core.entry(FRAMEWORK, "aptos_account", ["address", "u64"], gas=6)
def transfer(ctx: TxContext, to: str, amount: int) -> None:
    """``0x1::aptos_account::transfer``: APT transfer that creates the recipient account if missing."""
    if not account_exists(ctx.state, to):
        create_account(ctx, to)
    apt_withdraw(ctx, ctx.sender, amount)
    apt_deposit(ctx, to, amount)


@core.entry(FRAMEWORK, "aptos_account", ["address", "u64"], type_params=1, gas=6)
def transfer_coins(ctx: TxContext, to: str, amount: int) -> None:
    """``0x1::aptos_account::transfer_coins<CoinType>`` (APT only on the localnet)."""
    _require_apt(ctx)
    transfer(ctx, to, amount)


@core.entry(FRAMEWORK, "aptos_account", ["address"], name="create_account", gas=6)
def create_account_entry(ctx: TxContext, auth_key: str) -> None:
    """``0x1::aptos_account::create_account``: a new account at ``auth_key`` with an APT ``CoinStore``."""
    create_account(ctx, auth_key)
    register_apt(ctx, auth_key)


@core.entry(FRAMEWORK, "coin", ["address", "u64"], name="transfer", type_params=1, gas=6)
def coin_transfer(ctx: TxContext, to: str, amount: int) -> None:
    """``0x1::coin::transfer<CoinType>``: the recipient must already hold a ``CoinStore``."""
    _require_apt(ctx)
    if not ctx.state.exists(coin_store_key(to)):
        raise COIN_ERRORS.abort("ECOIN_STORE_NOT_PUBLISHED")
    apt_withdraw(ctx, ctx.sender, amount)
    apt_deposit(ctx, to, amount)


@core.view(FRAMEWORK, "coin", ["address"], ["u64"], name="balance", type_params=1)
def coin_balance(ctx: TxContext, owner: str) -> list[Any]:
    """``0x1::coin::balance<CoinType>``: 0 for an account without a store (and for any non-APT coin)."""
    if ctx.type_args and ctx.type_args[0] != APT:
        return [0]
    return [apt_balance(ctx.state, owner)]


@core.view(FRAMEWORK, "account", ["address"], ["bool"], name="exists_at")
def account_exists_at(ctx: TxContext, address: str) -> list[Any]:
    """``0x1::account::exists_at``."""
    return [account_exists(ctx.state, address)]


@core.view(FRAMEWORK, "account", ["address"], ["u64"], name="get_sequence_number")
def get_sequence_number(ctx: TxContext, address: str) -> list[Any]:
    """``0x1::account::get_sequence_number``: aborts when there is no account, as the Move code."""
    seq = sequence_number(ctx.state, address)
    if seq is None:
        raise ACCOUNT_ERRORS.abort("EACCOUNT_DOES_NOT_EXIST")
    return [seq]


@core.view(FRAMEWORK, "timestamp", [], ["u64"])
def now_microseconds(ctx: TxContext) -> list[Any]:
    """``0x1::timestamp::now_microseconds``."""
    return [ctx.timestamp_us]


@core.view(FRAMEWORK, "timestamp", [], ["u64"])
def now_seconds(ctx: TxContext) -> list[Any]:
    """``0x1::timestamp::now_seconds``."""
    return [ctx.now_seconds()]


# --------------------------------------------------------------------------- objects & fungible assets


def _object_core(owner: str, obj: str, *, ungated: bool) -> dict[str, Any]:
    """A fresh ``ObjectCore``."""
    return {
        "allow_ungated_transfer": ungated,
        "guid_creation_num": OBJECT_INIT_GUID_CREATION_NUM + 1,
        "owner": core.standard_addr(owner),
        "transfer_events": _handle(obj, OBJECT_INIT_GUID_CREATION_NUM),
    }


def _create_object(ctx: TxContext, obj: str, owner: str, *, ungated: bool) -> None:
    """Publish ``ObjectCore`` at ``obj`` (aborts ``EOBJECT_EXISTS``)."""
    key = core.resource_key(obj, OBJECT_CORE_T)
    OBJECT_ERRORS.check(not ctx.state.exists(key), "EOBJECT_EXISTS")
    ctx.state.put(key, _object_core(owner, obj, ungated=ungated))


def require_object(state: Overlay, obj: str, type_tag: str = OBJECT_CORE_T) -> None:
    """``object::address_to_object<T>``: the object must exist and hold ``T``."""
    if not state.exists(core.resource_key(obj, OBJECT_CORE_T)):
        raise OBJECT_ERRORS.abort("EOBJECT_DOES_NOT_EXIST")
    if type_tag != OBJECT_CORE_T and not state.exists(core.resource_key(obj, type_tag)):
        raise OBJECT_ERRORS.abort("ERESOURCE_DOES_NOT_EXIST")


def object_owner(state: Overlay, obj: str) -> str | None:
    """The owner recorded in the object's ``ObjectCore``, ``None`` if there is no object."""
    core_res = state.get(core.resource_key(obj, OBJECT_CORE_T))
    return None if core_res is None else core.norm_addr(core_res["owner"])


def create_fungible_asset(
    ctx: TxContext,
    creator: str,
    seed: bytes,
    name: str,
    symbol: str,
    decimals: int,
    icon_uri: str,
    project_uri: str,
) -> str:
    """``primary_fungible_store::create_primary_store_enabled_fungible_asset`` on a named object; returns its address."""
    FA_ERRORS.check(len(name) <= 32, "ENAME_TOO_LONG")
    FA_ERRORS.check(len(symbol) <= 10, "ESYMBOL_TOO_LONG")
    FA_ERRORS.check(0 <= decimals <= 32, "EDECIMALS_TOO_LARGE")
    FA_ERRORS.check(len(icon_uri) <= 512 and len(project_uri) <= 512, "EURI_TOO_LONG")
    metadata = core.object_address_from_seed(creator, bytes(seed))
    _create_object(ctx, metadata, creator, ungated=True)
    ctx.state.put(
        core.resource_key(metadata, METADATA_T),
        {"name": name, "symbol": symbol, "decimals": int(decimals), "icon_uri": icon_uri, "project_uri": project_uri},
    )
    ctx.state.put(core.resource_key(metadata, SUPPLY_T), {"current": {"max_value": MAX_U128, "value": 0}})
    ctx.state.put(core.resource_key(metadata, DERIVE_REF_POD_T), {"metadata_derive_ref": {"self": metadata}})
    return metadata


def create_store(ctx: TxContext, store_address: str, owner: str, metadata: str) -> None:
    """``fungible_asset::create_store``: a (non-primary) store object at ``store_address`` owned by ``owner``."""
    store_address = core.norm_addr(store_address)
    require_object(ctx.state, metadata, METADATA_T)
    _create_object(ctx, store_address, owner, ungated=False)
    ctx.state.put(
        core.resource_key(store_address, STORE_T),
        {"metadata": {"inner": core.norm_addr(metadata)}, "balance": 0, "frozen": False},
    )


def primary_store(ctx: TxContext, owner: str, metadata: str) -> str:
    """``primary_fungible_store::ensure_primary_store_exists``: the owner's primary store address."""
    store = core.primary_store_address(owner, metadata)
    if not ctx.state.exists(core.resource_key(store, STORE_T)):
        create_store(ctx, store, owner, metadata)
    return store


def fa_balance(state: Overlay, store: str) -> int:
    """``fungible_asset::balance``: 0 when the store does not exist."""
    res = state.get(core.resource_key(store, STORE_T))
    return 0 if res is None else int(res["balance"])


def fa_supply(state: Overlay, metadata: str) -> int:
    """Current supply of the asset (0 when there is no supply tracking)."""
    res = state.get(core.resource_key(metadata, SUPPLY_T))
    return 0 if res is None else int(res["current"]["value"])


def fa_withdraw(ctx: TxContext, store: str, amount: int) -> None:
    """``fungible_asset::withdraw``: aborts ``EINSUFFICIENT_BALANCE`` (0x10004), emits ``Withdraw``."""
    if amount == 0:
        return  # the framework withdraws nothing and emits no event for a zero amount
    store = core.norm_addr(store)
    key = core.resource_key(store, STORE_T)
    res = ctx.state.get(key)
    if res is None:
        raise FA_ERRORS.abort("EINSUFFICIENT_BALANCE")
    FA_ERRORS.check(not res["frozen"], "ESTORE_IS_FROZEN")
    balance = int(res["balance"])
    FA_ERRORS.check(balance >= amount, "EINSUFFICIENT_BALANCE")
    res["balance"] = balance - amount
    ctx.state.put(key, res)
    ctx.emit(FA_WITHDRAW, store=store, amount=amount)


def fa_deposit(ctx: TxContext, store: str, amount: int) -> None:
    """``fungible_asset::deposit``: the store must exist (``EFUNGIBLE_STORE_EXISTENCE``); emits ``Deposit``."""
    store = core.norm_addr(store)
    key = core.resource_key(store, STORE_T)
    res = ctx.state.get(key)
    if res is None:
        raise FA_ERRORS.abort("EFUNGIBLE_STORE_EXISTENCE")
    FA_ERRORS.check(not res["frozen"], "ESTORE_IS_FROZEN")
    if amount == 0:
        return
    balance = int(res["balance"]) + amount
    if balance > core.U64_MAX:
        raise core.VmError("ARITHMETIC_ERROR", "fungible store balance overflow")
    res["balance"] = balance
    ctx.state.put(key, res)
    ctx.emit(FA_DEPOSIT, store=store, amount=amount)


def fa_transfer(ctx: TxContext, from_store: str, to_store: str, amount: int) -> None:
    """Withdraw from one store and deposit into another (``dispatchable_fungible_asset::transfer``)."""
    fa_withdraw(ctx, from_store, amount)
    fa_deposit(ctx, to_store, amount)


def fa_mint(ctx: TxContext, metadata: str, to_store: str, amount: int) -> None:
    """``fungible_asset::mint_to``: supply += amount, then deposit into ``to_store``."""
    key = core.resource_key(metadata, SUPPLY_T)
    res = ctx.state.get(key)
    if res is not None:
        current = int(res["current"]["value"]) + amount
        FA_ERRORS.check(current <= int(res["current"]["max_value"]), "EMAX_SUPPLY_EXCEEDED")
        res["current"]["value"] = current
        ctx.state.put(key, res)
    fa_deposit(ctx, to_store, amount)


@core.entry(
    FRAMEWORK,
    "primary_fungible_store",
    ["0x1::object::Object<T>", "address", "u64"],
    name="transfer",
    type_params=1,
    gas=6,
)
def primary_transfer(ctx: TxContext, metadata: str, recipient: str, amount: int) -> None:
    """``0x1::primary_fungible_store::transfer<T: key>``: between the sender's and the recipient's primary stores."""
    require_object(ctx.state, metadata, ctx.type_args[0] if ctx.type_args else METADATA_T)
    require_object(ctx.state, metadata, METADATA_T)
    if amount == 0:
        return
    # The Move code creates the sender's store before withdrawing; an abort discards it anyway.
    sender_store = primary_store(ctx, ctx.sender, metadata)
    fa_withdraw(ctx, sender_store, amount)
    fa_deposit(ctx, primary_store(ctx, recipient, metadata), amount)


@core.view(
    FRAMEWORK, "primary_fungible_store", ["address", "0x1::object::Object<T>"], ["u64"], name="balance", type_params=1
)
def primary_balance(ctx: TxContext, account: str, metadata: str) -> list[Any]:
    """``0x1::primary_fungible_store::balance<T: key>``."""
    return [fa_balance(ctx.state, core.primary_store_address(account, metadata))]


@core.view(
    FRAMEWORK,
    "primary_fungible_store",
    ["address", "0x1::object::Object<T>"],
    ["address"],
    name="primary_store_address",
    type_params=1,
)
def primary_store_address_view(ctx: TxContext, owner: str, metadata: str) -> list[Any]:
    """``0x1::primary_fungible_store::primary_store_address<T: key>``."""
    return [core.primary_store_address(owner, metadata)]


@core.view(
    FRAMEWORK,
    "primary_fungible_store",
    ["address", "0x1::object::Object<T>"],
    ["bool"],
    name="primary_store_exists",
    type_params=1,
)
def primary_store_exists(ctx: TxContext, account: str, metadata: str) -> list[Any]:
    """``0x1::primary_fungible_store::primary_store_exists<T: key>``."""
    return [ctx.state.exists(core.resource_key(core.primary_store_address(account, metadata), STORE_T))]


@core.view(
    FRAMEWORK, "fungible_asset", ["0x1::object::Object<T>"], ["0x1::option::Option<u128>"], name="supply", type_params=1
)
def fa_supply_view(ctx: TxContext, metadata: str) -> list[Any]:
    """``0x1::fungible_asset::supply<T: key>``: ``none`` when the object tracks no supply."""
    res = ctx.state.get(core.resource_key(metadata, SUPPLY_T))
    return [None if res is None else int(res["current"]["value"])]


@core.view(FRAMEWORK, "fungible_asset", ["0x1::object::Object<T>"], ["u64"], name="balance", type_params=1)
def fa_balance_view(ctx: TxContext, store: str) -> list[Any]:
    """``0x1::fungible_asset::balance<T: key>``."""
    return [fa_balance(ctx.state, store)]


@core.view(FRAMEWORK, "fungible_asset", ["0x1::object::Object<T>"], ["u8"], name="decimals", type_params=1)
def fa_decimals_view(ctx: TxContext, metadata: str) -> list[Any]:
    """``0x1::fungible_asset::decimals<T: key>``."""
    require_object(ctx.state, metadata, METADATA_T)
    return [int(ctx.state.get(core.resource_key(metadata, METADATA_T))["decimals"])]


@core.view(
    FRAMEWORK, "fungible_asset", ["0x1::object::Object<T>"], ["0x1::string::String"], name="symbol", type_params=1
)
def fa_symbol_view(ctx: TxContext, metadata: str) -> list[Any]:
    """``0x1::fungible_asset::symbol<T: key>``."""
    require_object(ctx.state, metadata, METADATA_T)
    return [ctx.state.get(core.resource_key(metadata, METADATA_T))["symbol"]]


@core.view(FRAMEWORK, "fungible_asset", ["0x1::object::Object<T>"], ["0x1::string::String"], name="name", type_params=1)
def fa_name_view(ctx: TxContext, metadata: str) -> list[Any]:
    """``0x1::fungible_asset::name<T: key>``."""
    require_object(ctx.state, metadata, METADATA_T)
    return [ctx.state.get(core.resource_key(metadata, METADATA_T))["name"]]


@core.view(FRAMEWORK, "object", ["0x1::object::Object<T>"], ["address"], name="owner", type_params=1)
def object_owner_view(ctx: TxContext, obj: str) -> list[Any]:
    """``0x1::object::owner<T: key>``."""
    require_object(ctx.state, obj)
    return [object_owner(ctx.state, obj)]
