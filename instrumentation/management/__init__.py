"""``manage.py fleetobs``: the operations that need the service's own settings.

``commands/fleetobs.py`` parses and dispatches; :mod:`.settings_report` reports the effective
configuration with its secrets masked, :mod:`.check_report` runs this app's system checks and
explains each finding. Elasticsearch and Kibana setup reuse :mod:`instrumentation.logging.cli`.
"""
