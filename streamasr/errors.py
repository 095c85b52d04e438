"""The errors meant for the user, in a module that imports nothing heavy (the CLI catches them)."""


class AudioError(ValueError):
    """Audio that cannot be used, with a message meant for the user."""


class ModelError(ValueError):
    """A model folder that cannot be used, with a message meant for the user."""
