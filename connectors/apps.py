from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing a kind registers it; the registry is what the contract suite walks.
        from connectors import firestore, hubitat, roborock, stripe  # noqa: F401
        from connectors.firestore import connector as _firestore  # noqa: F401
        from connectors.firestore import writes as _firestore_pilot  # noqa: F401
        from connectors.hubitat import connector as _hubitat  # noqa: F401
        from connectors.roborock import connector as _roborock  # noqa: F401
        from connectors.sdk.redaction import install_http_log_redaction
        from connectors.stripe import connector as _stripe  # noqa: F401

        install_http_log_redaction()
