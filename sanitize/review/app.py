"""The review workstation's local web app (Flask).  What the page may rely on:

Serving
  GET /                       sanitize/review/static/index.html.  Needs the token: the
                              printed link `/?token=T` serves the page AND sets the cookie
                              `sanitize_review` (HttpOnly, SameSite=Strict, path /); later
                              loads of `/` work with the cookie alone.  Without either: 401.
                              The page should read T from its own URL (location.search),
                              keep it in memory/sessionStorage and drop it from the address
                              bar with history.replaceState.
  GET /static/<path>          files below sanitize/review/static/ (no token needed; never
                              anything outside that folder: 404).
  CSP: default-src 'self'; script-src 'self' (NO inline <script> or on* attributes);
  style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self';
  connect-src 'self'.  No CORS headers are ever sent.

Authentication (every /api/ route)
  GET/HEAD: header `Authorization: Bearer T` or the cookie.  POST: the header is required
  (the cookie alone is refused: CSRF), and a body, when sent, must be JSON
  (`Content-Type: application/json`).  Missing/wrong token: 401 {"error"}.
  A request whose Host header is not the bound address, localhost, or an IP literal
  (DNS rebinding): 403 {"error"}, on every route.

Errors: JSON {"error": "...", ...} with 400 (bad input), 401, 403, 404 (unknown file,
region, flag, frame; file ids are opaque 16-hex-digit strings and never paths), 409
(state conflict: approve with open flags, original gone/changed, re-check failed,
nothing to undo), 410 (the original is gone, frames of the edit/preview views).

API (boxes: [x1, y1, x2, y2] in pixels of the upright picture, floats; times: seconds
from the first frame; frame indices count from 0 in decode order, exactly as rendered)
  GET  /api/files                      {"files": [{"id", "input", "status", "output", "why",
                                        "open", "kind", "reviewable"}]}  status: safe | review
                                        | error | rejected; open: number of open flags;
                                        output: "safe/…" or "review/…" relative to OUT.
  GET  /api/files/{id}                 {"id", "input", "status", "output", "why", "error",
                                        "kind": image|video, "width", "height", "duration"
                                        (null for pictures), "frames", "frame_times",
                                        "has_audio", "reviewable", "rejected" (reason|null),
                                        "approved" ({by, time}|null), "can_undo",
                                        "regions": [{"id", "kind", "box", "frame",
                                          "first_frame", "last_frame", "t_start", "t_end",
                                          "score", "action": blur|keep, "suggested":
                                          blur|keep, "label" ("officer?" for suggested
                                          officers), "clauses", "reason", "source":
                                          detector|reviewer}],
                                        "flags": [{"id", "kind", "state": open|cleared|
                                          confirmed, "box", "t_start", "t_end", "clauses",
                                          "score", "detail", "reason"}],
                                        "mutes": [[t0, t1]], "history": [{"time", "reviewer",
                                          "target", "action", "reason"}]}
                                        Region ids: r0, r1 … (detected), a0, a1 … (added);
                                        flag ids f0, f1 ….  "box" of a video region is the
                                        box at "frame" (its best sighting).  A flag whose
                                        box added regions mask (on every sampled second of
                                        its span) reads state "cleared", reason "masked by
                                        an added box", without a decision of its own.
  GET  /api/files/{id}/boxes?i=N       {"boxes": [{"id", "box", "action"}]}: each region's
                                        masked (grown) box on frame N, for overlays.
  POST /api/files/{id}/regions/{rid}   {"action": keep|blur, "reason"} → the region.
                                        keep without a reason: 400.  keep on an added
                                        box (a…) takes it back.
  POST /api/files/{id}/officers        {"reason"} → {"regions": [...]}: keeps every face
                                        suggested as an officer (one decision, one undo).
  POST /api/files/{id}/regions         {"kind": face|plate|text|other, "box", "t_start"?,
                                        "t_end"?, "t"? (video: the frame time the box was
                                        drawn on, default t_start), "keyframes"?: [{"t",
                                        "box"}], "track"?: true, "reason"?} → {"id",
                                        "region"}.  Pictures: box only.  Video: a static box
                                        over [t_start, t_end] (default: the whole video),
                                        linear between keyframes, or (track) followed by
                                        OpenCV's tracker forward and backward from "t".
  POST /api/files/{id}/regions/{rid}/box  {"box", "t"? (video), "reason"?} → the region:
                                        moves or resizes a box a reviewer drew (on a video:
                                        a keyframe at t, inside its time range).  A
                                        detector's box: 400 (draw another box instead).
  POST /api/files/{id}/flags/{fid}     {"state": cleared|confirmed, "reason"} → the flag
                                        (400 without a reason).
  POST /api/files/{id}/mutes           {"ranges": [[t0, t1], …]} → {"mutes"}: replaces the
                                        file's mute ranges (videos only; [] clears them).
  POST /api/files/{id}/undo            → {"undone": "…"} | 409 nothing to undo.
  POST /api/files/{id}/approve         → 200 {"status": "safe", "output": "safe/…"} |
                                        409 {"error", "open": [flags]} (open or confirmed
                                        flags, or the re-render was refused: "open" is []).
                                        Returns when written (one render at a time).  With
                                        {"wait": false} (the page): 202 and the queued job;
                                        the file's decisions are frozen (409) until it ends.
  GET  /api/jobs                       {"jobs": [{"id", "file", "input", "state":
                                        queued|running|done|failed, "output", "error",
                                        "problems", "submitted", "finished"}]}: this
                                        server's background approvals, oldest first.
  POST /api/files/{id}/reject          {"reason"} → {"status": "rejected"} (400 without).
  GET  /api/files/{id}/frame?i=N&view=edit|preview|output → image/jpeg.  edit: the
                                        original with every region outlined (red blur,
                                        yellow suggested officer, green dashed kept, blue
                                        added, orange flags), only when the server is bound
                                        to a loopback address (else 403); preview: the
                                        original masked with the current decisions; output:
                                        the file now in safe/ or review/.  Pictures: i=0.
  GET  /api/audit                      {"entries": [{"time", "reviewer", "file", "target",
                                        "action", "reason"}]}  (time: Unix seconds)
"""

from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request, send_from_directory

from sanitize.review.service import ReviewError, ReviewService

STATIC = Path(__file__).with_name("static")
COOKIE = "sanitize_review"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
_PLACEHOLDER = ("<!doctype html><meta charset=utf-8><title>sanitize review</title>"
                "<p>The review page is not installed; the JSON API is at /api/files.</p>")


def create_app(out_root: Path, token: str, reviewer: str, host: str = "127.0.0.1",
               service: ReviewService | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    svc = service or ReviewService(out_root, reviewer)
    app.extensions["sanitize_review"] = svc
    allow_edit = _is_loopback(host)

    def token_ok(value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), token.encode())

    def bearer() -> str | None:
        h = request.headers.get("Authorization", "")
        return h[7:].strip() if h.startswith("Bearer ") else None

    @app.before_request
    def guard() -> Any:
        if not _host_ok(request.host, host):
            return _error(403, "this address is not served (Host header refused)")
        if not request.path.startswith("/api/"):
            return None
        if request.method in ("GET", "HEAD"):
            if not (token_ok(bearer()) or token_ok(request.cookies.get(COOKIE))):
                return _error(401, "token required")
            return None
        if not token_ok(bearer()):
            return _error(401, "token required in the Authorization header")
        if request.content_length and not request.is_json:
            return _error(400, "the body must be JSON")
        return None

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Content-Security-Policy"] = _CSP
        resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if request.path == "/" or request.path.startswith("/api/"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(ReviewError)
    def review_error(e: ReviewError) -> Any:
        return jsonify(e.body), e.status

    @app.errorhandler(404)
    def not_found(e: Exception) -> Any:
        return _error(404, "not found")

    @app.errorhandler(405)
    def not_allowed(e: Exception) -> Any:
        return _error(405, "method not allowed")

    @app.get("/")
    def index() -> Any:
        given = request.args.get("token")
        if not (token_ok(given) or token_ok(request.cookies.get(COOKIE))):
            return Response("Open the link that `sanitize review` printed.\n", 401,
                            mimetype="text/plain")
        page = STATIC / "index.html"
        resp = (send_from_directory(STATIC, "index.html") if page.is_file()
                else Response(_PLACEHOLDER, mimetype="text/html"))
        if token_ok(given):
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        return resp

    @app.get("/static/<path:name>")
    def static_file(name: str) -> Any:
        return send_from_directory(STATIC, name)

    @app.get("/api/files")
    def files() -> Any:
        return jsonify({"files": svc.list_files()})

    @app.get("/api/files/<fid>")
    def file(fid: str) -> Any:
        return jsonify(svc.file(fid))

    @app.get("/api/files/<fid>/boxes")
    def boxes(fid: str) -> Any:
        return jsonify({"boxes": svc.boxes(fid, _int_arg("i"))})

    @app.post("/api/files/<fid>/regions/<rid>")
    def region(fid: str, rid: str) -> Any:
        body = _body()
        return jsonify(svc.set_region(fid, rid, body.get("action"), body.get("reason")))

    @app.post("/api/files/<fid>/officers")
    def officers(fid: str) -> Any:
        return jsonify({"regions": svc.keep_officers(fid, _body().get("reason"))})

    @app.post("/api/files/<fid>/regions")
    def add_region(fid: str) -> Any:
        return jsonify(svc.add_region(fid, _body()))

    @app.post("/api/files/<fid>/regions/<rid>/box")
    def edit_region(fid: str, rid: str) -> Any:
        return jsonify(svc.edit_region(fid, rid, _body()))

    @app.post("/api/files/<fid>/flags/<flag_id>")
    def flag(fid: str, flag_id: str) -> Any:
        body = _body()
        return jsonify(svc.set_flag(fid, flag_id, body.get("state"), body.get("reason")))

    @app.post("/api/files/<fid>/mutes")
    def mutes(fid: str) -> Any:
        return jsonify(svc.set_mutes(fid, _body().get("ranges")))

    @app.post("/api/files/<fid>/undo")
    def undo(fid: str) -> Any:
        return jsonify(svc.undo(fid))

    @app.post("/api/files/<fid>/approve")
    def approve(fid: str) -> Any:
        if _body().get("wait") is False:
            return jsonify(svc.approve(fid, wait=False)), 202
        return jsonify(svc.approve(fid))

    @app.get("/api/jobs")
    def jobs() -> Any:
        return jsonify({"jobs": svc.jobs()})

    @app.post("/api/files/<fid>/reject")
    def reject(fid: str) -> Any:
        return jsonify(svc.reject(fid, _body().get("reason")))

    @app.get("/api/files/<fid>/frame")
    def frame(fid: str) -> Any:
        data = svc.frame(fid, _int_arg("i"), request.args.get("view", "preview"), allow_edit)
        return Response(data, mimetype="image/jpeg")

    @app.get("/api/audit")
    def audit() -> Any:
        return jsonify({"entries": svc.audit()})

    return app


def _error(status: int, message: str) -> Any:
    return jsonify({"error": message}), status


def _body() -> dict[str, Any]:
    if not request.content_length:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ReviewError(400, "the body must be a JSON object")
    return body


def _int_arg(name: str) -> int:
    v = request.args.get(name, "0")
    try:
        return int(v)
    except ValueError as e:
        raise ReviewError(400, f"{name} must be a whole number") from e


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_ok(header: str, bound: str) -> bool:
    """Against DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends
    Host: evil.example.  Names other than localhost and the bound one are refused."""
    name = header.rsplit(":", 1)[0] if not header.endswith("]") else header
    if header.startswith("["):
        name = header[1:header.index("]")] if "]" in header else header
    name = name.lower()
    if name in ("localhost", bound.lower().strip("[]")):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
