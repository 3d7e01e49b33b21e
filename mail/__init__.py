"""Mail that is never lost: an outbox table written with the change that causes a mail, and a
sender that delivers it over SMTP with retries."""
