"""Taxonomy loading and validation: the paper's Table 6 and clear errors for malformed files."""

from __future__ import annotations

import copy

import pytest
import yaml

from llmdiff_eval.taxonomy import Taxonomy, TaxonomyError, load_taxonomy, validate_taxonomy

# The paper's Table 6 (arXiv 2509.18792, Appendix B.2): codes, names and classes, typed in from the paper.
PAPER_TABLE_6 = {
    "Safety & Content Moderation": [
        ("A.1", "Harmful Content Detection"),
        ("A.2", "Request Refusal Mechanisms"),
        ("A.3", "Jailbreak Detection"),
        ("A.4", "Sexual Content Filtering"),
        ("A.5", "Minor Protection"),
        ("A.6", "Stereotype & Bias Detection"),
    ],
    "Linguistic Capabilities": [
        ("B.7", "Multilingual Processing"),
        ("B.8", "Translation & Language Switching"),
        ("B.9", "Grammar & Style Analysis"),
    ],
    "Information Processing": [
        ("C.10", "Summarization & Condensing"),
        ("C.11", "Entity Recognition & Extraction"),
        ("C.12", "Factual Verification"),
        ("C.13", "Knowledge Boundary Recognition"),
    ],
    "User Interaction Management": [
        ("D.14", "Query Classification"),
        ("D.15", "Clarification Mechanisms"),
        ("D.16", "Instruction Following"),
        ("D.17", "Conversation Management"),
    ],
    "Format & Structure Control": [
        ("E.18", "Structured Output Generation"),
        ("E.19", "JSON & API Integration"),
        ("E.20", "Template Following"),
    ],
    "Error Handling & Quality Control": [
        ("F.21", "Self-Correction Mechanisms"),
        ("F.22", "Hallucination Detection"),
        ("F.23", "Truncation Awareness"),
    ],
    "Specialized Capabilities": [
        ("G.24", "Code Generation & Analysis"),
        ("G.25", "Professional Communication"),
        ("G.26", "Educational Explanation"),
        ("G.27", "Creative Generation"),
        ("G.28", "Role-Playing & Persona Adoption"),
        ("G.29", "Text Transformation"),
        ("G.30", "Model Self-Reference"),
    ],
}
# Category names used in the paper's Table 4 (fine-grained SimPO vs it changes).
PAPER_TABLE_4_NAMES = [
    "Sexual Content Filtering",
    "Template Following",
    "Instruction Following",
    "Multilingual Processing",
    "Factual Verification",
    "Model Self-Reference",
    "Query Classification",
    "Structured Output Generation",
    "Hallucination Detection",
    "Code Generation",
]


def test_paper_taxonomy_matches_table_6():
    taxonomy = load_taxonomy("paper")
    assert isinstance(taxonomy, Taxonomy)
    assert taxonomy.class_names == list(PAPER_TABLE_6)
    assert [c.code_letter for c in taxonomy.classes] == list("ABCDEFG")
    got = {
        name: [(c.code, c.name) for c in taxonomy.categories if c.class_name == name]
        for name in taxonomy.class_names
    }
    assert got == PAPER_TABLE_6
    assert len(taxonomy.categories) == 30
    assert taxonomy.by_code("B.7").name == "Multilingual Processing"
    assert taxonomy.class_of("G.30").name == "Specialized Capabilities"
    assert all(len(c.description.split()) >= 8 for c in taxonomy.categories)


def test_paper_table_4_names_resolve_through_names_or_aliases():
    taxonomy = load_taxonomy("paper")
    resolved = {name: taxonomy.by_name(name).code for name in PAPER_TABLE_4_NAMES}
    assert resolved["Code Generation"] == "G.24"
    assert resolved["Instruction Following"] == "D.16"
    with pytest.raises(KeyError, match="no category named"):
        taxonomy.by_name("Underwater Basket Weaving")


def test_by_code_unknown_lists_valid_codes():
    with pytest.raises(KeyError, match="valid codes: A.1, A.2"):
        load_taxonomy("paper").by_code("Z.99")


def test_descriptions_are_our_own_words():
    """No category description copies a sentence of the paper's Table 6 verbatim."""
    paper_sentences = [
        "Identifies requests for violence, weapons, extremist content, or illegal activities",
        "Recognizes when to decline inappropriate requests",
        "Identifies non-English languages in queries",
        "Produces programming code across multiple languages",
        "Describes the model's own nature and capabilities",
        "Processes and adheres to specific user instructions",
    ]
    text = " ".join(c.description for c in load_taxonomy("paper").categories)
    for sentence in paper_sentences:
        assert sentence not in text


def _minimal() -> dict:
    return {
        "name": "mini",
        "classes": [
            {"letter": "A", "name": "Safety", "description": "safe"},
            {"letter": "B", "name": "Language", "description": "lang"},
        ],
        "categories": [
            {"code": "A.1", "name": "Refusals", "class": "A", "description": "declines"},
            {"code": "B.1", "name": "German", "class": "Language", "description": "German text"},
        ],
    }


def test_minimal_taxonomy_loads_from_path(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(_minimal()))
    taxonomy = load_taxonomy(path)
    assert taxonomy.codes == ["A.1", "B.1"]
    assert taxonomy.by_code("B.1").class_name == "Language"  # class given by name
    assert load_taxonomy(str(path)).fingerprint == taxonomy.fingerprint


def _mutated(mutate) -> dict:
    data = copy.deepcopy(_minimal())
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["categories"].append(dict(d["categories"][0], name="Other")),
            "duplicate category code 'A.1'",
        ),
        (lambda d: d["categories"][1].pop("class"), "category has no 'class'"),
        (
            lambda d: d["categories"][1].update({"class": "Z"}),
            r"unknown class 'Z'; defined classes: A \(Safety\)",
        ),
        (lambda d: d["categories"].pop(1), r"class B \(Language\) has no categories"),
        (lambda d: d["categories"][0].update({"code": "A1"}), "bad code 'A1'"),
        (lambda d: d["categories"][0].update({"code": "a.1"}), "bad code 'a.1'"),
        (
            lambda d: d["categories"][0].update({"code": "B.2"}),
            "code letter 'B' does not match its class 'A'",
        ),
        (lambda d: d["categories"][0].pop("description"), "missing or empty field 'description'"),
        (lambda d: d["categories"][0].update({"name": "  "}), "missing or empty field 'name'"),
        (lambda d: d["classes"][0].pop("name"), r"classes\[0\]: missing or empty field 'name'"),
        (lambda d: d["classes"][1].update({"letter": "A"}), "duplicate class 'A'"),
        (lambda d: d["classes"][0].update({"letter": "AB"}), "must be one capital letter"),
        (lambda d: d["categories"][0].update({"descripton": "typo"}), r"unknown field\(s\) \['descripton'\]"),
        (lambda d: d["categories"][1].update({"name": "refusals"}), "duplicate category name"),
        (lambda d: d["categories"][0].update({"examples": "not a list"}), "'examples' must be a list"),
        (lambda d: d.pop("categories"), "'categories' must be a non-empty list"),
        (lambda d: d.update({"classes": []}), "'classes' must be a non-empty list"),
        (lambda d: d.pop("name"), "missing or empty field 'name'"),
    ],
)
def test_validator_errors_are_specific(mutate, message):
    with pytest.raises(TaxonomyError, match=message):
        validate_taxonomy(_mutated(mutate))


def test_errors_name_the_file_and_entry(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_mutated(lambda d: d["categories"][1].update({"class": "Q"}))))
    with pytest.raises(TaxonomyError, match=r"bad.yaml: categories\[1\] \(B.1\): unknown class 'Q'"):
        load_taxonomy(path)


def test_unknown_name_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(TaxonomyError, match="unknown taxonomy 'nope'; shipped taxonomies: .*paper"):
        load_taxonomy("nope")
    with pytest.raises(TaxonomyError, match="not found"):
        load_taxonomy(tmp_path / "missing.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\nclasses: [\n")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(bad)
    not_mapping = tmp_path / "list.yaml"
    not_mapping.write_text("- a\n- b\n")
    with pytest.raises(TaxonomyError, match="expected a mapping"):
        load_taxonomy(not_mapping)


def test_fingerprint_changes_with_content_only():
    base = validate_taxonomy(_minimal())
    same = validate_taxonomy(_minimal())
    changed = validate_taxonomy(_mutated(lambda d: d["categories"][0].update({"description": "other words"})))
    assert base.fingerprint == same.fingerprint
    assert base.fingerprint != changed.fingerprint


def test_prompt_text_lists_every_code_under_its_class():
    text = load_taxonomy("paper").to_prompt_text()
    lines = text.splitlines()
    assert lines[0].startswith("A. Safety & Content Moderation:")
    assert sum(line.startswith("  ") for line in lines) == 30
    assert lines.index(
        "  B.7 Multilingual Processing: " + load_taxonomy("paper").by_code("B.7").description
    ) > lines.index(next(line for line in lines if line.startswith("B. Linguistic Capabilities")))
