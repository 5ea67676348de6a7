"""Temporal's remote-codec protocol (`POST /codec/encode`, `POST /codec/decode`) for the Temporal UI and
CLI: an engineer or supervisor with a bearer token reads encrypted histories; nobody else does.

Bodies are `{"payloads": [...]}` in protobuf JSON. The UI calls from its own origin, so CORS preflights
are answered for CODEC_CORS_ORIGINS (default: the embedded UI's). The Temporal UI cannot add a header of
its own: an engineer points its codec setting at `/codec/t/<ui-token>` instead (the protocol lets the
endpoints sit at any depth). That address lands in browser history and logs, so it takes only a
short-lived ui-token an engineer mints (`cli.py codec ui-token --hours 8`, encryption/ui_tokens.py), never
an API token: those never expire."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from config import ApiToken
from encryption import ui_tokens
from encryption.codec import CodecKeyError
from web.deps import caller, services

log = logging.getLogger("makeright.codec")
router = APIRouter(prefix="/codec")
READERS = ("engineer", "supervisor")
MAX_BODY = 4 * 1024 * 1024


def _cors(request: Request, response: Response) -> Response:
    origin = request.headers.get("origin", "").rstrip("/")
    if origin and origin in services(request).settings.codec_origins():
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response


def _who(request: Request, path_token: str | None) -> ApiToken:
    if path_token is None:
        return caller(request)
    try:
        held = ui_tokens.verify(services(request).codec.ring, path_token, time.time())
    except ui_tokens.UiTokenError as exc:
        raise HTTPException(401, f"the path form takes a ui-token: {exc}") from None
    # minted by an engineer (it took CODEC_KEYS, which reads every payload anyway)
    return ApiToken(role="engineer", user=f"{held.user} (ui-token)")


async def _run(request: Request, direction: str, path_token: str | None = None) -> Response:
    try:
        who = _who(request, path_token)
        if who.role not in READERS:
            raise HTTPException(403, f"the {who.role} role may not read encrypted payloads")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise HTTPException(413, "body too large")
        payloads = Payloads()
        try:
            json_format.Parse(raw or b"{}", payloads)
        except (json_format.ParseError, UnicodeDecodeError, RecursionError, ValueError) as exc:
            raise HTTPException(422, f"body: not a Payloads message in protobuf JSON ({exc})"[:300]) from None
        codec = services(request).codec
        try:
            if direction == "encode":
                out = await codec.encode(list(payloads.payloads))
            else:
                out = await codec.decode(list(payloads.payloads))
        except CodecKeyError as exc:
            raise HTTPException(422, str(exc)) from None
        except Exception:  # a tampered or foreign ciphertext: the tag does not verify
            raise HTTPException(422, "a payload could not be decrypted with CODEC_KEYS") from None
        log.info("codec %s of %d payloads by %s", direction, len(out), who.user)
        body = json_format.MessageToJson(Payloads(payloads=out), indent=None)
        return _cors(request, Response(body, media_type="application/json"))
    except HTTPException as exc:
        headers = dict(exc.headers or {})
        return _cors(request, JSONResponse({"error": exc.detail}, exc.status_code, headers=headers))


def _preflight(request: Request) -> Response:
    response = Response(status_code=204)
    origin = request.headers.get("origin", "").rstrip("/")
    if origin in services(request).settings.codec_origins():
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = (
            request.headers.get("access-control-request-headers")
            or "authorization, content-type, x-namespace"
        )
        response.headers["Access-Control-Max-Age"] = "600"
    return _cors(request, response)


@router.post("/encode")
async def encode(request: Request) -> Response:
    return await _run(request, "encode")


@router.post("/decode")
async def decode(request: Request) -> Response:
    return await _run(request, "decode")


@router.post("/t/{token}/encode")
async def encode_with_path_token(token: str, request: Request) -> Response:
    return await _run(request, "encode", token)


@router.post("/t/{token}/decode")
async def decode_with_path_token(token: str, request: Request) -> Response:
    return await _run(request, "decode", token)


@router.options("/{rest:path}")
async def preflight(rest: str, request: Request) -> Response:
    return _preflight(request)
