"""kvctl: the kvstore command line (click). No logic of its own: it calls client, check and chaos."""
