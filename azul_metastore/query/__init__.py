"""The search query language: grammar, parser, AST and autocomplete."""
