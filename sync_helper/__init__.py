"""Event-driven, role-aware file sync between the SIP-ACTIVE node and its peers.

The pieces, each in a module named for what it does:

- ``config``: the TOML configuration and its validation;
- ``paths``: include/exclude filters, safe paths, local listings;
- ``role``: whether this node holds the active role;
- ``debounce``: bursts of file events into one batch;
- ``watcher``: inotify through ``watchdog``, feeding the debouncer;
- ``rsync_argv``: argument lists for rsync over ssh and their output parsers;
- ``multiplex``: one shared ssh connection per peer (its root-only socket);
- ``ledger``: the version of each file this node and a peer last agreed on;
- ``health``: how the pushes to each peer are going (what the filesync agent
  publishes as node attributes); ``filelock``: the short lock both records take;
- ``planner``: pure decisions (send, move to backup, conflict, leave);
- ``syncer``: runs the plans against peers (push, pull, full resync);
- ``service``: the foreground loop that ``watch`` runs;
- ``prune``: removes this node's expired dated backup folders;
- ``authorize``: the ``authorized_keys`` line that confines the sync key on a
  receiver (rrsync);
- ``cli``: the click command line.

Nothing is overwritten or deleted on a receiver without a copy in a dated
backup folder there, and a receiver's file edited after the last sync is a
conflict that is reported and left alone unless forced.
"""
