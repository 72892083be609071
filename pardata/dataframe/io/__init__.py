"""Readers and writers. Every reader is a ``Blockwise`` plan node without children."""
