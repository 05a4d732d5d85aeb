"""The command lines (listener, export): they parse, check and wire; no protocol or state logic of their own."""
