"""Reading a report or a transition that may come with photos.

JSON for a report without photos; ``multipart/form-data`` with the JSON in a ``report`` (or
``transition``) field and up to N files in ``photos`` (or ``photo``) otherwise. Anything else is
a 415; a malformed form a 400; the JSON a 422 with pointers, as for a plain JSON body.
"""

from typing import TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from poche_api.errors import BadRequest, Unprocessable, UnsupportedMediaType

Model = TypeVar("Model", bound=BaseModel)
MAX_JSON_FIELD = 64 * 1024


def _pointer_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "pointer": "/" + "/".join(str(part) for part in error["loc"]),
            "detail": error["msg"],
        }
        for error in exc.errors()
    ]


def _parse(model: type[Model], raw: bytes | str) -> Model:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise Unprocessable(
            ("Données invalides.", "Invalid data."),
            slug="validation-failed",
            errors=_pointer_errors(exc),
        ) from exc


async def read_with_files(
    request: Request, model: type[Model], *, field: str, files_field: str, max_files: int
) -> tuple[Model, list[UploadFile]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return _parse(model, await request.body()), []
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            (
                "Envoyez du JSON, ou un formulaire multipart avec les photos.",
                "Send JSON, or multipart/form-data with the photos.",
            ),
            slug="unsupported-media-type",
        )
    try:
        form = await request.form(
            max_files=max_files + 1, max_fields=4, max_part_size=MAX_JSON_FIELD
        )
    except Exception as exc:  # starlette raises MultiPartException / HTTPException on limits
        raise BadRequest(
            (f"Formulaire invalide ({exc}).", f"Malformed form ({exc})."),
            slug="malformed-multipart",
        ) from exc
    raw = form.get(field)
    if not isinstance(raw, str):
        raise Unprocessable(
            (f"Le champ « {field} » (JSON) manque.", f"The '{field}' JSON field is missing."),
            slug="validation-failed",
            errors=[{"pointer": f"/{field}", "detail": "required JSON field"}],
        )
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            (f"« {field} » n'est pas du JSON.", f"'{field}' is not JSON."), slug="malformed-json"
        ) from exc
    files = [item for item in form.getlist(files_field) if isinstance(item, UploadFile)]
    if len(files) > max_files:
        raise Unprocessable(
            (f"Au plus {max_files} photos.", f"At most {max_files} photos."),
            slug="too-many-photos",
            errors=[{"pointer": f"/{files_field}", "detail": f"at most {max_files} files"}],
        )
    return _parse(model, raw), files
