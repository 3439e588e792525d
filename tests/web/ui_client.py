"""Driving the control panel as a browser without JavaScript would: a small HTML reader, the
sign-in, and forms posted with their CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.web.conftest import ADMIN_TOKEN

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)
    parent: Element | None = None

    def text(self) -> str:
        return re.sub(r"\s+", " ", self._raw_text()).strip()

    def _raw_text(self) -> str:
        return "".join(c if isinstance(c, str) else c._raw_text() for c in self.children)

    def iter(self) -> list[Element]:
        found: list[Element] = []
        for child in self.children:
            if isinstance(child, Element):
                found.append(child)
                found.extend(child.iter())
        return found

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag)
            and all(e.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]

    def by_id(self, element_id: str) -> Element:
        matches = [e for e in self.iter() if e.attrs.get("id") == element_id]
        assert matches, f"no element with id {element_id!r}"
        assert len(matches) == 1, f"{len(matches)} elements with id {element_id!r}"
        return matches[0]

    def has_id(self, element_id: str) -> bool:
        return any(e.attrs.get("id") == element_id for e in self.iter())

    def inside(self, tag: str) -> bool:
        parent = self.parent
        while parent is not None:
            if parent.tag == tag:
                return True
            parent = parent.parent
        return False


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v if v is not None else "" for k, v in attrs}, [], self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Element:
    reader = _Reader()
    reader.feed(html)
    return reader.root


def page(response: httpx.Response) -> Element:
    assert response.headers["content-type"].startswith("text/html"), response.text[:300]
    return parse(response.text)


def unlabelled_controls(document: Element) -> list[str]:
    """Every form control a person can reach must have a label (SPEC 5.6 quality bar)."""
    labelled = {e.attrs["for"] for e in document.find_all("label") if "for" in e.attrs}
    missing = []
    for element in document.iter():
        if element.tag not in ("input", "select", "textarea"):
            continue
        if element.attrs.get("type") in ("hidden", "submit", "button"):
            continue
        has_label = (
            element.attrs.get("id") in labelled
            or "aria-label" in element.attrs
            or "aria-labelledby" in element.attrs
        )
        if not has_label:
            missing.append(element.attrs.get("name") or element.attrs.get("id") or element.tag)
    return missing


def form_values(form: Element) -> dict[str, str]:
    """What the browser would post for `form` without clicking a named button."""
    values: dict[str, str] = {}
    for element in form.iter():
        if element.inside("template"):
            continue
        name = element.attrs.get("name")
        if not name:
            continue
        if element.tag == "input":
            kind = element.attrs.get("type", "text")
            if kind in ("submit", "button"):
                continue
            if kind in ("checkbox", "radio"):
                if "checked" in element.attrs:
                    values[name] = element.attrs.get("value", "on")
                continue
            values[name] = element.attrs.get("value", "")
        elif element.tag == "select":
            options = element.find_all("option")
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            values[name] = chosen[0].attrs.get("value", "") if chosen else ""
        elif element.tag == "textarea":
            values[name] = element.text()
    return values


def csrf_token(document: Element) -> str:
    tokens = {e.attrs["value"] for e in document.find_all("input", name="csrf_token")}
    assert len(tokens) == 1, tokens
    return tokens.pop()


def sign_in(client: TestClient, token: str = ADMIN_TOKEN) -> httpx.Response:
    login = page(client.get("/ui/login"))
    response: httpx.Response = client.post(
        "/ui/login",
        data={"csrf_token": csrf_token(login), "token": token, "next": "/ui/sites"},
        follow_redirects=False,
    )
    return response


def post_form(
    client: TestClient, path: str, data: dict[str, Any], *, from_page: str
) -> httpx.Response:
    """POST `data` with the CSRF token of the page at `from_page`, as its form would."""
    document = page(client.get(from_page))
    response: httpx.Response = client.post(
        path, data={"csrf_token": csrf_token(document), **data}, follow_redirects=False
    )
    return response


def flash(document: Element) -> str:
    messages = [e.text() for e in document.iter() if "flash" in e.attrs.get("class", "").split()]
    return " ".join(messages)
