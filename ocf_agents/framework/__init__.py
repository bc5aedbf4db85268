"""The agents' framework: the OCF contract (``ocf``), its errors and
exit codes, ``--help``, a daemon's pid, death and crash watcher, promotion
scores and published node attributes, reminders.  Imports only
sipha_runtime."""
