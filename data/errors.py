"""The one exception the data layer raises: a message a person can act on."""


class DataError(ValueError):
    """Data could not be found, fetched, verified or accepted; the message says why and how to fix it."""
