"""The errors initpolicy raises: each prints as one clean, located message.

Every user-facing failure is an :class:`InitPolicyError`; the CLI prints ``str(err)``
to stderr and exits 2, never a traceback. Errors that point into a policy file carry
:class:`Diagnostic` objects rendered as ``file:line:col: message``, the offending
line, a caret under the column and, where it helps, a hint.

Torch-free: imported by the parser.
"""

from __future__ import annotations

from dataclasses import dataclass

#: What a rendered diagnostic shows for a character a terminal would act on rather than
#: show (an escape sequence can retitle a window, write the clipboard or hide text; a
#: carriage return overwrites the line; a bidi control or mark reorders it; a line or
#: paragraph separator breaks the line in an editor or a log viewer): a C0 control as its
#: Control Picture (ESC as U+241B), DEL as U+2421, a C1 or bidi control as U+FFFD. One
#: character for one, so the caret stays under its column. Tabs and line breaks are kept.
_SHOWN: dict[int, int] = {
    **{c: 0x2400 + c for c in range(0x20) if chr(c) not in "\t\n"},
    0x7F: 0x2421,
    **{
        c: 0xFFFD
        for c in (
            *range(0x80, 0xA0),  # C1 controls (CSI, OSC as one byte each)
            0x061C,  # ARABIC LETTER MARK
            0x200E,  # LEFT-TO-RIGHT MARK
            0x200F,  # RIGHT-TO-LEFT MARK
            0x2028,  # LINE SEPARATOR: a line break to an editor or a log viewer
            0x2029,  # PARAGRAPH SEPARATOR
            *range(0x202A, 0x202F),  # bidi embeddings and overrides
            *range(0x2066, 0x206A),  # bidi isolates
        )
    },
}


def printable(text: str) -> str:
    r"""``text`` safe to print on a terminal or into a CI log (see ``_SHOWN``).

    >>> printable("zeros()\x1b]0;title\x07 x\r")
    'zeros()␛]0;title␇ x␍'
    """
    return text.translate(_SHOWN)


@dataclass(frozen=True)
class Diagnostic:
    """One located problem in a policy (or model) source.

    >>> print(Diagnostic("a.pol", 1, 8, "unknown scheme 'kaiming'", "Linear -> kaiming()",
    ...                  hint="did you mean kaiming_normal?").render())
    a.pol:1:8: unknown scheme 'kaiming'
        Linear -> kaiming()
               ^
      hint: did you mean kaiming_normal?
    """

    file: str
    line: int | None
    column: int | None
    message: str
    source_line: str | None = None
    hint: str | None = None
    width: int = 1

    @property
    def location(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def render(self) -> str:
        out = [f"{self.location}: {self.message}"]
        if self.source_line is not None and self.line is not None:
            text = self.source_line.rstrip("\n")
            if len(text) > 200:  # keep a huge single line readable around the column
                col = (self.column or 1) - 1
                start = max(0, col - 80)
                text = ("..." if start else "") + text[start : start + 160] + "..."
                column = col - start + (3 if start else 0) + 1
            else:
                column = self.column or 1
            out.append("    " + text.expandtabs(1))
            if self.column is not None:
                out.append("    " + " " * (column - 1) + "^" * max(1, self.width))
        if self.hint:
            out.append(f"  hint: {self.hint}")
        # the file's name, the message and the line may all hold a policy's own characters
        return printable("\n".join(out))


class InitPolicyError(Exception):
    """Base of every error initpolicy reports to a user (exit code 2 in the CLI)."""


class PolicyError(InitPolicyError):
    """A policy failed to parse or validate. Holds every diagnostic found, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic("<policy>", None, None, diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)

    def __str__(self) -> str:
        return self.render()


class TargetError(InitPolicyError):
    """The model TARGET could not be found, imported or built, or rejected its inputs."""


class TraceError(InitPolicyError):
    """The model could not be traced by any means."""


class PlanError(InitPolicyError):
    """A policy cannot be applied to a model (checked before any tensor is touched).

    Like :class:`PolicyError` it may hold several diagnostics, one per offending
    (rule, parameter) pair.
    """

    def __init__(self, diagnostics: list[Diagnostic] | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic("<plan>", None, None, diagnostics)]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class UsageError(InitPolicyError):
    """A command-line or API argument is invalid."""


class PrintError(InitPolicyError, ValueError):
    """A generated rule cannot be written as policy text safely (a module name holding a
    double quote or a line break, a class name that is not an identifier): refused rather
    than written, so that a name never becomes syntax."""


class GainError(InitPolicyError, ValueError):
    """No gain is defined for an activation (``mixed``, ``softmax``, ``log_softmax``), or
    its arguments are unusable. The matcher turns it into a located plan error."""


class InitError(InitPolicyError, ValueError):
    """A scheme cannot write this tensor (shape or dtype). The applier checks the same rule
    first (:func:`initpolicy.catalog.schemes.shape_error`), so a user normally sees a plan error."""


class PeerError(InitPolicyError):
    """Another rank of a sharded apply failed (it raises its own error); this rank's
    writes were undone and it raises this, so no rank waits in a collective forever."""
