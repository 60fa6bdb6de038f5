"""Central lpr server: Socket.IO ingest from edge bridges, a store, a small REST API."""
