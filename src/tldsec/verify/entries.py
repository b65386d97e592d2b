"""Master-file entries (RFC 1035 5.1) as the reader needs them: comments dropped,
parenthesised entries joined into one line, quoted strings kept intact."""

from __future__ import annotations

from tldsec.errors import ZoneSyntaxError


class Joiner:
    """Turns lines with comments, parentheses or quotes into entries (RFC 1035 5.1)."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.start = 0
        self.depth = 0

    def feed(self, number: int, line: str) -> tuple[int, str] | None:
        """The complete entry this line ends, or None while parentheses stay open."""
        if not self.pending:
            self.start = number
        text = strip_comment(line)
        self.depth += count_outside_quotes(text)
        self.pending.append(text)
        if self.depth > 0:
            return None
        joined = " ".join(self.pending)
        self.pending = []
        self.depth = 0
        if not joined.strip():
            return None
        # A leading blank stays: it means "same owner as before".
        return self.start, drop_parentheses(joined)

    def finish(self) -> None:
        if self.pending:
            raise ZoneSyntaxError("", self.start, "unbalanced parenthesis")


def rest_after(line: str, rest: list[str]) -> str:
    """The raw text of the RDATA whose whitespace-split fields are ``rest``: quoted
    strings keep their inner blanks."""
    if not rest:
        return ""
    pos = line.rfind(rest[0])
    # The first RDATA field may also appear earlier in the line (as the owner, say):
    # find the occurrence after which the remaining text splits into exactly ``rest``.
    while pos > 0 and line[pos:].split() != rest:
        pos = line.rfind(rest[0], 0, pos)
    return line[pos:].strip() if pos >= 0 else " ".join(rest)


def drop_parentheses(text: str) -> str:
    """Grouping parentheses become blanks; those inside quoted strings stay."""
    if '"' not in text:
        return text.replace("(", " ").replace(")", " ")
    out = []
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch in "()":
            ch = " "
        out.append(ch)
    return "".join(out)


def count_outside_quotes(text: str) -> int:
    if '"' not in text:
        return text.count("(") - text.count(")")
    depth = 0
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
    return depth


def strip_comment(line: str) -> str:
    """Drop a ';' comment that is not inside quotes or escaped."""
    if ";" not in line:
        return line.rstrip("\n")
    out = []
    quoted = False
    escaped = False
    for ch in line:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            break
        out.append(ch)
    return "".join(out).rstrip("\n")
