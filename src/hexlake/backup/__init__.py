"""Online backups of the data dir (``hexlake backup``): see ``hexlake.backup.archive``."""
