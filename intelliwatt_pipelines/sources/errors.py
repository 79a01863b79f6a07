class ParseError(ValueError):
    """A vendor file that cannot be read as its format. The message is meant for a person."""
