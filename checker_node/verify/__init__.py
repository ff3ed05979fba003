"""Frame verification: crop windows (:mod:`.crops`), the low-resolution reference (:mod:`.reference`),
decoding and metrics (:mod:`.compare`), the verdict (:mod:`.verifier`, settings in ``thresholds.json``) and
the tamper suite's image edits (:mod:`.tamper`). See checker_node/README.md."""
