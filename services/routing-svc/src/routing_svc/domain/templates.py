"""Message templates (Template Lookup app): rendering a template and matching plain text
against the approved templates of an enterprise and channel.

A template's text holds placeholders `{#name#}`; each matches a non-empty run of text. Every
template is compiled once, when the view takes it, to a regex anchored at both ends, and the
templates of one (enterprise, channel) are indexed by their fixed start and fixed end (dicts
keyed by up to 8 characters), so a send tests only the templates whose fixed start and end fit
the text, cheapest test first (length, start, end, longest fixed piece, then the regex).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from parley_shared.events import PLACEHOLDER_PATTERN

PLACEHOLDER = re.compile(PLACEHOLDER_PATTERN)
MAX_TEXT = 4096


class TemplateProblem(ValueError):
    """A template send the template refuses; `loc` is the field at fault."""

    def __init__(self, detail: str, loc: list[str | int]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.loc = loc


@dataclass(frozen=True, slots=True)
class Template:
    """An approved template, compiled."""

    id: str
    enterprise_id: str
    channel: str
    text: str
    regulatory_template_id: str | None
    literals: tuple[str, ...]  # the fixed text around the placeholders (len = names + 1)
    names: tuple[str, ...]  # placeholder names in order of appearance (may repeat)
    pattern: re.Pattern[str]
    anchor: str  # its longest literal: a text without it cannot match (a cheap first test)
    min_length: int  # the fixed text plus one character per placeholder
    suffix: str  # the fixed text after the last placeholder ("" when it ends with one)

    @classmethod
    def compile(
        cls,
        id_: str,
        enterprise_id: str,
        channel: str,
        text: str,
        regulatory_template_id: str | None = None,
    ) -> Template:
        """A template with its regex: literals escaped, each placeholder a lazy `(.+?)`."""
        parts = PLACEHOLDER.split(text)
        literals, names = tuple(parts[0::2]), tuple(parts[1::2])
        body = "(.+?)".join(re.escape(literal) for literal in literals)
        return cls(
            id_,
            enterprise_id,
            channel,
            text,
            regulatory_template_id,
            literals,
            names,
            re.compile(body, re.DOTALL),
            max(literals, key=len),
            sum(len(literal) for literal in literals) + len(names),
            literals[-1] if names else "",
        )

    @property
    def fixed_length(self) -> int:
        """How many characters of the template are fixed (its specificity)."""
        return sum(len(literal) for literal in self.literals)

    def render(self, params: Mapping[str, str] | Sequence[str]) -> str:
        """The text with each placeholder replaced: by name (a dict naming every placeholder
        exactly) or by position (a list, one value per placeholder, for DLT-style `{#var#}`)."""
        loc: list[str | int] = ["content", "template", "params"]
        if isinstance(params, Mapping):
            wanted = set(self.names)
            missing, unknown = sorted(wanted - set(params)), sorted(set(params) - wanted)
            if missing or unknown:
                detail = "params must name every placeholder exactly"
                if missing:
                    detail += "; missing: " + ", ".join(missing)
                if unknown:
                    detail += "; unknown: " + ", ".join(unknown)
                raise TemplateProblem(detail, loc)
            values = [params[name] for name in self.names]
        else:
            values = list(params)
            if len(values) != len(self.names):
                detail = f"the template has {len(self.names)} placeholders, params {len(values)}"
                raise TemplateProblem(detail, loc)
        for value in values:
            if not value:
                raise TemplateProblem("a placeholder value must not be empty", loc)
        out = [self.literals[0]]
        for value, literal in zip(values, self.literals[1:], strict=True):
            out.append(value)
            out.append(literal)
        text = "".join(out)
        if len(text) > MAX_TEXT:
            raise TemplateProblem(f"the rendered text is longer than {MAX_TEXT}", loc)
        return text

    def matches(self, text: str) -> bool:
        """Whether `text` is this template with each placeholder filled by non-empty text."""
        if len(text) < self.min_length or self.anchor not in text:
            return False
        return self.pattern.fullmatch(text) is not None


KEY = 8
"""Fixed starts (ends) at least this long are bucketed by their first (last) KEY characters."""


class _Ends:
    """Templates by a fixed string (a start, or a reversed end): `find(text)` answers those
    whose string may begin `text` (exact for short strings, by the first KEY characters for
    long ones; the caller checks the whole string)."""

    __slots__ = ("_long", "_short", "_short_lengths")

    def __init__(self) -> None:
        self._long: dict[str, list[int]] = {}
        self._short: dict[str, list[int]] = {}
        self._short_lengths: tuple[int, ...] = ()

    def add(self, key: str, index: int) -> None:
        if len(key) >= KEY:
            self._long.setdefault(key[:KEY], []).append(index)
        else:
            self._short.setdefault(key, []).append(index)
            self._short_lengths = tuple(sorted({len(k) for k in self._short}))

    def find(self, text: str) -> set[int]:
        found: set[int] = set()
        short = self._short
        for length in self._short_lengths:
            ids = short.get(text[:length])
            if ids is not None:
                found.update(ids)
        ids = self._long.get(text[:KEY])
        if ids is not None:
            found.update(ids)
        return found


@dataclass
class TemplateIndex:
    """The approved templates of one (enterprise, channel), most specific first."""

    templates: list[Template] = field(default_factory=list)
    _prefixes: _Ends = field(default_factory=_Ends)
    _suffixes: _Ends = field(default_factory=_Ends)

    @classmethod
    def of(cls, templates: Iterable[Template]) -> TemplateIndex:
        """An index over `templates` (ordered by fixed length, then id)."""
        ordered = sorted(templates, key=lambda t: (-t.fixed_length, t.id))
        index = cls(ordered)
        for position, template in enumerate(ordered):
            index._prefixes.add(template.literals[0], position)
            index._suffixes.add(template.suffix[::-1], position)
        return index

    def match(self, text: str) -> Template | None:
        """The most specific template `text` is an instance of, or None."""
        candidates = self._prefixes.find(text)
        if not candidates:
            return None
        candidates &= self._suffixes.find(text[::-1])
        size = len(text)
        templates = self.templates
        for position in sorted(candidates):
            template = templates[position]
            if (
                size >= template.min_length
                and text.startswith(template.literals[0])
                and text.endswith(template.suffix)
                and template.anchor in text
                and template.pattern.fullmatch(text) is not None
            ):
                return template
        return None

    def __len__(self) -> int:
        """How many templates it holds."""
        return len(self.templates)
