"""A project named only by its settings (``FLEET_OBSERVABILITY["SERVICE_NAME"]``), served by gunicorn."""
