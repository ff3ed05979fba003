/// Worker and checker nodes. A node is registered by its operator (the account that stakes and
/// is paid) with the node's Ed25519 public key; the node's own account address is derived from
/// that key (`sha3_256(public_key ‖ 0x00)`), and the node sends its own transactions from it.
/// `register_node_cosigned` registers instead the account that co-signs the registration (a
/// multi-agent transaction): the node account is that signer, whatever key it has rotated to.
module pictor::registry {
    use std::bcs;
    use std::option;
    use std::signer;
    use std::vector;
    use aptos_std::ed25519;
    use aptos_std::from_bcs;
    use aptos_std::table::{Self, Table};
    use aptos_framework::account;
    use aptos_framework::event;
    use aptos_framework::timestamp;
    use pictor::config;

    friend pictor::attestation;

    /// Role must be 1 (worker) or 2 (checker).
    const E_INVALID_ROLE: u64 = 1;
    /// The node key is not a valid Ed25519 public key.
    const E_INVALID_PUBLIC_KEY: u64 = 2;
    /// The node key did not sign the registration.
    const E_BAD_PROOF: u64 = 3;
    /// The node key is already registered.
    const E_KEY_IN_USE: u64 = 4;
    /// No node has this id.
    const E_NODE_NOT_FOUND: u64 = 5;
    /// The signer is not the node's operator.
    const E_NOT_OPERATOR: u64 = 6;
    /// The node is deregistered.
    const E_NODE_INACTIVE: u64 = 7;

    const ROLE_WORKER: u8 = 1;
    const ROLE_CHECKER: u8 = 2;
    const REGISTRATION_DOMAIN: vector<u8> = b"PICTOR_NODE_REGISTRATION";
    const PUBLIC_KEY_LENGTH: u64 = 32;
    const SIGNATURE_LENGTH: u64 = 64;

    struct Node has store {
        operator: address,
        role: u8,
        public_key: vector<u8>,
        account: address,
        active: bool,
        strikes: u64,
        registered_at: u64,
    }

    /// Stored at `@pictor`. `by_account` maps every node account ever registered (current and
    /// retired keys) to its node id, so a key can never be registered twice.
    struct Registry has key {
        nodes: Table<u64, Node>,
        by_account: Table<address, u64>,
        next_node_id: u64,
    }

    #[event]
    struct NodeRegistered has drop, store {
        node_id: u64,
        operator: address,
        role: u8,
        public_key: vector<u8>,
        account: address,
    }

    #[event]
    struct NodeKeyRotated has drop, store {
        node_id: u64,
        old_account: address,
        public_key: vector<u8>,
        account: address,
    }

    #[event]
    struct NodeDeregistered has drop, store {
        node_id: u64,
        operator: address,
    }

    #[event]
    struct NodeStruck has drop, store {
        node_id: u64,
        strikes: u64,
    }

    fun init_module(pictor: &signer) {
        move_to(pictor, Registry {
            nodes: table::new(),
            by_account: table::new(),
            next_node_id: 1,
        });
    }

    #[test_only]
    public fun init_for_test(pictor: &signer) {
        init_module(pictor)
    }

    // ---------------------------------------------------------------------------------------
    // Entry functions
    // ---------------------------------------------------------------------------------------

    /// Register a node. `proof` is the node key's signature over
    /// `b"PICTOR_NODE_REGISTRATION" ‖ bcs(operator) ‖ bcs(role) ‖ public_key`.
    public entry fun register_node(
        operator: &signer,
        role: u8,
        public_key: vector<u8>,
        proof: vector<u8>,
    ) acquires Registry {
        config::assert_not_paused();
        assert!(role == ROLE_WORKER || role == ROLE_CHECKER, E_INVALID_ROLE);
        let operator_addr = signer::address_of(operator);
        let account = node_account(public_key);
        let message = registration_message(operator_addr, role, public_key);
        assert!(verify_signature(public_key, proof, message), E_BAD_PROOF);
        add_node(operator_addr, role, public_key, account);
    }

    /// Register a node whose account co-signs the transaction (a multi-agent transaction from the
    /// operator, the node account as secondary signer) instead of signing a proof. The node account
    /// is `node`'s address, and its current authentication key must be the one `public_key` stands
    /// for (`E_BAD_PROOF` otherwise): a node account whose key was rotated registers under its
    /// current key.
    public entry fun register_node_cosigned(
        operator: &signer,
        node: &signer,
        role: u8,
        public_key: vector<u8>,
    ) acquires Registry {
        config::assert_not_paused();
        assert!(role == ROLE_WORKER || role == ROLE_CHECKER, E_INVALID_ROLE);
        let operator_addr = signer::address_of(operator);
        let key_account = node_account(public_key);
        let account = signer::address_of(node);
        assert!(account::get_authentication_key(account) == bcs::to_bytes(&key_account), E_BAD_PROOF);
        add_node(operator_addr, role, public_key, account);
    }

    /// Replace an active node's key (same proof message, with the node's role). The retired
    /// account stays reserved.
    public entry fun rotate_node_key(
        operator: &signer,
        node_id: u64,
        public_key: vector<u8>,
        proof: vector<u8>,
    ) acquires Registry {
        let operator_addr = signer::address_of(operator);
        let registry = borrow_global_mut<Registry>(@pictor);
        let (node_operator, role, active, old_account) = node_fields(&registry.nodes, node_id);
        assert!(node_operator == operator_addr, E_NOT_OPERATOR);
        assert!(active, E_NODE_INACTIVE);
        let account = node_account(public_key);
        let message = registration_message(operator_addr, role, public_key);
        assert!(verify_signature(public_key, proof, message), E_BAD_PROOF);
        assert!(!table::contains(&registry.by_account, account), E_KEY_IN_USE);
        table::add(&mut registry.by_account, account, node_id);
        let n = table::borrow_mut(&mut registry.nodes, node_id);
        n.public_key = copy public_key;
        n.account = account;
        event::emit(NodeKeyRotated { node_id, old_account, public_key, account });
    }

    /// Deactivate a node for good. Its account stays reserved.
    public entry fun deregister_node(operator: &signer, node_id: u64) acquires Registry {
        let operator_addr = signer::address_of(operator);
        let registry = borrow_global_mut<Registry>(@pictor);
        let (node_operator, _, active, _) = node_fields(&registry.nodes, node_id);
        assert!(node_operator == operator_addr, E_NOT_OPERATOR);
        assert!(active, E_NODE_INACTIVE);
        let n = table::borrow_mut(&mut registry.nodes, node_id);
        n.active = false;
        event::emit(NodeDeregistered { node_id, operator: operator_addr });
    }

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    #[view]
    /// (operator, role, public_key, account, active, strikes)
    public fun node(node_id: u64): (address, u8, vector<u8>, address, bool, u64) acquires Registry {
        let registry = borrow_global<Registry>(@pictor);
        assert!(table::contains(&registry.nodes, node_id), E_NODE_NOT_FOUND);
        let n = table::borrow(&registry.nodes, node_id);
        (n.operator, n.role, n.public_key, n.account, n.active, n.strikes)
    }

    #[view]
    /// The node whose current account is `account` (active or not); 0 if none.
    public fun node_of_account(account: address): u64 acquires Registry {
        let registry = borrow_global<Registry>(@pictor);
        if (!table::contains(&registry.by_account, account)) {
            return 0
        };
        let node_id = *table::borrow(&registry.by_account, account);
        if (table::borrow(&registry.nodes, node_id).account == account) {
            node_id
        } else {
            0
        }
    }

    #[view]
    public fun node_count(): u64 acquires Registry {
        borrow_global<Registry>(@pictor).next_node_id - 1
    }

    /// Whether a node with this id exists.
    public fun node_exists(node_id: u64): bool acquires Registry {
        table::contains(&borrow_global<Registry>(@pictor).nodes, node_id)
    }

    // ---------------------------------------------------------------------------------------
    // Friend operations
    // ---------------------------------------------------------------------------------------

    /// Add a strike to a node; returns its strike count after.
    public(friend) fun strike(node_id: u64): u64 acquires Registry {
        let registry = borrow_global_mut<Registry>(@pictor);
        let n = table::borrow_mut(&mut registry.nodes, node_id);
        n.strikes = n.strikes + 1;
        let strikes = n.strikes;
        event::emit(NodeStruck { node_id, strikes });
        strikes
    }

    // ---------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------

    /// A new active node for `account` (`E_KEY_IN_USE` if that account was ever registered).
    fun add_node(operator: address, role: u8, public_key: vector<u8>, account: address) acquires Registry {
        let registry = borrow_global_mut<Registry>(@pictor);
        assert!(!table::contains(&registry.by_account, account), E_KEY_IN_USE);
        let node_id = registry.next_node_id;
        registry.next_node_id = node_id + 1;
        table::add(&mut registry.by_account, account, node_id);
        table::add(&mut registry.nodes, node_id, Node {
            operator,
            role,
            public_key: copy public_key,
            account,
            active: true,
            strikes: 0,
            registered_at: timestamp::now_seconds(),
        });
        event::emit(NodeRegistered { node_id, operator, role, public_key, account });
    }

    /// (operator, role, active, account); aborts with `E_NODE_NOT_FOUND`.
    fun node_fields(nodes: &Table<u64, Node>, node_id: u64): (address, u8, bool, address) {
        assert!(table::contains(nodes, node_id), E_NODE_NOT_FOUND);
        let n = table::borrow(nodes, node_id);
        (n.operator, n.role, n.active, n.account)
    }

    /// Validates the key (`E_INVALID_PUBLIC_KEY`) and derives the node's account address.
    fun node_account(public_key: vector<u8>): address {
        assert!(vector::length(&public_key) == PUBLIC_KEY_LENGTH, E_INVALID_PUBLIC_KEY);
        let validated = ed25519::new_validated_public_key_from_bytes(public_key);
        assert!(option::is_some(&validated), E_INVALID_PUBLIC_KEY);
        let key = option::extract(&mut validated);
        from_bcs::to_address(ed25519::validated_public_key_to_authentication_key(&key))
    }

    fun registration_message(operator: address, role: u8, public_key: vector<u8>): vector<u8> {
        let message = REGISTRATION_DOMAIN;
        vector::append(&mut message, bcs::to_bytes(&operator));
        vector::append(&mut message, bcs::to_bytes(&role));
        vector::append(&mut message, public_key);
        message
    }

    /// Ed25519 strict verification; a signature of the wrong length simply fails.
    fun verify_signature(public_key: vector<u8>, signature: vector<u8>, message: vector<u8>): bool {
        if (vector::length(&public_key) != PUBLIC_KEY_LENGTH || vector::length(&signature) != SIGNATURE_LENGTH) {
            return false
        };
        let sig = ed25519::new_signature_from_bytes(signature);
        let pk = ed25519::new_unvalidated_public_key_from_bytes(public_key);
        ed25519::signature_verify_strict(&sig, &pk, message)
    }

    // ---------------------------------------------------------------------------------------
    // Test-only helpers
    // ---------------------------------------------------------------------------------------

    #[test_only]
    /// The exact bytes a node key must sign to register (or rotate to) that key.
    public fun registration_message_for_test(operator: address, role: u8, public_key: vector<u8>): vector<u8> {
        registration_message(operator, role, public_key)
    }

    #[test_only]
    /// The account address derived from a node public key.
    public fun node_account_for_test(public_key: vector<u8>): address {
        node_account(public_key)
    }

    #[test_only]
    public fun registered_at_for_test(node_id: u64): u64 acquires Registry {
        table::borrow(&borrow_global<Registry>(@pictor).nodes, node_id).registered_at
    }
}
