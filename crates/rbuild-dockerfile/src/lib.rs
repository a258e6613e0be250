//! Dockerfile text to AST and typed instructions, with BuildKit-compatible parsing and shell-word expansion
