"""Built-in extension: AUTOMATIC1111's X/Y/Z plot as a selectable script (see README.md)."""
