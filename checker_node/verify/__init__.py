"""Frame verification: crop windows (:mod:`.crops`), decoding and metrics (:mod:`.compare`), the verdict
(:mod:`.verifier`) and the tamper suite's image edits (:mod:`.tamper`). See checker_node/README.md."""
