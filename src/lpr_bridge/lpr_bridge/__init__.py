"""Bridge node: store-and-forward of journal events to a central server over Socket.IO."""
