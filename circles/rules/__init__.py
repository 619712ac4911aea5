"""The shipped rulebook profiles (YAML), package data."""
