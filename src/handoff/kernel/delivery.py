"""Notification channels. Each delivers one outbox payload or raises a DeliveryError."""


class DeliveryError(Exception):
    """Delivery failed; `permanent` ones go straight to the dead letters, others are retried."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
