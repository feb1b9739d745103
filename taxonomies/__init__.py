"""Capability taxonomies shipped as YAML data (format: taxonomies/README.md). Reference: docs/annotate.md."""
