"""The checker node: verifies rendered frames and attests on chain (issue #5); see checker_node/README.md."""
