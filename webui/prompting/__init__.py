"""Prompt handling: A1111 prompt syntax, token counting, SDXL prompt encoding, styles."""
