"""The checker node: verifies rendered frames and attests on chain; see checker_node/README.md."""
