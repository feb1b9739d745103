"""Capability taxonomies shipped as YAML data (see README, "Taxonomies")."""
