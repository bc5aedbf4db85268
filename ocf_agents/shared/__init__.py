"""Parts a few agents share: the ip(8) wrapper, the local SIP check, the
astdb carried to a new active.  On the framework and the clients."""
