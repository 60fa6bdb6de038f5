"""Plate events from ANPR cameras that read plates themselves (Hikvision
ISAPI and Dahua ITSAPI pushes, FTP picture uploads)."""
