"""How a file name is shown: on a line a person reads, and in JSON and on the HTML page.

    line_text(name)                  # control characters as escapes: a name cannot split a line or drive the terminal
    typed_shown(message, words)      # the same, for the words a user typed wherever a message quotes them
    as_typed(text)                   # undecodable name bytes as \\xff, as a shell takes them back (stderr's lines)
    utf8_text(name) / utf8_names(v)  # bytes that are not UTF-8 as U+FFFD: JSON and pages every reader takes

A name on disk is bytes; Python hands the ones that are not UTF-8 over as lone surrogates, which no
UTF-8 writer takes. Each place a name is shown picks the rule for its reader here, and only here.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interp_cli.files import PathLike


def utf8_text(name: PathLike | str) -> str:
    """A file name as text every UTF-8 reader takes: bytes of the name that are not UTF-8 become U+FFFD.

    Python decodes such bytes as lone surrogates ("in\\xff.png" is 'in\\udcff.png'), which a page cannot be
    encoded with and which json.dumps writes as "\\udcff", an escape strict JSON parsers (Go's, Rust's serde)
    refuse. This is the one rule for showing names in JSON and on the HTML page: the name stays readable,
    only the undecodable bytes are lost (to open the file, use the name you gave). A name that is valid
    UTF-8 is returned unchanged.
    """
    text = os.fspath(name)
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    # Back to the name's bytes, as os.fsencode on a UTF-8 system; a surrogate no undecodable byte made (a Python
    # caller's '\ud800', not the file system's) is U+FFFD first: it made each surrogate of the name a '?'.
    raw = _NOT_A_BYTE.sub("\ufffd", text).encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "replace")


_NOT_A_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")  # the surrogates surrogateescape did not make


_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)} | {9: "\\t", 10: "\\n", 13: "\\r"}
# A name's bytes that are not UTF-8 reach Python as lone surrogates (b"\\xff" is "\\udcff").
_UNDECODED = re.compile("[\udc80-\udcff]")


def as_typed(text: str) -> str:
    """`text` with each undecodable name byte as `\\xff`, the byte itself, as bash's $'in\\xff.png' takes
    it back and `ls -b` shows it (stderr's own backslashreplace would print "\\udcff", which no shell takes).
    The stderr stream of the CLI writes every line through this."""
    return _UNDECODED.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", text)


def line_text(name: PathLike | str) -> str:
    """A file name for a line a person reads: its control characters as escapes (`new\\nline.png`), so a
    line break in a name does not split the line, nor an escape sequence in it drive the terminal (its
    undecodable bytes become `\\xff` on the way out, `as_typed`)."""
    return os.fspath(name).translate(_CONTROL)


def typed_shown(message: str, words) -> str:
    """`message` with each of the user's typed `words` (a command line's arguments) that holds a control character
    written as `line_text` writes it, wherever the message quotes it (`-o $'o\\n.mp4'` is said as `o\\n.mp4`).

    A message is made into one line afterwards, which turns a name's line break into a space and leaves its escape
    sequences to the terminal (or to click, which drops them off a terminal): the name then reads as another file's.
    An option's value glued to it (`--output=NAME`, `-oNAME`) counts as a word too."""
    found = set()
    for word in words:
        found.update((word, word.split("=", 1)[-1], word[2:] if word[:1] == "-" and word[1:2] != "-" else word))
    for word in sorted((w for w in found if w != line_text(w)), key=len, reverse=True):  # the longest first
        message = message.replace(word, line_text(word))
    return message


def utf8_names(value):
    """`value` (a summary: dicts, lists, strings, numbers) with every string, keys included, as `utf8_text`."""
    if isinstance(value, str):
        return utf8_text(value)
    if isinstance(value, dict):
        return {utf8_names(key): utf8_names(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [utf8_names(item) for item in value]
    return value
