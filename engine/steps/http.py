"""The ``http:`` step: one request with httpx; the output is the status and the body."""

from __future__ import annotations

import json
from typing import Any

import httpx

from engine.definition import Step
from engine.errors import StepError, StepTimeout
from engine.steps.context import OUTPUT_CAP, Outcome, StepContext, cap_text


async def execute(ctx: StepContext, step: Step) -> Outcome:
    spec = step.http
    assert spec is not None
    url = ctx.render_text(spec.url)
    headers = {k: ctx.render_text(v) for k, v in spec.headers.items()}
    kwargs: dict[str, Any] = {}
    if spec.json_body is not None:
        kwargs["json"] = ctx.render(spec.json_body)
    elif spec.body is not None:
        kwargs["content"] = ctx.render_text(spec.body)
    try:
        response = await ctx.http_client.request(
            spec.method, url, headers=headers, timeout=spec.timeout, **kwargs
        )
    except httpx.TimeoutException as exc:
        raise StepTimeout(f"{spec.method} {url}: no response within {spec.timeout:g}s") from exc
    except httpx.ConnectError as exc:
        raise StepError(f"{spec.method} {url}: cannot connect: {_reason(exc)}") from exc
    except httpx.InvalidURL as exc:
        raise StepError(f"{spec.method} {url}: invalid URL: {exc}") from exc
    except httpx.HTTPError as exc:
        raise StepError(f"{spec.method} {url}: {type(exc).__name__}: {_reason(exc)}") from exc
    text = cap_text(response.text, OUTPUT_CAP, ctx.mask)
    body: Any = text
    if "json" in response.headers.get("content-type", ""):
        try:
            body = json.loads(response.text)
        except ValueError:
            body = text
    ctx.log(f"{spec.method} {url} -> {response.status_code} ({len(response.content):,} bytes)")
    expected = spec.expect
    ok = response.status_code in expected if expected else 200 <= response.status_code < 300
    if not ok:
        want = ", ".join(map(str, expected)) if expected else "2xx"
        said = ctx.mask.cut(text, 200)
        raise StepError(
            f"{spec.method} {url} returned {response.status_code} (expected {want}): {said}"
        )
    return Outcome(output={"status": response.status_code, "body": body})


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "111" in text:
        return "connection refused"
    return text
