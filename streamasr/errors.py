"""The errors meant for the user, in a module that imports nothing heavy (the CLI catches them)."""


class AudioError(ValueError):
    """Audio that cannot be used, with a message meant for the user."""


class ModelError(ValueError):
    """A model folder that cannot be used, with a message meant for the user."""


class DeviceError(RuntimeError):
    """An audio device that cannot be opened (no PortAudio, no such device, none at all), with a message meant
    for the user that names the input devices there are. Not an OSError, so that a command that also talks
    to a server tells the two apart."""
