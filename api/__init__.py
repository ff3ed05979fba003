"""The FastAPI service: routes (:mod:`api.routes`), their dependencies (:mod:`api.deps`) and the domain modules they call."""
