"""Errors the user can read. Every message says what was wrong and, where it helps, what to do."""


class LdmError(Exception):
    """Base class: its message is shown to the user as is (no traceback)."""


class CheckpointError(LdmError):
    """A checkpoint or VAE file that cannot be read, or whose family is unknown."""


class InputError(LdmError):
    """A request the model cannot do: bad sizes, bad mask, unreadable image, wrong mode."""


class ResourceError(LdmError):
    """A bundled resource (tokenizer, demo model) is missing or damaged."""


class OutOfMemory(LdmError):
    """The device ran out of memory: the message suggests what to make smaller."""
