"""The FastAPI service (issues #3-#6); `api.audit` is the auditor router of the chain mirror."""
