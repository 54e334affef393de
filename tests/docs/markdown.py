"""The code blocks of a Markdown page, with the directive written just above each.

The docs' examples are tested, so none can rot. A block's directive is an HTML
comment on the line just above its fence (invisible on the site):

- ``<!-- not run: why -->``: the block is only compiled (Python) or not read at all;
- ``<!-- with: a client -->``: a ``tidings.testing`` client is connected to the page's
  ``sio`` before the block runs, and ``socket`` is that client's server-side Socket;
- ``<!-- with: a server -->``: the page's ``sio`` is served on a free port of 127.0.0.1
  before the block runs, and ``url`` is its address.

tests/docs/test_examples.py runs the pages' ``python`` blocks with these;
tests/testing/test_docs.py runs docs/testing.md's as pytest files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", flags=re.DOTALL | re.MULTILINE)
DIRECTIVE = re.compile(r"<!--\s*(not run|with):\s*(.*?)\s*-->\s*\Z")


@dataclass(frozen=True, slots=True)
class Block:
    lang: str
    code: str
    #: The page's line (1-based) of the block's first line of code.
    line: int
    #: "not run" or "with", with its argument; None without a directive.
    directive: str | None = None
    argument: str = ""


def code_blocks(text: str) -> list[Block]:
    blocks = []
    for found in FENCE.finditer(text):
        before = text[: found.start()].rstrip("\n")
        last_line = before.rpartition("\n")[2]
        directive = DIRECTIVE.search(last_line)
        blocks.append(Block(
            lang=found.group(1),
            code=found.group(2),
            line=text.count("\n", 0, found.start(2)) + 1,
            directive=directive.group(1) if directive else None,
            argument=directive.group(2) if directive else "",
        ))
    return blocks


def python_blocks(text: str) -> list[str]:
    return [block.code for block in code_blocks(text) if block.lang == "python"]
