"""The API's documentation page: Swagger UI renders the operations of the app's own OpenAPI document, every file
it needs comes from the app itself (no request leaves 127.0.0.1), and the Content-Security-Policy blocks nothing."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect


def test_the_docs_page_renders_the_operations_from_the_app_alone(live_server, page):
    requested: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

    page.goto(live_server + "/api/v1/docs")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("eCRF API")
    studies = page.locator(".opblock-summary-path", has_text="/api/v1/studies").first
    expect(studies).to_be_visible()
    studies.click()  # an operation opens, with its responses
    expect(page.locator(".opblock-body").first).to_contain_text("429")

    elsewhere = [url for url in requested if not url.startswith("data:") and urlsplit(url).hostname != "127.0.0.1"]
    assert elsewhere == []
    assert f"{live_server}/api/v1/openapi.json" in requested
    assert [line for line in console if "Content Security Policy" in line or line.startswith("error")] == []
