"""A notice's subject and body from its kind's template (``notify/templates/KIND.txt``).

A template's first line is ``Subject: ...``; the rest, after one blank line, is the
body. Plain text, no autoescaping (nothing is HTML); a value with a line break cannot
reach a header because the subject is one line of the rendered template with every
line break of its values replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from tldsec.notify.notices import Draft


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tldsec.notify", "templates"),
        autoescape=False,  # plain-text e-mail
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(draft: Draft, common: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) of ``draft``; ``common``: zone, site (the repository's URL)."""
    text = _environment().get_template(f"{draft.kind}.txt").render(**common, **draft.context)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"template {draft.kind}.txt does not start with 'Subject: '")
    subject = " ".join(head[len("Subject: ") :].split())
    return subject, body.strip() + "\n"
