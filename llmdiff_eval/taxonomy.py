"""Capability taxonomies: classes and categories that latents are sorted into, loaded from YAML data files.

A taxonomy has a few *classes* (one capital letter each, e.g. ``A`` = "Safety & Content Moderation") and
*categories* with codes ``<class letter>.<number>`` (e.g. ``B.7`` = "Multilingual Processing"). The paper's taxonomy
ships as ``taxonomies/paper.yaml`` (``load_taxonomy("paper")``); the file format is documented in
``taxonomies/README.md`` and any file in that format can be passed as a path.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmdiff_eval.errors import LlmdiffError
from llmdiff_eval.utils import stable_hash

CODE_PATTERN = re.compile(r"^([A-Z])\.([1-9][0-9]*)$")
CLASS_LETTER_PATTERN = re.compile(r"^[A-Z]$")
_TOP_LEVEL_KEYS = {"name", "version", "description", "source", "classes", "categories"}
_CLASS_KEYS = {"letter", "name", "description"}
_CATEGORY_KEYS = {"code", "name", "class", "description", "aliases", "examples"}


class TaxonomyError(LlmdiffError, ValueError):
    """A taxonomy file or dict is malformed; the message says what to fix."""


class UnknownCategory(LlmdiffError, KeyError):
    """A category code or name that the taxonomy does not have (the message lists the valid ones)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class TaxonomyClass:
    """A top-level capability class, e.g. ``TaxonomyClass("Linguistic Capabilities", "B", "...")``."""

    name: str
    code_letter: str
    description: str


@dataclass(frozen=True)
class Category:
    """A fine-grained category, e.g. ``Category("B.7", "Multilingual Processing", "Linguistic Capabilities", ...)``.

    ``aliases`` are other names the same category goes by (the paper's Table 4 calls G.24 "Code Generation");
    ``examples`` are short generic phrases typical of text in this category (used by the offline annotator).
    """

    code: str
    name: str
    class_name: str
    description: str
    aliases: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()

    @property
    def class_letter(self) -> str:
        return self.code.split(".", 1)[0]


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy. Categories keep file order; codes and names are unique."""

    name: str
    classes: list[TaxonomyClass]
    categories: list[Category]
    description: str = ""
    source: str = ""
    version: int = 1
    _by_code: dict[str, Category] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_code.update({category.code: category for category in self.categories})

    @property
    def class_names(self) -> list[str]:
        return [taxonomy_class.name for taxonomy_class in self.classes]

    @property
    def codes(self) -> list[str]:
        return [category.code for category in self.categories]

    def by_code(self, code: str) -> Category:
        """The category with this code; ``KeyError`` listing the valid codes if there is none."""
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownCategory(
                f"no category {code!r} in taxonomy {self.name!r}; valid codes: {', '.join(self.codes)}"
            ) from None

    def by_name(self, name: str) -> Category:
        """The category with this name or alias (case-insensitive)."""
        wanted = name.strip().casefold()
        for category in self.categories:
            if wanted in {category.name.casefold(), *(alias.casefold() for alias in category.aliases)}:
                return category
        raise UnknownCategory(f"no category named {name!r} in taxonomy {self.name!r}")

    def class_of(self, code: str) -> TaxonomyClass:
        """The class that category ``code`` belongs to."""
        letter = self.by_code(code).class_letter
        return next(taxonomy_class for taxonomy_class in self.classes if taxonomy_class.code_letter == letter)

    @property
    def fingerprint(self) -> str:
        """Hash of everything that can change an annotation (codes, names, classes, descriptions, examples)."""
        return stable_hash(
            {
                "classes": [(c.code_letter, c.name, c.description) for c in self.classes],
                "categories": [
                    (c.code, c.name, c.class_name, c.description, c.examples) for c in self.categories
                ],
            }
        )

    def to_prompt_text(self) -> str:
        """The taxonomy as plain text for an LLM prompt: one class heading, then ``code — name: description`` lines."""
        lines = []
        for taxonomy_class in self.classes:
            lines.append(f"{taxonomy_class.code_letter}. {taxonomy_class.name}: {taxonomy_class.description}")
            for category in self.categories:
                if category.class_letter == taxonomy_class.code_letter:
                    lines.append(f"  {category.code} {category.name}: {category.description}")
        return "\n".join(lines)


def _require_text(entry: dict, key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TaxonomyError(f"{where}: missing or empty field {key!r} (a non-empty string is required)")
    return value.strip()


def _string_list(entry: dict, key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise TaxonomyError(f"{where}: {key!r} must be a list of non-empty strings")
    return tuple(item.strip() for item in value)


def _check_keys(entry: Any, allowed: set[str], where: str) -> None:
    if not isinstance(entry, dict):
        raise TaxonomyError(f"{where}: expected a mapping (key: value lines), got {type(entry).__name__}")
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise TaxonomyError(f"{where}: unknown field(s) {unknown}; allowed fields: {sorted(allowed)}")


def validate_taxonomy(data: Any, source: str = "taxonomy") -> Taxonomy:
    """Check a taxonomy dict (as parsed from YAML) and build a :class:`Taxonomy`.

    Raises :class:`TaxonomyError` naming the offending entry for: missing fields, unknown fields, bad class letters
    or category codes, duplicate letters / codes / names, categories whose class is missing or unknown, codes whose
    letter disagrees with the category's class, and classes without categories.
    """
    _check_keys(data, _TOP_LEVEL_KEYS, source)
    name = _require_text(data, "name", source)
    raw_classes = data.get("classes")
    raw_categories = data.get("categories")
    if not isinstance(raw_classes, list) or not raw_classes:
        raise TaxonomyError(f"{source}: 'classes' must be a non-empty list of {{letter, name, description}}")
    if not isinstance(raw_categories, list) or not raw_categories:
        raise TaxonomyError(
            f"{source}: 'categories' must be a non-empty list of {{code, name, class, description}}"
        )
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise TaxonomyError(f"{source}: 'version' must be an integer, got {version!r}")

    classes: list[TaxonomyClass] = []
    class_by_key: dict[str, TaxonomyClass] = {}
    for index, entry in enumerate(raw_classes):
        where = f"{source}: classes[{index}]"
        _check_keys(entry, _CLASS_KEYS, where)
        letter = _require_text(entry, "letter", where)
        if not CLASS_LETTER_PATTERN.match(letter):
            raise TaxonomyError(f"{where}: class letter {letter!r} must be one capital letter A-Z")
        class_name = _require_text(entry, "name", where)
        taxonomy_class = TaxonomyClass(class_name, letter, _require_text(entry, "description", where))
        for key in (letter, class_name.casefold()):
            if key in class_by_key:
                raise TaxonomyError(
                    f"{where}: duplicate class {key!r} (class letters and names must be unique)"
                )
            class_by_key[key] = taxonomy_class
        classes.append(taxonomy_class)

    categories: list[Category] = []
    seen_codes: set[str] = set()
    seen_names: set[str] = set()
    for index, entry in enumerate(raw_categories):
        where = f"{source}: categories[{index}]"
        _check_keys(entry, _CATEGORY_KEYS, where)
        code = _require_text(entry, "code", where)
        where = f"{where} ({code})"
        match = CODE_PATTERN.match(code)
        if not match:
            raise TaxonomyError(
                f"{where}: bad code {code!r}; codes look like 'B.7' (class letter, dot, number >= 1)"
            )
        if code in seen_codes:
            raise TaxonomyError(f"{where}: duplicate category code {code!r}")
        seen_codes.add(code)
        category_name = _require_text(entry, "name", where)
        if category_name.casefold() in seen_names:
            raise TaxonomyError(f"{where}: duplicate category name {category_name!r}")
        seen_names.add(category_name.casefold())
        class_key = entry.get("class")
        if class_key is None or (isinstance(class_key, str) and not class_key.strip()):
            raise TaxonomyError(
                f"{where}: category has no 'class' (give the class letter, e.g. class: {match[1]})"
            )
        class_key = str(class_key).strip()
        taxonomy_class = class_by_key.get(class_key) or class_by_key.get(class_key.casefold())
        if taxonomy_class is None:
            known = ", ".join(f"{c.code_letter} ({c.name})" for c in classes)
            raise TaxonomyError(f"{where}: unknown class {class_key!r}; defined classes: {known}")
        if match[1] != taxonomy_class.code_letter:
            raise TaxonomyError(
                f"{where}: code letter {match[1]!r} does not match its class {taxonomy_class.code_letter!r} "
                f"({taxonomy_class.name}); codes start with their class letter"
            )
        categories.append(
            Category(
                code=code,
                name=category_name,
                class_name=taxonomy_class.name,
                description=" ".join(_require_text(entry, "description", where).split()),
                aliases=_string_list(entry, "aliases", where),
                examples=_string_list(entry, "examples", where),
            )
        )

    used_letters = {category.class_letter for category in categories}
    for taxonomy_class in classes:
        if taxonomy_class.code_letter not in used_letters:
            raise TaxonomyError(
                f"{source}: class {taxonomy_class.code_letter} ({taxonomy_class.name}) has no categories; "
                "add at least one category with this class or remove the class"
            )
    return Taxonomy(
        name=name,
        classes=classes,
        categories=categories,
        description=" ".join(str(data.get("description", "")).split()),
        source=str(data.get("source", "")),
        version=version,
    )


def builtin_taxonomies() -> list[str]:
    """Names of the taxonomies shipped with the package (``paper``, ...)."""
    root = importlib.resources.files("llmdiff_eval.taxonomies")
    return sorted(item.name[: -len(".yaml")] for item in root.iterdir() if item.name.endswith(".yaml"))


def load_taxonomy(name_or_path: str | os.PathLike | Taxonomy = "paper") -> Taxonomy:
    """Load a shipped taxonomy by name (``"paper"``) or any taxonomy YAML file by path; validate it.

    A :class:`Taxonomy` passed in is returned unchanged.
    """
    if isinstance(name_or_path, Taxonomy):
        return name_or_path
    text_name = str(name_or_path)
    is_path = (
        isinstance(name_or_path, os.PathLike) or text_name.endswith((".yaml", ".yml")) or os.sep in text_name
    )
    if is_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise TaxonomyError(
                f"taxonomy file {path} not found; pass a YAML path or one of {builtin_taxonomies()}"
            )
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        resource = importlib.resources.files("llmdiff_eval.taxonomies") / f"{text_name}.yaml"
        if not resource.is_file():
            raise TaxonomyError(
                f"unknown taxonomy {text_name!r}; shipped taxonomies: {builtin_taxonomies()} (or pass a YAML path)"
            )
        text, source = resource.read_text(encoding="utf-8"), f"{text_name}.yaml"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TaxonomyError(f"{source}: not valid YAML: {error}") from None
    return validate_taxonomy(data, source=source)
