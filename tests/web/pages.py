"""What the web view's tests check on every page: it renders, has a title, labelled
tables and form fields; and how they walk a site's links."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

PAGE_PROBLEMS = """() => {
  const problems = [];
  if (!document.title.trim()) problems.push("no title");
  if (!document.documentElement.lang) problems.push("no lang on <html>");
  if (!document.querySelector("h1")) problems.push("no <h1>");
  for (const table of document.querySelectorAll("table")) {
    const caption = table.querySelector(":scope > caption");
    const name = caption ? caption.textContent.trim() : "";
    if (!name) problems.push("a table without a caption");
    for (const th of table.querySelectorAll(":scope > thead th"))
      if (th.getAttribute("scope") !== "col") problems.push(`${name}: header without scope=col`);
    for (const th of table.querySelectorAll(":scope > tbody th"))
      if (th.getAttribute("scope") !== "row") problems.push(`${name}: row header, no scope=row`);
    if (!table.querySelector("th")) problems.push(`${name}: no header cell`);
  }
  for (const input of document.querySelectorAll("input, select, textarea"))
    if (!input.id || !document.querySelector(`label[for="${input.id}"]`))
      problems.push(`an unlabelled field ${input.name}`);
  if (document.querySelector("script")) problems.push("a script");
  return problems;
}"""


def page_problems(page: Any) -> list[str]:
    """Why the page shown is not a complete, labelled page (empty when it is)."""
    problems: list[str] = page.evaluate(PAGE_PROBLEMS)
    return problems


def links_on(page: Any) -> list[str]:
    """Every link target on the page shown, absolute, without its fragment."""
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    return [href.split("#")[0] for href in hrefs]


class _Hrefs(HTMLParser):
    """The ``href`` of every link, and the title, of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def crawl(page: Any, start: str, inside: Callable[[str], bool]) -> dict[str, int]:
    """Follow every link ``inside`` the site from ``start``, and the links on the pages
    they lead to; each URL's HTTP status (200 for a file that opened).

    The first page at each path is opened in the browser and checked with
    :func:`page_problems`; the same path with another query (another ``who`` question)
    is fetched by the browser's own HTTP client, its title checked and its links read.
    """
    seen: dict[str, int] = {}
    rendered: set[str] = set()
    queue = [start]
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        if url.startswith("file://"):
            assert Path(unquote(urlsplit(url).path)).is_file(), f"a link to a missing file: {url}"
        path = url.split("?")[0]
        if path in rendered:
            response = page.request.get(url)
            seen[url] = response.status
            found = _Hrefs()
            found.feed(response.text())
            assert found.title.strip(), f"no title: {url}"
            links = [urljoin(url, href).split("#")[0] for href in found.hrefs]
        else:
            rendered.add(path)
            response = page.goto(url)
            seen[url] = response.status if response is not None else 200
            problems = page_problems(page)
            assert not problems, (url, problems)
            links = links_on(page)
        if seen[url] == 200:
            queue.extend(link for link in links if inside(link) and link not in seen)
    return seen
