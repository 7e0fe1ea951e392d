"""Case report forms: entries of the protocol's instruments, their lifecycle and registry."""
