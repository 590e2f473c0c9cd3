"""The errors a user of the registry can meet, kept in one place so callers can catch them by kind."""


class ImageError(ValueError):
    """The input could not be turned into an image we are willing to hash.

    A ValueError so that code which already guards against bad values keeps working; the message
    is written for the person who supplied the image, not for a Pillow developer.
    """


class HasherError(RuntimeError):
    """A hasher (usually a plugin) broke its contract or failed while computing.

    The message always names the hasher, so a user knows which package to blame.
    """


class ManifestError(ValueError):
    """A manifest (or the folders given for one) that cannot be used as it is: says which file and
    line, and why."""


class HashIndexError(ValueError):
    """An index that cannot be used as given: mixed identities, a corrupt file, a bad query."""
