"""``/docs`` and ``/redoc`` from packaged Swagger UI and ReDoc (no CDN), and the bearer-key scheme."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

VENDOR = "/console/static/vendor"
SCHEME = "bearerKey"
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics")  # answered without a key


def swagger_page(openapi_url: str, title: str) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=openapi_url, title=f"{title} — API docs",
        swagger_js_url=f"{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui-dist/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui-dist/favicon-32x32.png",
        # no call to the public validator; keep the key across reloads for "Try it out"
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
    )


def redoc_page(openapi_url: str, title: str) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=openapi_url, title=f"{title} — API reference",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui-dist/favicon-32x32.png", with_google_fonts=False,
    )


def add_security(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the bearer key and require it on every operation but the public probes."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http", "scheme": "bearer", "bearerFormat": "hexlake key",
        "description": "A write (hxw_…), read (hxr_…), admin or subject key: `Authorization: Bearer <key>`.",
    }
    for path, item in schema.get("paths", {}).items():
        if path in PUBLIC_PATHS:
            continue
        for op in item.values():
            if isinstance(op, dict):
                op.setdefault("security", [{SCHEME: []}])
    return schema


def install_openapi(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the generated schema carries the security scheme (built once, cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_security(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["add_security", "install_openapi", "redoc_page", "swagger_page"]
