"""/api/models: the models Ollama has, and which one a new story would get."""

from __future__ import annotations

from fastapi import APIRouter

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.schemas import ModelOut, ModelsResponse
from storyterm.core.generation.catalog import pick_model
from storyterm.errors import ModelUnavailable

router = APIRouter(tags=["models"])


@router.get(
    "/api/models",
    summary="List the installed Ollama models",
    response_model=ModelsResponse,
    responses=errors(401, 503),
)
async def list_models(_account: AccountDep, runtime: RuntimeDep) -> ModelsResponse:
    installed = await runtime.models.list_models()
    writable = [m for m in installed if m.can_write]
    try:
        default: str | None = pick_model(writable, None, runtime.settings.model_preferences).name
    except ModelUnavailable:
        default = None
    return ModelsResponse(
        models=[
            ModelOut(
                name=m.name,
                size=m.size,
                family=m.family,
                parameter_size=m.parameter_size,
                quantization=m.quantization,
                context_length=m.context_length,
                can_write=m.can_write,
            )
            for m in installed
        ],
        default=default,
    )
